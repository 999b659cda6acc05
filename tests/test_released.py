"""Released weights: the authors' RegressFlow and mmpose's RLE model imported as rlelab checkpoints.

No released file is downloaded: each test builds a state dict with exactly the names and shapes of its source
(random weights, random BatchNorm statistics) and checks the imported model against a forward pass written here
from that source's own definition (rlepose/models/regression_nf.py and layers/real_nvp.py; mmpose's RLEHead,
RegressionLabel and RealNVP). The comparison runs in float64, where the two paths differ only by rounding
(~1e-15 relative), so the 1e-5 tolerance holds on any machine and a wrong key, order or sign breaks it by far.
"""
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from rlelab.checkpoints import load_checkpoint
from rlelab.crop import normalize_images
from rlelab.released import OFFICIAL_PIXEL_MEAN, import_weights

MMPOSE_MEAN, MMPOSE_STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]  # mmpose's data_preprocessor, 0-255


def resnet(name, seed):
    """A torchvision ResNet with random weights and random BatchNorm statistics (eval mode, float64)."""
    torch.manual_seed(seed)
    net = getattr(torchvision.models, name)(weights=None)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.double().eval()


def pooled(net, x):
    """The sources' backbone and global average pooling: torchvision's ResNet up to its fc."""
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    return net.layer4(net.layer3(net.layer2(net.layer1(x)))).mean((2, 3))


def float32_rounded(state):
    """The tensors as a released file stores them (float32), kept in float64 for the reference forward."""
    return {k: v.float().double() if v.is_floating_point() else v for k, v in state.items()}


def random_flow(prefix, g):
    """The sources' RealNVP tensors (s: Linear 2-64-64-2 + tanh, t: Linear 2-64-64-2, six couplings), random and
    large enough that the density is far from symmetric."""
    state = {prefix + "mask": torch.tensor([[0, 1], [1, 0]] * 3, dtype=torch.float32)}
    for net in ("s", "t"):
        for k in range(6):
            for layer, shape in ((0, (64, 2)), (2, (64, 64)), (4, (2, 64))):
                state[f"{prefix}{net}.{k}.{layer}.weight"] = torch.randn(shape, generator=g, dtype=torch.float64) / shape[1] ** 0.5
                state[f"{prefix}{net}.{k}.{layer}.bias"] = 0.3 * torch.randn(shape[0], generator=g, dtype=torch.float64)
    return state


def source_log_prob(state, prefix, x):
    """log G(x) of the sources' RealNVP: backward_p then the standard normal prior (real_nvp.py, realnvp.py)."""
    def mlp(net, k, v, tanh):
        for layer in (0, 2, 4):
            v = v @ state[f"{prefix}{net}.{k}.{layer}.weight"].T + state[f"{prefix}{net}.{k}.{layer}.bias"]
            v = torch.nn.functional.leaky_relu(v) if layer < 4 else (torch.tanh(v) if tanh else v)
        return v
    mask = state[prefix + "mask"].double()
    z, log_det = x, x.new_zeros(x.shape[0])
    for k in reversed(range(6)):
        z_ = mask[k] * z
        s = mlp("s", k, z_, True) * (1 - mask[k])
        t = mlp("t", k, z_, False) * (1 - mask[k])
        z = (1 - mask[k]) * (z - t) * torch.exp(-s) + z_
        log_det = log_det - s.sum(1)
    return -0.5 * (z ** 2).sum(1) - np.log(2 * np.pi) + log_det


