"""The heatmap baseline of SimpleBaseline (Xiao et al. 2018, the paper's "SimplePose" [67]).

Backbone -> three 4x4 transposed convolutions (256 channels, stride 2, BN, ReLU) -> a 1x1 convolution to K
heatmaps at 1/4 of the input size (after HRNet, whose map is at 1/4 already, the 1x1 convolution alone: Pose-HRNet), trained with the mean squared error to Gaussian targets. Decoding: the
argmax, moved a quarter pixel toward the higher neighbour (sub-pixel), scaled back to the crop.
"""
import torch
from torch import nn
from torch.nn import functional as F


def deconv_head(channels, num_joints, deconv_channels=256, stride=32):
    """SimpleBaseline's head on a backbone of ``stride``: 4x4 transposed convolutions (stride 2, BN, ReLU) up to 1/4
    of the input (three after a ResNet, none after HRNet, whose map is at 1/4 already) and a 1x1 convolution to K
    heatmaps, initialized as its code does (std 0.001: every heatmap starts flat). Returns (deconv, final)."""
    layers = []
    for _ in range(int(stride).bit_length() - 3):  # 32 -> 3 doublings to 1/4, 4 -> none
        layers += [nn.ConvTranspose2d(channels, deconv_channels, 4, stride=2, padding=1, bias=False),
                   nn.BatchNorm2d(deconv_channels), nn.ReLU(inplace=True)]
        channels = deconv_channels
    deconv, final = nn.Sequential(*layers), nn.Conv2d(channels, num_joints, 1)
    for m in deconv.modules():
        if isinstance(m, nn.ConvTranspose2d):
            nn.init.normal_(m.weight, std=0.001)
    nn.init.normal_(final.weight, std=0.001)
    nn.init.zeros_(final.bias)
    return deconv, final


def heatmaps_of(deconv, final, features, input_size, stride=4):
    """K heatmaps at 1/``stride`` of the input from the backbone's features; an input side not a multiple of 32
    (e.g. 48) is resampled to exactly that size."""
    heatmaps = final(deconv(features))
    size = (input_size[0] // stride, input_size[1] // stride)
    if heatmaps.shape[-2:] != size:
        heatmaps = F.interpolate(heatmaps, size=size, mode="bilinear", align_corners=False)
    return heatmaps


class HeatmapModel(nn.Module):
    stride = 4

    def __init__(self, features, channels, num_joints=17, deconv_channels=256):
        super().__init__()
        self.features = features
        self.deconv, self.final = deconv_head(channels, num_joints, deconv_channels, getattr(features, "stride", 32))

    def forward(self, images):
        return {"heatmaps": heatmaps_of(self.deconv, self.final, self.features(images), images.shape[-2:], self.stride)}

    def per_joint_loss(self, out, batch, cfg):
        """(per-joint loss (B, K), per-joint weight (B, K)): ``heatmap_loss``, which weighs the joints itself."""
        weight = batch["target_weight"]
        return heatmap_loss(out["heatmaps"], batch["heatmaps"], weight), torch.ones_like(weight)


def heatmap_loss(heatmaps, target, weight):
    """Per joint 0.5 * mean over pixels of (w * (H - H_gt))^2 (SimpleBaseline's JointsMSELoss), shape (B, K)."""
    return 0.5 * ((heatmaps.float() - target) ** 2).mean((2, 3)) * weight**2


def decode_heatmaps(heatmaps, input_size):
    """(B, K, h, w) heatmaps -> joints (B, K, 2) in normalized crop coordinates and peak values (B, K)."""
    b, k, h, w = heatmaps.shape
    flat = heatmaps.float().reshape(b, k, -1)
    maxvals, idx = flat.max(-1)
    x, y = (idx % w).float(), torch.div(idx, w, rounding_mode="floor").float()
    hm = heatmaps.float()
    xi, yi = x.long(), y.long()
    bi, ki = torch.meshgrid(torch.arange(b), torch.arange(k), indexing="ij")
    inner_x = (xi > 0) & (xi < w - 1)
    inner_y = (yi > 0) & (yi < h - 1)
    dx = hm[bi, ki, yi, (xi + 1).clamp(max=w - 1)] - hm[bi, ki, yi, (xi - 1).clamp(min=0)]
    dy = hm[bi, ki, (yi + 1).clamp(max=h - 1), xi] - hm[bi, ki, (yi - 1).clamp(min=0), xi]
    x = x + 0.25 * torch.sign(dx) * inner_x
    y = y + 0.25 * torch.sign(dy) * inner_y
    in_h, in_w = input_size
    stride_x, stride_y = in_w / w, in_h / h
    joints = torch.stack([x * stride_x / in_w - 0.5, y * stride_y / in_h - 0.5], -1)
    return joints, maxvals
