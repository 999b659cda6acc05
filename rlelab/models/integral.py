"""Integral Pose (Sun et al. 2018, the paper's [57]): heatmaps turned into coordinates by soft-argmax.

Backbone -> SimpleBaseline's deconv head -> K heatmaps at 1/4 of the input -> softmax over each heatmap's pixels
-> mu_hat = the expected pixel position, in normalized crop coordinates. Trained on the coordinates, with any
loss of ``rlelab.losses``: with L1 it is Integral Pose as Sun et al. train it (Tables 2a, 5); with RLE it is the
paper's "integral with RLE" (Table 2b, section 4): "soft-argmax to produce coordinates mu_hat and an FC layer to
produce sigma_hat", the FC on the backbone's pooled features.
"""
import math

import torch
from torch import nn

from ..flows import make_flow
from ..losses import sigma_hat_from_logits
from .heatmap import deconv_head, heatmaps_of
from .regression import regression_loss


def soft_argmax(heatmaps, input_size):
    """(B, K, h, w) heatmaps -> (B, K, 2) expected (u, v) in [-0.5, 0.5] crop coordinates under each heatmap's
    softmax. Cell i of w covers input pixels whose centres average to (i + 0.5) W / w - 0.5, and a pixel x is at
    u = x / W - 0.5 (``models.unflip``'s convention), so the flip test sees a mirrored heatmap mirrored exactly."""
    b, k, h, w = heatmaps.shape
    p = heatmaps.float().reshape(b, k, -1).softmax(-1).reshape(b, k, h, w)
    in_h, in_w = input_size
    u = (torch.arange(w, device=p.device, dtype=p.dtype) + 0.5) / w - 0.5 / in_w - 0.5
    v = (torch.arange(h, device=p.device, dtype=p.dtype) + 0.5) / h - 0.5 / in_h - 0.5
    return torch.stack([(p.sum(2) * u).sum(-1), (p.sum(3) * v).sum(-1)], -1)


class IntegralModel(nn.Module):
    stride = 4

    def __init__(self, features, channels, num_joints=17, flow=False, sigma_init=0.5, deconv_channels=256):
        super().__init__()
        self.features = features
        self.num_joints = num_joints
        self.deconv, self.final = deconv_head(channels, num_joints, deconv_channels, getattr(features, "stride", 32))
        self.sigma_fc = nn.Linear(channels, num_joints * 2)  # sigma_hat's FC on the pooled features (section 4)
        nn.init.xavier_uniform_(self.sigma_fc.weight, gain=0.01)
        nn.init.constant_(self.sigma_fc.bias, math.log(sigma_init / (1 - sigma_init)))
        self.flow = make_flow(2) if flow else None

    def forward(self, images):
        features = self.features(images)
        heatmaps = heatmaps_of(self.deconv, self.final, features, images.shape[-2:], self.stride)
        logits = self.sigma_fc(features.mean((2, 3))).view(-1, self.num_joints, 2)
        return {"mu_hat": soft_argmax(heatmaps, images.shape[-2:]), "sigma_hat": sigma_hat_from_logits(logits),
                "heatmaps": heatmaps}

    def per_joint_loss(self, out, batch, cfg):
        """(per-joint loss (B, K), per-joint weight (B, K)): ``cfg.loss`` on the soft-argmax's coordinates."""
        return regression_loss(out, batch, cfg, self.flow), batch["target_weight"]
