"""Checkpoints of the trainer: read (one sentence for anything else), load as a model, export small, save
atomically. The app, the benchmarks and ``python -m rlelab eval`` use this module without the trainer."""
import dataclasses

import torch

from .config import make_config, model_from_config
from .files import atomic_write, load_data


def read_checkpoint(path, device="cpu"):
    """The dict of a file written by ``rlelab train`` (or ``export``, or ``lift``: its "kind" is "lifting"), read as
    data (``files.load_data``: nothing in the file is run); one sentence for anything else."""
    try:
        ckpt = load_data(path, device)
    except FileNotFoundError:
        raise ValueError(f"{path}: checkpoint not found.") from None
    except ValueError:
        raise
    except Exception as e:
        raise ValueError(f"{path}: not a readable torch checkpoint ({type(e).__name__}).") from None
    if not isinstance(ckpt, dict) or "config" not in ckpt or "model" not in ckpt:
        raise ValueError(f"{path}: not a checkpoint written by `python -m rlelab train` (no config/model).")
    if ckpt.get("kind") != "lifting":
        ckpt["config"] = {**TRAINED_BEFORE, **ckpt["config"]}
    return ckpt


# what a checkpoint written before these keys existed was trained with (their defaults now differ)
TRAINED_BEFORE = {"task": "coco", "standardize": False, "sigma_init": 0.5, "warmup_steps": 0, "grad_clip": None,
                  "channels_last": False}


def load_checkpoint(path, device="cpu", ckpt=None):
    """(model in eval mode, TrainConfig, checkpoint dict) from a file written by ``rlelab train`` (``ckpt``: its
    content, when already read by ``read_checkpoint``)."""
    ckpt = ckpt or read_checkpoint(path, device)
    if ckpt.get("kind") == "lifting":
        raise ValueError(f"{path}: a lifting model (2-D joints -> 3-D), not an image model; rlelab.lifting.load_lifting reads it.")
    cfg = make_config(ckpt["config"], where=path)
    model = model_from_config(dataclasses.replace(cfg, pretrained=None))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), cfg, ckpt


def export_checkpoint(src, dst):
    """A small inference checkpoint: config, history and fp16 weights, no optimizer state (about 1/6 the size)."""
    ckpt = read_checkpoint(src)
    if ckpt.get("kind") == "lifting":
        raise ValueError(f"{src}: a lifting model (written by `rlelab lift`, small already); export is for image models.")
    weights = {k: v.half() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    source = {"source": ckpt["source"]} if "source" in ckpt else {}  # imported released weights keep saying so
    atomic_save({"config": ckpt["config"], "model": weights, "history": ckpt["history"], "epoch": ckpt["epoch"], **source}, dst)


def atomic_save(obj, path):
    atomic_write(path, lambda f: torch.save(obj, f))
