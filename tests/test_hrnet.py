"""HRNet from timm (Table 2b): its stride-4 map under the heatmap and integral heads, a local ImageNet file, sizes."""
import pytest
import torch

from rlelab.config import make_config
from rlelab.models import build_model, complexity


def test_hrnet_w32_heads_and_their_size():
    # Pose-HRNet-W32 at 256x192 is 28.5M parameters and 7.1 GFLOPs (Sun et al. 2019); timm's network keeps the
    # last stage's fusion into the lower branches, which Pose-HRNet drops: 29.3M and 7.73 GMACs here. Heatmap head:
    # one 1x1 convolution (32 -> 17 channels) on the stride-4 map, no deconvolution; integral adds sigma_hat's FC
    # on the pooled map (32 x 34 + 34).
    heatmap, integral = (build_model(h, "hrnet_w32") for h in ("heatmap", "integral"))
    assert len(heatmap.deconv) == 0 and heatmap.final.in_channels == 32
    counts = [complexity(m, (256, 192)) for m in (heatmap, integral)]
    assert round(counts[0]["params"] / 1e6, 1) == 29.3 and round(counts[0]["macs"] / 1e9, 2) == 7.73
    assert counts[1]["params"] - counts[0]["params"] == 32 * 34 + 34


def test_hrnet_small_predicts_at_a_quarter_and_reads_a_local_imagenet_file(tmp_path):
    import timm

    model = build_model("integral", "hrnet_w18_small", flow=True).eval()
    out = model(torch.randn(2, 3, 64, 64))
    assert out["heatmaps"].shape == (2, 17, 16, 16) and out["mu_hat"].shape == (2, 17, 2)
    imagenet = timm.create_model("hrnet_w18_small")  # the classification network a local ImageNet file is of
    torch.save(imagenet.state_dict(), tmp_path / "hrnet.pth")
    loaded = build_model("integral", "hrnet_w18_small", pretrained=str(tmp_path / "hrnet.pth"))
    assert torch.equal(loaded.features.net.conv1.weight, imagenet.conv1.weight)
    torch.save({"conv1.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match=r"other.pth: not a timm hrnet_w18_small state dict"):
        build_model("heatmap", "hrnet_w18_small", pretrained=str(tmp_path / "other.pth"))
    with pytest.raises(ValueError, match="no package ships hrnet_w32's"):
        build_model("integral", "hrnet_w32", pretrained="imagenet")


def test_hrnet_needs_input_sides_divisible_by_32():
    assert make_config({"backbone": "hrnet_w32", "head": "integral", "input_size": [256, 192]})
    with pytest.raises(ValueError, match=r"input_size must be multiples of 32 \(e.g. \[256, 192\]"):
        make_config({"backbone": "hrnet_w18_small", "input_size": [64, 48]})
