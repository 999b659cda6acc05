"""The released RLE models as rlelab checkpoints: ``python -m rlelab import-weights --format official|mmpose FILE
--out CKPT`` reads the authors' ``RegressFlow`` state dict or mmpose's RLE checkpoint and writes a checkpoint that
``eval``, ``predict``, the app and the labs load as any other (``load_checkpoint``).

What differs between the sources and rlelab, and how each is carried over:

| | the authors' code (rlepose) | mmpose (RLEHead) | rlelab |
|---|---|---|---|
| backbone keys | ``preact.`` + torchvision's names | ``backbone.`` + torchvision's names | ``features.0`` conv1, ``.1`` bn1, ``.4-.7`` layer1-4 |
| head | ``fc_coord.linear`` (K x 2 rows; the product with the features divided by their L2 norm) and ``fc_sigma.linear`` (K x 2) | ``head.fc`` (K x 4: x, y, sigma logits x, y) | ``fc`` (K x 4 as mmpose's); ``coord_norm`` for the authors' |
| coordinates | [-0.5, 0.5] of the crop | [0, 1] of the crop | [-0.5, 0.5]: mmpose's biases move by -0.5 |
| input | RGB / 255 - (0.406, 0.457, 0.480), no std | ImageNet's mean and std | ImageNet's; the authors' kept as ``pixel_mean`` / ``pixel_std`` |
| flow | ``flow.{s,t}.{0..5}.{0,2,4}``, ``flow.mask`` | ``head.loss_module.flow_model.*`` (older files: ``keypoint_head.loss.flow_model.*``) | ``flow.{g,h}``: g = s, h = t |
| bar_mu | (prediction - label) / sigma | (prediction - label) / sigma | (label - prediction) / sigma (Eq. 5) |

The flow is turned to rlelab's bar_mu: G'(x) = G(-x) holds when the first layer of every s and t network and the
last layer of every t network change sign (each coupling then maps -x to -z, and the Gaussian base is symmetric).
"""
import dataclasses
import os
import re

import torch

from .checkpoints import atomic_save
from .config import TrainConfig, make_config, model_from_config
from .files import load_data, refuse_existing
from .models import BACKBONES
from .tasks import TASKS

FORMATS = ("official", "mmpose")
OFFICIAL_PIXEL_MEAN = [0.406, 0.457, 0.480]  # rlepose's SimpleTransform: RGB / 255 minus these, no std
LAYERS = {(2, 2, 2, 2, False): "resnet18", (3, 4, 6, 3, False): "resnet34", (3, 4, 6, 3, True): "resnet50",
          (3, 4, 23, 3, True): "resnet101", (3, 8, 36, 3, True): "resnet152"}
FLOW_NETS = {"s": "g", "t": "h"}  # the sources' scale and shift networks -> rlelab's g_k and h_k (Eq. 12)


def read_state(path):
    """The tensors of a released file: a state dict, or the one under "state_dict" / "model" (mmpose's and most
    trainers' files), without a "module." prefix (DataParallel)."""
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file; give the path of the released .pth file.")
    try:  # mmpose's files keep a meta dict of more than tensors: its objects are read as inert data
        data = load_data(path, inert_ok=True)
    except ValueError:
        raise
    except Exception as e:
        detail = (str(e).splitlines() or [""])[0][:80]
        raise ValueError(f"{path}: not a readable torch file ({type(e).__name__}{': ' + detail if detail else ''}); "
                         "it may be truncated: download it again.") from None
    for key in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ValueError(f"{path}: not a state dict (a mapping of parameter names to tensors).")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in data.items()}


def _take(state, key, shape, path):
    """state[key], checked to have ``shape`` (None: any)."""
    if key not in state:
        raise ValueError(f"{path}: no {key!r}; check --format (official: the authors' RegressFlow, mmpose: mmpose's "
                         "RLE model).")
    if shape is not None and tuple(state[key].shape) != tuple(shape):
        raise ValueError(f"{path}: {key} has shape {tuple(state[key].shape)}, expected {tuple(shape)}.")
    return state[key].float() if state[key].is_floating_point() else state[key]


