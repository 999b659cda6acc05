"""A small backbone for small inputs: timm's MobileNetV3-Small (0.93M parameters without its head), trained from
scratch (no package ships its ImageNet weights). The OCT task's models use it: a 96 x 128 scan trains at about
10 steps of 32 a second on two CPU cores, four times ResNet-18's pace, and its exported checkpoint (fp16) weighs 2.3 MB."""
from torch import nn

MOBILENETS = ("mobilenetv3_small_100", "mobilenetv3_small_050")


class Features(nn.Module):
    """A timm network's feature map (its ``forward_features``): (B, 3, H, W) -> (B, C, H/32, W/32)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.forward_features(x)


def make_mobilenet(name, norm="batch", pretrained=None):
    """(features, channels) of timm's ``name`` without its head; ``norm="frozen"``: timm's frozen batch norm."""
    import timm
    from timm.layers import freeze_batch_norm_2d

    if pretrained:
        raise ValueError(f"{name} starts from scratch here (no package ships its ImageNet weights); remove pretrained.")
    net = timm.create_model(name, pretrained=False)
    net.conv_head, net.classifier = None, None  # the classifier's 1x1 convolution and FC: unused, unsaved
    if norm == "frozen":
        net = freeze_batch_norm_2d(net)
    return Features(net), net.num_features