def official_file(tmp_path, backbone="resnet50", joints=17, seed=0):
    """(path, reference forward) of a RegressFlow state dict: preact.*, fc_coord.linear.*, fc_sigma.linear.*, flow.*."""
    net = resnet(backbone, seed)
    g = torch.Generator().manual_seed(seed)
    channels = net.fc.in_features
    state = {"preact." + k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    state["fc_coord.linear.weight"] = 0.3 * torch.randn(2 * joints, channels, generator=g, dtype=torch.float64)
    state["fc_coord.linear.bias"] = 0.1 * torch.randn(2 * joints, generator=g, dtype=torch.float64)
    state["fc_sigma.linear.weight"] = 0.01 * torch.randn(2 * joints, channels, generator=g, dtype=torch.float64)
    state["fc_sigma.linear.bias"] = torch.randn(2 * joints, generator=g, dtype=torch.float64)
    state.update(random_flow("flow.", g))

    def forward(rgb):  # RegressFlow.forward on SimpleTransform's input: RGB / 255 minus the mean, no std
        f = pooled(net, rgb - torch.tensor(OFFICIAL_PIXEL_MEAN, dtype=torch.float64)[:, None, None])
        coord = f @ state["fc_coord.linear.weight"].T / f.norm(dim=1, keepdim=True) + state["fc_coord.linear.bias"]
        sigma = torch.sigmoid(f @ state["fc_sigma.linear.weight"].T + state["fc_sigma.linear.bias"])
        return coord.view(-1, joints, 2), sigma.view(-1, joints, 2)

    path = tmp_path / f"official_{backbone}.pth"
    state = float32_rounded(state)
    torch.save({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, path)
    net.load_state_dict({k[len("preact."):]: v for k, v in state.items() if k.startswith("preact.")}, strict=False)
    return path, forward, state


def mmpose_file(tmp_path, backbone="resnet50", joints=17, seed=1, old_names=False):
    """(path, reference forward) of an mmpose checkpoint: {"meta", "state_dict": backbone.*, head.fc.*,
    head.loss_module.flow_model.*} (mmpose 0.x: keypoint_head.fc.*, keypoint_head.loss.flow_model.*)."""
    net = resnet(backbone, seed)
    g = torch.Generator().manual_seed(seed)
    channels = net.fc.in_features
    head = "keypoint_head." if old_names else "head."
    state = {"backbone." + k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    w = torch.randn(4 * joints, channels, generator=g, dtype=torch.float64) / channels ** 0.5
    state[head + "fc.weight"], state[head + "fc.bias"] = w, 0.5 + 0.1 * torch.randn(4 * joints, generator=g, dtype=torch.float64)
    flow = head + ("loss.flow_model." if old_names else "loss_module.flow_model.")
    state.update(random_flow(flow, g))
    state[flow + "loc"], state[flow + "cov"] = torch.zeros(2), torch.eye(2)

    def forward(rgb):  # mmpose: ImageNet-normalized 0-255 RGB, GlobalAveragePooling, RLEHead.fc, (K, 4)
        x = (rgb * 255 - torch.tensor(MMPOSE_MEAN, dtype=torch.float64)[:, None, None]) / torch.tensor(MMPOSE_STD, dtype=torch.float64)[:, None, None]
        out = (pooled(net, x) @ state[head + "fc.weight"].T + state[head + "fc.bias"]).view(-1, joints, 4)
        return out[..., :2], torch.sigmoid(out[..., 2:4])  # coordinates in [0, 1] of the input, sigma

    path = tmp_path / f"mmpose_{backbone}.pth"
    meta = {"dataset_meta": {"flip_indices": np.arange(joints)}, "mmengine_version": "0.x"}
    state = float32_rounded(state)
    torch.save({"meta": meta, "state_dict": {k: v.float() if v.is_floating_point() else v for k, v in state.items()}}, path)
    net.load_state_dict({k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}, strict=False)
    return path, forward, (state, flow)


def imported(path, fmt, tmp_path, **kwargs):
    out = tmp_path / f"{path.stem}.pt"
    import_weights(str(path), fmt, str(out), **kwargs)
    model, cfg, ckpt = load_checkpoint(str(out))
    return model.double(), cfg, ckpt


def rgb_crops(size, seed=0):
    return torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_official_regressflow_imports_to_the_same_joints_sigmas_and_density(tmp_path):
    path, forward, state = official_file(tmp_path)
    model, cfg, ckpt = imported(path, "official", tmp_path)
    assert (cfg.task, cfg.backbone, cfg.input_size, cfg.variant, cfg.coord_norm) == ("coco", "resnet50", [256, 192], "official", True)
    assert ckpt["source"] == {"format": "official", "file": path.name}
    rgb = rgb_crops((256, 192))
    coord, sigma = forward(rgb)
    with torch.no_grad():
        out = model(normalize_images(rgb))  # rlelab's crops are ImageNet-normalized; the model renormalizes them
    torch.testing.assert_close(out["mu_hat"], coord, rtol=1e-5, atol=1e-5)  # both in [-0.5, 0.5] of the crop
    torch.testing.assert_close(out["sigma_hat"], sigma, rtol=1e-5, atol=1e-5)
    assert coord.std() > 0.05 and sigma.std() > 0.05  # the check would see a wrong row order
    x = torch.randn(500, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():  # rlelab's bar_mu is (label - prediction) / sigma, the sources' its negative
        torch.testing.assert_close(model.flow.log_prob(x), source_log_prob(state, "flow.", -x), rtol=1e-5, atol=1e-5)
        assert (model.flow.log_prob(x) - source_log_prob(state, "flow.", x)).abs().max() > 0.1


@pytest.mark.parametrize("old_names", [False, True])
def test_mmpose_rle_imports_to_the_same_joints_sigmas_and_density(tmp_path, old_names, capsys):
    path, forward, (state, flow) = mmpose_file(tmp_path, "resnet18", joints=16, old_names=old_names)
    with pytest.raises(ValueError, match=r"head.fc has 64 rows, 16 joints x 4; the coco task has 17 joints: import it "
                                         r"with the --task of its joints \(coco 17, mpii 16\)"):
        imported(path, "mmpose", tmp_path)
    model, cfg, _ = imported(path, "mmpose", tmp_path, task="mpii")
    assert "warning" not in capsys.readouterr().out  # mmpose's meta (numpy arrays): read as inert data, no unsafe retry
    assert (cfg.task, cfg.backbone, cfg.input_size, cfg.variant, cfg.coord_norm) == ("mpii", "resnet18", [256, 256], "mmpose", False)
    assert cfg.pixel_mean is None  # mmpose normalizes as rlelab does
    rgb = rgb_crops((256, 256))
    coord, sigma = forward(rgb)
    with torch.no_grad():
        out = model(normalize_images(rgb))
    torch.testing.assert_close(out["mu_hat"], coord - 0.5, rtol=1e-5, atol=1e-5)  # [0, 1] -> [-0.5, 0.5]
    torch.testing.assert_close(out["sigma_hat"], sigma, rtol=1e-5, atol=1e-5)
    x = torch.randn(500, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(model.flow.log_prob(x), source_log_prob(state, flow, -x), rtol=1e-5, atol=1e-5)


def test_imported_weights_run_through_the_command_line(tmp_path):
    from rlelab.data.synthpose import generate

    data = generate(str(tmp_path / "sp"), n_train=1, n_val=3, seed=4)
    path, _, _ = official_file(tmp_path, "resnet18")
    out = tmp_path / "imported.pt"
    run = lambda *a: subprocess.run([sys.executable, "-m", "rlelab", *a], capture_output=True, text=True, timeout=300)
    done = run("import-weights", str(path), "--format", "official", "--out", str(out), "--input-size", "128x96")
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and "task" in done.stdout
    done = run("eval", "--checkpoint", str(out), "--data", data, "--results", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr
    rows = dict(line.split(None, 1) for line in done.stdout.strip().splitlines())
    assert 0 <= float(rows["AP"]) <= 1
    done = run("export", "--checkpoint", str(out), "--out", str(tmp_path / "small.pt"))
    assert done.returncode == 0, done.stderr
    assert torch.load(tmp_path / "small.pt", weights_only=True)["source"]["format"] == "official"  # still said
    before = out.read_bytes()
    again = run("import-weights", str(path), "--format", "official", "--out", str(out))
    assert again.returncode != 0 and "exists; choose another --out" in again.stderr and "Traceback" not in again.stderr
    assert out.read_bytes() == before  # nothing a user made is overwritten


def test_wrong_or_truncated_files_get_one_sentence(tmp_path):
    path, _, _ = official_file(tmp_path, "resnet18")
    cases = {}
    cases["truncated"] = tmp_path / "truncated.pth"
    cases["truncated"].write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    cases["bytes"] = tmp_path / "bytes.pth"
    cases["bytes"].write_bytes(b"not a checkpoint " * 50)
    says = {"truncated": "it may be truncated: download it again", "bytes": "not a readable torch file"}
    for name, bad in cases.items():
        with pytest.raises(ValueError, match=says[name]):
            import_weights(str(bad), "official", str(tmp_path / f"{name}.pt"))
    with pytest.raises(ValueError, match="no backbone.conv1.weight, so no ResNet under 'backbone.'; check --format"):
        import_weights(str(path), "mmpose", str(tmp_path / "x.pt"))
    state = torch.load(path, weights_only=True)
    for key, value, message in (("fc_coord.linear.weight", torch.zeros(30, 512), "fc_coord has 30 rows, 15 joints x 2; the "
                                 "coco task has 17 joints: import it with the --task of its joints (coco 17, mpii 16)"),
                                ("fc_sigma.linear.bias", torch.zeros(5), "fc_sigma.linear.bias has shape (5,), expected (34,)"),
                                ("flow.mask", torch.ones(6, 2), "flow.mask is"),
                                ("fc_coord.linear.bias", None, "no 'fc_coord.linear.bias'; check --format")):
        broken = dict(state)
        if value is None:
            del broken[key]
        else:
            broken[key] = value
        torch.save(broken, tmp_path / "broken.pth")
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            import_weights(str(tmp_path / "broken.pth"), "official", str(tmp_path / "broken.pt"))
    broken = {**state, "preact.conv1.weight": torch.zeros(64, 3, 5, 5)}  # a conv of the wrong shape (RuntimeError before)
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match=r"do not fit a resnet18 regression model \(size mismatch for features.0.weight"):
        import_weights(str(tmp_path / "broken.pth"), "official", str(tmp_path / "broken.pt"))
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ValueError, match="lies under .*a_file, which is a file; choose another --out"):
        import_weights(str(path), "official", str(tmp_path / "a_file" / "x.pt"))  # refused before reading the file
    assert not (tmp_path / "broken.pt").exists() and not (tmp_path / "x.pt").exists()