def backbone_state(state, prefix, path):
    """rlelab's ``features.*`` from torchvision-named ResNet keys under ``prefix``, and the ResNet's name."""
    names = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if "conv1.weight" not in names:
        raise ValueError(f"{path}: no {prefix}conv1.weight, so no ResNet under {prefix!r}; check --format (official: "
                         "the authors' RegressFlow, mmpose: mmpose's RLE model).")
    blocks = tuple(len({int(m.group(1)) for k in names if (m := re.match(rf"layer{i}\.(\d+)\.", k))}) for i in range(1, 5))
    backbone = LAYERS.get(blocks + ("layer1.0.conv3.weight" in names,))
    if backbone not in BACKBONES:
        raise ValueError(f"{path}: a ResNet with {blocks} blocks per stage is none of {', '.join(BACKBONES)}.")
    stem = {"conv1": "0", "bn1": "1", "layer1": "4", "layer2": "5", "layer3": "6", "layer4": "7"}
    out = {}
    for k, v in names.items():
        head, _, rest = k.partition(".")
        if head not in stem:
            raise ValueError(f"{path}: {prefix}{k} is not a part of a torchvision ResNet (conv1, bn1, layer1-4).")
        out[f"features.{stem[head]}.{rest}"] = v
    return out, backbone


def flow_state(state, prefix, path):
    """rlelab's ``flow.*`` (RealNVP over 2 coordinates, six couplings) from the sources' s/t networks under
    ``prefix``, turned from their bar_mu (prediction - label) / sigma to rlelab's (label - prediction) / sigma."""
    mask = _take(state, prefix + "mask", (6, 2), path)
    if mask.tolist() != [[0, 1], [1, 0]] * 3:
        raise ValueError(f"{path}: {prefix}mask is {mask.tolist()}; the released flows (and rlelab's) use [[0, 1], [1, 0]] x 3.")
    out = {"flow.masks": mask}
    for source, ours in FLOW_NETS.items():
        for k in range(6):
            for layer, shape in ((0, (64, 2)), (2, (64, 64)), (4, (2, 64))):
                w = _take(state, f"{prefix}{source}.{k}.{layer}.weight", shape, path)
                b = _take(state, f"{prefix}{source}.{k}.{layer}.bias", shape[:1], path)
                if layer == 0 or (layer == 4 and source == "t"):  # G'(x) = G(-x): see the module docstring
                    w = -w
                    b = -b if layer == 4 else b
                out[f"flow.{ours}.{k}.{layer}.weight"], out[f"flow.{ours}.{k}.{layer}.bias"] = w, b
    return out


def check_joints(rows, per_joint, task, path, what):
    """One sentence when the head's ``rows`` are not ``per_joint`` outputs for each of ``task``'s joints."""
    joints = task.layout.num_joints
    if rows != per_joint * joints:
        tasks = ", ".join(f"{t.name} {t.layout.num_joints}" for t in TASKS.values() if t.dim == 2)
        raise ValueError(f"{path}: {what} has {rows} rows, {rows / per_joint:g} joints x {per_joint}; the {task.name} "
                         f"task has {joints} joints: import it with the --task of its joints ({tasks}).")
    return joints


