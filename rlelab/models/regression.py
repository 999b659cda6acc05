"""Direct regression (section 4): backbone -> global average pooling -> one FC layer of K x 2D neurons.

For each of the K joints the FC gives mu_hat and sigma_hat = sigmoid(.) (section 3.3), D coordinates each (D = 2
for an image keypoint, 3 for a 3-D joint); coordinates are normalized to the crop, [-0.5, 0.5]. With
``flow=True`` the model also owns the RealNVP G_phi over the D-dimensional deviation bar_mu (one flow shared by
all joints), trained with it and unused at test time; ``flow2d=True`` adds a second one over the first two
coordinates, for joints with 2-D labels only (a 3-D task mixed with 2-D data sets, as the RLE code has it).
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

from ..crop import IMAGENET_MEAN, IMAGENET_STD
from ..flows import make_flow
from ..losses import LOSSES, sigma_hat_from_logits
from .heatmap import deconv_head, heatmap_loss, heatmaps_of


def regression_loss(out, batch, cfg, flow, flow2d=None):
    """Per-joint loss (B, K) of ``cfg.loss`` (``rlelab.losses``) of the outputs mu_hat, sigma_hat against the batch's
    joints, with the model's ``flow``; the joints of people with 2-D labels only (``depth_weight`` 0: a 3-D task
    mixed with 2-D data, section 5) go through ``flow2d`` on their (u, v)."""
    loss = LOSSES[cfg.loss]
    mu_hat, sigma_hat, joints = out["mu_hat"], out["sigma_hat"], batch["joints"]
    per_joint = loss(mu_hat, sigma_hat, joints, **loss.kwargs(cfg, flow)).per_joint
    if "depth_weight" in batch:
        in_2d = loss(mu_hat[..., :2], sigma_hat[..., :2], joints[..., :2], **loss.kwargs(cfg, flow2d)).per_joint
        per_joint = torch.where(batch["depth_weight"] > 0, per_joint, in_2d)
    return per_joint


class RegressionModel(nn.Module):
    def __init__(self, features, channels, num_joints=17, dim=2, flow=False, sigma_init=0.5, flow2d=False,
                 coord_norm=False, pixel_mean=None, pixel_std=None, aux_heatmaps=False):
        super().__init__()
        self.coord_norm = coord_norm
        self.register_buffer("pixel_scale", None, persistent=False)  # derived from the config, not saved
        self.register_buffer("pixel_shift", None, persistent=False)
        if pixel_mean is not None:  # x_source = (x_rgb - mean) / std, x_rgb = x_imagenet * IMAGENET_STD + IMAGENET_MEAN
            mean = torch.tensor(pixel_mean, dtype=torch.float32)[:, None, None]
            std = torch.tensor(pixel_std or [1.0, 1.0, 1.0], dtype=torch.float32)[:, None, None]
            self.pixel_scale, self.pixel_shift = IMAGENET_STD / std, (IMAGENET_MEAN - mean) / std
        self.features = features
        self.num_joints, self.dim = num_joints, dim
        self.fc = nn.Linear(channels, num_joints * 2 * dim)
        nn.init.xavier_uniform_(self.fc.weight, gain=0.01)  # start at the box centre, as the reference code
        nn.init.zeros_(self.fc.bias)
        with torch.no_grad():  # sigma_hat starts at sigma_init (sigmoid(0) = 0.5 of the crop without it)
            self.fc.bias.view(num_joints, 2 * dim)[:, dim:] = math.log(sigma_init / (1 - sigma_init))
        self.flow = make_flow(dim) if flow else None
        self.flow2d = make_flow(2) if flow and flow2d else None
        self.aux = (nn.ModuleList(deconv_head(channels, num_joints, stride=getattr(features, "stride", 32)))
                    if aux_heatmaps else None)  # parallel to the FC

    def forward(self, images):
        if self.pixel_scale is not None:
            images = images * self.pixel_scale + self.pixel_shift
        maps = self.features(images)
        features = maps.mean((2, 3))
        if self.coord_norm:
            out = F.linear(features, self.fc.weight).view(-1, self.num_joints, 2 * self.dim)
            mu = out[..., :self.dim] / features.norm(dim=1)[:, None, None]
            out = torch.cat([mu, out[..., self.dim:]], -1) + self.fc.bias.view(self.num_joints, 2 * self.dim)
        else:
            out = self.fc(features).view(-1, self.num_joints, 2 * self.dim)
        out = {"mu_hat": out[..., :self.dim], "sigma_hat": sigma_hat_from_logits(out[..., self.dim:])}
        if self.aux is not None and self.training:
            out["heatmaps"] = heatmaps_of(*self.aux, maps, images.shape[-2:])
        return out

    def per_joint_loss(self, out, batch, cfg):
        """(per-joint loss (B, K), per-joint weight (B, K)) of a batch: ``regression_loss`` with this model's flows,
        plus the auxiliary heatmaps' MSE times cfg.aux_heatmap_weight where they are trained."""
        per_joint = regression_loss(out, batch, cfg, self.flow, self.flow2d)
        if "heatmaps" in out:
            per_joint = per_joint + cfg.aux_heatmap_weight * heatmap_loss(out["heatmaps"], batch["heatmaps"],
                                                                          batch["target_weight"])
        return per_joint, batch["target_weight"]
