"""Integral Pose (Sun et al. 2018, the paper's [57]): heatmaps turned into coordinates by soft-argmax.

Backbone -> SimpleBaseline's deconv head -> K heatmaps at 1/4 of the input -> softmax over each heatmap's pixels
-> mu_hat = the expected pixel position, in normalized crop coordinates. Trained on the coordinates, with any
loss of ``rlelab.losses``: with L1 it is Integral Pose as Sun et al. train it (Tables 2a, 5); with RLE it is the
paper's "integral with RLE" (Table 2b, section 4): "soft-argmax to produce coordinates mu_hat and an FC layer to
produce sigma_hat", the FC on the backbone's pooled features. For Human3.6M (D = 3) the heatmaps are volumes
with a depth axis, as Sun et al.'s (Tables 8, 9: 34.3M parameters, 14.1 GFLOPs, 49.2 mm).
"""
import math

import torch
from torch import nn

from ..flows import make_flow
from ..losses import sigma_hat_from_logits
from .heatmap import deconv_head, heatmaps_of
from .regression import regression_loss


DEPTH_BINS = 64  # Sun et al.'s volumes for Human3.6M: 64 depth bins over the depth target's range


def soft_argmax(heatmaps, input_size):
    """(B, K, h, w) heatmaps -> (B, K, 2) expected (u, v) in [-0.5, 0.5] crop coordinates under each heatmap's
    softmax; (B, K, Z, h, w) volumes -> (B, K, 3), the depth the expected bin centre of Z bins over [-0.5, 0.5]
    (the task's depth unit, Human3.6M's 2000 mm). Cell i of w covers input pixels whose centres average to
    (i + 0.5) W / w - 0.5, and a pixel x is at u = x / W - 0.5 (``models.unflip``'s convention), so the flip test
    sees a mirrored heatmap mirrored exactly."""
    b, k = heatmaps.shape[:2]
    p = heatmaps.float().reshape(b, k, -1).softmax(-1).reshape(heatmaps.shape)
    if p.dim() == 4:
        p = p[:, :, None]  # one depth bin
    z, h, w = p.shape[2:]
    in_h, in_w = input_size
    centres = lambda n: (torch.arange(n, device=p.device, dtype=p.dtype) + 0.5) / n - 0.5
    u = centres(w) - 0.5 / in_w
    v = centres(h) - 0.5 / in_h
    out = [(p.sum((2, 3)) * u).sum(-1), (p.sum((2, 4)) * v).sum(-1)]
    if heatmaps.dim() == 5:
        out.append((p.sum((3, 4)) * centres(z)).sum(-1))
    return torch.stack(out, -1)


class IntegralModel(nn.Module):
    """2-D: K heatmaps; 3-D (``dim=3``, Sun et al.'s volumetric heatmaps): K x DEPTH_BINS maps, each joint's
    volume soft-argmaxed to (u, v, depth). ``flow2d``: a second flow over (u, v) for 2-D-only people (mix_2d), as
    ``RegressionModel``'s."""

    stride = 4

    def __init__(self, features, channels, num_joints=17, dim=2, flow=False, sigma_init=0.5, flow2d=False,
                 deconv_channels=256):
        super().__init__()
        self.features = features
        self.num_joints, self.dim = num_joints, dim
        self.depth_bins = DEPTH_BINS if dim == 3 else 1
        self.deconv, self.final = deconv_head(channels, num_joints * self.depth_bins, deconv_channels,
                                              getattr(features, "stride", 32))
        self.sigma_fc = nn.Linear(channels, num_joints * dim)  # sigma_hat's FC on the pooled features (section 4)
        nn.init.xavier_uniform_(self.sigma_fc.weight, gain=0.01)
        nn.init.constant_(self.sigma_fc.bias, math.log(sigma_init / (1 - sigma_init)))
        self.flow = make_flow(dim) if flow else None
        self.flow2d = make_flow(2) if flow and flow2d else None

    def forward(self, images):
        features = self.features(images)
        heatmaps = heatmaps_of(self.deconv, self.final, features, images.shape[-2:], self.stride)
        if self.dim == 3:
            heatmaps = heatmaps.view(len(heatmaps), self.num_joints, self.depth_bins, *heatmaps.shape[-2:])
        logits = self.sigma_fc(features.mean((2, 3))).view(-1, self.num_joints, self.dim)
        return {"mu_hat": soft_argmax(heatmaps, images.shape[-2:]), "sigma_hat": sigma_hat_from_logits(logits),
                "heatmaps": heatmaps}

    def per_joint_loss(self, out, batch, cfg):
        """(per-joint loss (B, K), per-joint weight (B, K)): ``cfg.loss`` on the soft-argmax's coordinates."""
        return regression_loss(out, batch, cfg, self.flow, self.flow2d), batch["target_weight"]