def official_state(state, path, task):
    """(rlelab state dict, TrainConfig fields) of the authors' RegressFlow (rlepose/models/regression_nf.py)."""
    features, backbone = backbone_state(state, "preact.", path)
    if any(k.startswith("fcs.") for k in state):
        raise ValueError(f"{path}: hidden FC layers (fcs.*, NUM_FC_FILTERS > 0) are not in the released models or in "
                         "rlelab's head (one FC after the pooling).")
    coord_w = _take(state, "fc_coord.linear.weight", None, path)
    rows, channels = coord_w.shape
    joints = check_joints(rows, 2, task, path, "fc_coord")
    coord_b = _take(state, "fc_coord.linear.bias", (rows,), path)
    sigma_w = _take(state, "fc_sigma.linear.weight", (rows, channels), path)
    sigma_b = _take(state, "fc_sigma.linear.bias", (rows,), path)
    fc_w = torch.cat([coord_w.view(joints, 2, channels), sigma_w.view(joints, 2, channels)], 1).reshape(4 * joints, channels)
    fc_b = torch.cat([coord_b.view(joints, 2), sigma_b.view(joints, 2)], 1).reshape(4 * joints)
    model = {**features, "fc.weight": fc_w, "fc.bias": fc_b, **flow_state(state, "flow.", path)}
    return model, {"backbone": backbone, "variant": "official", "coord_norm": True, "pixel_mean": OFFICIAL_PIXEL_MEAN,
                   "pixel_std": [1.0, 1.0, 1.0]}


def mmpose_state(state, path, task):
    """(rlelab state dict, TrainConfig fields) of mmpose's RLE model (ResNet + GlobalAveragePooling + RLEHead)."""
    features, backbone = backbone_state(state, "backbone.", path)
    head = "head." if "head.fc.weight" in state else "keypoint_head."  # mmpose 1.x / 0.x
    fc_w = _take(state, head + "fc.weight", None, path)
    rows, channels = fc_w.shape
    joints = check_joints(rows, 4, task, path, f"{head}fc")
    fc_b = _take(state, head + "fc.bias", (rows,), path).view(joints, 4).clone()
    fc_b[:, :2] -= 0.5  # [0, 1] of the crop -> [-0.5, 0.5]
    flow = next((p for p in (head + "loss_module.flow_model.", head + "loss.flow_model.") if p + "mask" in state),
                head + "loss_module.flow_model.")
    model = {**features, "fc.weight": fc_w, "fc.bias": fc_b.reshape(rows), **flow_state(state, flow, path)}
    return model, {"backbone": backbone, "variant": "mmpose"}


def import_weights(path, fmt, out, input_size=None, overwrite=False, task="coco"):
    """Write ``out``: an rlelab checkpoint of the released file ``path`` (``fmt``: official | mmpose), a model of
    ``task`` (its joints; its input size unless ``input_size``). Returns its TrainConfig. The model is loaded once
    before writing, so a file that does not fit is refused unwritten."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    if task not in TASKS or TASKS[task].dim != 2:
        raise ValueError(f"--task {task}: the released RLE models are 2-D; choose one of "
                         f"{', '.join(n for n, t in TASKS.items() if t.dim == 2)}.")
    refuse_existing(out, overwrite, "--out")
    state = read_state(path)
    model_state, fields = (official_state if fmt == "official" else mmpose_state)(state, path, TASKS[task])
    cfg = make_config({**dataclasses.asdict(TrainConfig()), "task": task, "data": f"data/{task}",
                       "input_size": list(input_size or TASKS[task].input_size), "head": "regression", "loss": "rle", "q": "laplace",
                       "standardize": False, "pretrained": None, "out": os.path.dirname(out) or ".", **fields},
                      where=path)
    model = model_from_config(cfg)
    try:
        missing, unexpected = model.load_state_dict(model_state, strict=False)
    except RuntimeError as e:  # a tensor of the wrong shape: torch lists them all, the first says enough
        first = next((line.strip() for line in str(e).splitlines() if "size mismatch" in line), str(e).splitlines()[0])
        raise ValueError(f"{path}: the weights do not fit a {cfg.backbone} regression model ({first[:160]}).") from None
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{path}: the weights do not fit a {cfg.backbone} regression model ({len(missing)} missing, "
                         f"e.g. {missing[:2]}; {len(unexpected)} unexpected, e.g. {unexpected[:2]}).")
    atomic_save({"config": dataclasses.asdict(cfg), "model": model.state_dict(), "history": [], "epoch": 0,
                 "source": {"format": fmt, "file": os.path.basename(path)}}, out)
    return cfg
