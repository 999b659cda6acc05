"""One trainer for the pose models: regression with any loss of rlelab.losses, or the heatmap baseline.

``python -m rlelab train --config configs/NAME.yaml`` (plain YAML for the TrainConfig fields below), or the
same under ``torchrun --nproc_per_node N`` for DDP on several GPUs / nodes (gloo on CPU). Writes to
``out``: last.pt (every epoch, atomically; ``--resume`` continues from it exactly), best.pt (best val AP),
metrics.csv and TensorBoard scalars.

The loss of a batch is the weighted mean over the visible joints of the *global* batch: each process
divides its sum by the global weight sum (all-reduced) times the world size, so that DDP's gradient
average equals the gradient of one process on the whole batch.
"""
import csv
import dataclasses
import math
import os
import random
import shutil
import time
import typing
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
import yaml
from tqdm.auto import tqdm

from .data.coco import TopDownCOCO, TopDownConfig, coco_paths, normalize_images
from .densities import LOG_Q
from .files import atomic_write, remove_temp_files
from .losses import FLOW_LOSSES, LOSSES, RLE_VARIANTS
from .models import BACKBONES, NORMS, build_model
from .models.heatmap import HeatmapModel, heatmap_loss


@dataclass
class TrainConfig:
    # data: a folder in COCO layout (real COCO 2017 or SynthPose)
    data: str = "data/synthpose"
    train_split: str = "train"
    val_split: str = "val"
    val_detections: str | None = None  # COCO results file of person boxes for validation (else ground-truth boxes)
    input_size: list = field(default_factory=lambda: [256, 192])  # height, width
    augment: bool = True  # SimpleBaseline's scale, rotation, flip, half body
    # model
    head: str = "regression"  # regression | heatmap
    backbone: str = "resnet50"
    pretrained: str | None = None  # local torchvision ImageNet state dict; nothing is downloaded
    norm: str = "batch"  # batch | sync (SyncBatchNorm under DDP on GPUs) | frozen
    # loss of the regression head (rlelab.losses)
    loss: str = "rle"  # l1 | l2 | gaussian | laplace | flow | dle | rle
    q: str = "laplace"
    variant: str = "paper"
    with_log_s: bool = False
    standardize: bool = True  # RLE: bar_mu standardized, sigma_hat is the error's std (README: "What sigma_hat means")
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


def load_config(path, **overrides):
    """A TrainConfig from a YAML file; unknown keys and wrong types are refused with the key's name."""
    try:
        with open(path) as f:
            raw = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise ValueError(f"{path}: config file not found.") from None
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({str(e).splitlines()[0]}).") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a config is a mapping of TrainConfig fields, got {type(raw).__name__}.")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    return make_config(raw, where=path)


def make_config(raw, where="config"):
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; the keys are the fields of rlelab.train.TrainConfig.")
    if isinstance(raw.get("amp"), bool):  # configs and checkpoints before amp took a precision: true meant fp16
        raw = {**raw, "amp": "fp16" if raw["amp"] else "off"}
    cfg = TrainConfig(**raw)
    for f in dataclasses.fields(TrainConfig):  # the type of each value: YAML reads `lr: fast` as a string
        value, allowed = getattr(cfg, f.name), typing.get_args(f.type) or (f.type,)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not any(isinstance(value, t) and (t is bool or not isinstance(value, bool)) or (t is float and number)
                   for t in allowed):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
            raise ValueError(f"{where}: {f.name} must be {names}, got {value!r}.")
    choices = {"head": ("regression", "heatmap"), "loss": tuple(LOSSES), "q": tuple(LOG_Q), "variant": RLE_VARIANTS,
               "backbone": BACKBONES, "norm": NORMS, "amp": AMP}
    for name, allowed in choices.items():
        if getattr(cfg, name) not in allowed:
            raise ValueError(f"{where}: unknown {name} {getattr(cfg, name)!r}; choose one of {', '.join(allowed)}.")
    if len(cfg.input_size) != 2 or not all(isinstance(v, int) and v >= 32 for v in cfg.input_size):
        raise ValueError(f"{where}: input_size must be [height, width] of at least 32 pixels, got {cfg.input_size}.")
    minimum = {"epochs": 1, "batch_size": 1, "workers": 0, "eval_every": 0, "eval_batch_size": 1, "max_steps_per_epoch": 1,
               "warmup_steps": 0}
    for name, least in minimum.items():
        if getattr(cfg, name) is not None and getattr(cfg, name) < least:
            raise ValueError(f"{where}: {name} must be an integer of at least {least}, got {getattr(cfg, name)!r}.")
    if not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise ValueError(f"{where}: lr must be a positive number, got {cfg.lr!r} (the paper's: 1e-3).")
    if not (math.isfinite(cfg.lr_factor) and 0 < cfg.lr_factor <= 1):
        raise ValueError(f"{where}: lr_factor must be in (0, 1], got {cfg.lr_factor!r} (the paper's: 0.1).")
    if cfg.loss == "rle" and cfg.standardize and (cfg.variant != "paper" or cfg.with_log_s):
        raise ValueError(f"{where}: standardize (the default) reads Eq. 8 with its normalizer s built in; for variant "
                         f"{cfg.variant!r} or with_log_s: true, as the paper or its code wrote them, set standardize: false.")
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
    return cfg


AMP = ("fp16", "bf16", "off")


def model_from_config(cfg):
    return build_model(cfg.head, cfg.backbone, norm=cfg.norm, pretrained=cfg.pretrained,
                       flow=cfg.head == "regression" and cfg.loss in FLOW_LOSSES, sigma_init=cfg.sigma_init)


def init_backbone(model, cfg):
    """Start ``model``'s backbone from the backbone of the checkpoint ``cfg.init_from`` (the paper's *RLE: a
    regression model from a heatmap model's backbone); the heads keep their own start. Returns a sentence
    saying where the backbone came from."""
    path = cfg.init_from
    ckpt = read_checkpoint(path)
    source = make_config(ckpt["config"], where=path)
    skip = lambda k: k.endswith("num_batches_tracked")  # BatchNorm has it, FrozenBatchNorm2d not
    features = {k[len("features."):]: v for k, v in ckpt["model"].items() if k.startswith("features.") and not skip(k)}
    target = {k: v for k, v in model.features.state_dict().items() if not skip(k)}
    if set(features) != set(target) or any(features[k].shape != target[k].shape for k in target):
        raise ValueError(f"{path}: its backbone is a {source.backbone} (norm {source.norm}); it cannot start this "
                         f"config's {cfg.backbone} (norm {cfg.norm}). Give init_from a checkpoint of the same backbone.")
    model.features.load_state_dict({k: v.to(target[k].dtype) for k, v in features.items()}, strict=False)
    return f"backbone from {path} (a {source.head} model after {ckpt.get('epoch', '?')} epochs)"


def amp_dtype(amp, device, rank=0):
    """The autocast dtype of ``amp`` on ``device``: None (fp32) on a CPU or with amp off; bf16 falls back to
    fp16 (with a word) on a GPU without bf16."""
    if amp == "off" or device.type != "cuda":
        return None
    if amp == "bf16" and not torch.cuda.is_bf16_supported():
        if rank == 0:
            print("warning: this GPU has no bf16; training with fp16 autocast and a gradient scaler.", flush=True)
        return torch.float16
    return torch.bfloat16 if amp == "bf16" else torch.float16


def learning_rate(cfg, epoch, step, steps_per_epoch):
    """The lr of one step: the paper's step decay (x lr_factor at each milestone epoch) times a linear warmup
    from warmup_factor over the first warmup_steps iterations."""
    lr = cfg.lr * cfg.lr_factor ** sum(epoch >= m for m in cfg.lr_milestones)
    done = epoch * steps_per_epoch + step
    if done < cfg.warmup_steps:
        lr *= cfg.warmup_factor + (1 - cfg.warmup_factor) * done / cfg.warmup_steps
    return lr


def read_checkpoint(path, device="cpu"):
    """The dict of a file written by ``rlelab train`` (or ``export``); one sentence for anything else."""
    try:
        ckpt = torch.load(path, map_location=device, weights_only=False)
    except FileNotFoundError:
        raise ValueError(f"{path}: checkpoint not found.") from None
    except Exception as e:
        raise ValueError(f"{path}: not a readable torch checkpoint ({type(e).__name__}).") from None
    if not isinstance(ckpt, dict) or "config" not in ckpt or "model" not in ckpt:
        raise ValueError(f"{path}: not a checkpoint written by `python -m rlelab train` (no config/model).")
    ckpt["config"] = {**TRAINED_BEFORE, **ckpt["config"]}
    return ckpt


# what a checkpoint written before these keys existed was trained with (their defaults now differ)
TRAINED_BEFORE = {"standardize": False, "sigma_init": 0.5, "warmup_steps": 0, "grad_clip": None, "channels_last": False}


def load_checkpoint(path, device="cpu"):
    """(model in eval mode, TrainConfig, checkpoint dict) from a file written by ``rlelab train``."""
    ckpt = read_checkpoint(path, device)
    cfg = make_config(ckpt["config"], where=path)
    model = model_from_config(dataclasses.replace(cfg, pretrained=None))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), cfg, ckpt


def export_checkpoint(src, dst):
    """A small inference checkpoint: config, history and fp16 weights, no optimizer state (about 1/6 the size)."""
    ckpt = read_checkpoint(src)
    weights = {k: v.half() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    atomic_save({"config": ckpt["config"], "model": weights, "history": ckpt["history"], "epoch": ckpt["epoch"]}, dst)


def atomic_save(obj, path):
    atomic_write(path, lambda f: torch.save(obj, f))


def write_csv(history, path):
    columns = sorted({k for row in history for k in row}, key=lambda k: (k not in ("epoch", "step"), k))

    def write(f):
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(history)

    atomic_write(path, write, binary=False)


def _seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _distributed():
    """(rank, world size, device), joining the process group when launched by torchrun."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) == 1:
        return 0, 1, torch.device("cuda" if torch.cuda.is_available() else "cpu")
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    if backend == "nccl":
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        return dist.get_rank(), dist.get_world_size(), torch.device("cuda", local)
    return dist.get_rank(), dist.get_world_size(), torch.device("cpu")


def per_joint_loss(model, batch, cfg):
    """(per-joint loss (B, K), per-joint weight (B, K), model output) of one batch, the loss in fp32."""
    out = model(batch["image"])  # under the caller's autocast; the loss and the flow run in fp32
    weight = batch["target_weight"]
    core = model.module if hasattr(model, "module") else model
    with torch.autocast(batch["image"].device.type, enabled=False):
        if isinstance(core, HeatmapModel):
            return heatmap_loss(out["heatmaps"], batch["heatmaps"], weight), torch.ones_like(weight), out
        options = {}
        if cfg.loss in FLOW_LOSSES:
            options["flow"] = core.flow
        if cfg.loss == "rle":
            options.update(q=cfg.q, variant=cfg.variant, with_log_s=cfg.with_log_s, standardize=cfg.standardize)
        return LOSSES[cfg.loss](out["mu_hat"], out["sigma_hat"], batch["joints"], **options).per_joint, weight, out


def reduce_loss(per_joint, weight, world):
    """(loss for backward, weighted sum, weight sum); see the module docstring for the scaling under DDP."""
    total = (per_joint * weight).sum()
    count = weight.sum().detach()
    global_count = count.clone()
    if world > 1:
        dist.all_reduce(global_count)
    return total * world / global_count.clamp_min(1e-12), total.detach(), count


def batch_loss(model, batch, cfg, world):
    """(loss for backward, weighted sum, weight sum) of one batch."""
    per_joint, weight, _ = per_joint_loss(model, batch, cfg)
    return reduce_loss(per_joint, weight, world)


def train_data_config(cfg):
    """What the trainer's loader workers make: uint8 crops (augmented if cfg.augment), heatmaps only for the heatmap model."""
    return TopDownConfig(input_size=tuple(cfg.input_size), augment=cfg.augment, heatmaps=cfg.head == "heatmap", uint8=True)


def place_model(model, cfg, device):
    """(model on ``device``, whether it and its inputs are channels_last: cfg.channels_last on CUDA only)."""
    channels_last = cfg.channels_last and device.type == "cuda"
    model = model.to(device)
    return (model.to(memory_format=torch.channels_last) if channels_last else model), channels_last


def to_device(batch, device, channels_last=False):
    """The tensors of a loader's batch on ``device`` (float64 affine maps stay on the CPU), images NHWC if asked."""
    batch = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) and v.dtype != torch.float64 else v for k, v in batch.items()}
    batch["image"] = normalize_images(batch["image"])  # uint8 crops become floats here, on the accelerator
    if channels_last:
        batch["image"] = batch["image"].contiguous(memory_format=torch.channels_last)
    return batch


def train_step(model, batch, cfg, optimizer, scaler, amp, world=1):
    """One optimizer step under autocast ``amp`` (a dtype or None), the gradient clipped at cfg.grad_clip:
    (per_joint, weight, out, loss, total, count, gradient norm before clipping), nothing synchronized."""
    with torch.autocast(batch["image"].device.type, dtype=amp or torch.float32, enabled=amp is not None):
        per_joint, weight, out = per_joint_loss(model, batch, cfg)
        loss, total, count = reduce_loss(per_joint, weight, world)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)  # clip the true gradient (a no-op without fp16's scaler)
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or math.inf)
    scaler.step(optimizer)
    scaler.update()
    return per_joint, weight, out, loss, total, count, grad_norm


def blown_up(per_joint, weight, batch):
    """A sentence naming the images and annotations of a batch whose joint losses are not finite."""
    rows = (~torch.isfinite(per_joint) & (weight > 0)).any(-1).nonzero()[:, 0].tolist()
    if not rows:
        return "every joint's loss is finite, their sum overflows"
    ids = [f"image {int(batch['image_id'][r])} / annotation {int(batch['ann_id'][r])}" for r in rows[:5]]
    return f"{len(rows)} of {len(per_joint)} people blew up ({', '.join(ids)}{', ...' if len(rows) > 5 else ''})"


RUN_FILES = ("last.pt", "best.pt", "metrics.csv", "config.yaml", "tensorboard")
# what a resumed run must share with the checkpoint: the model, its loss and its input
SAME_ON_RESUME = ("head", "backbone", "norm", "loss", "q", "variant", "with_log_s", "standardize", "input_size")
RLE_OPTIONS = ("q", "variant", "with_log_s", "standardize")


def claim_run_folder(out, resume=False, overwrite=False):
    """Make ``out`` this run's own: a lock (a second trainer on it refuses), temp files of a killed run removed,
    and a finished or started run never overwritten unless ``overwrite``. Returns the open lock file."""
    os.makedirs(out, exist_ok=True)
    lock = open(os.path.join(out, ".lock"), "a")
    try:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:
        pass  # no fcntl (Windows): no lock
    except OSError:
        lock.close()
        raise ValueError(f"{out}: another trainer is writing to this folder; wait for it or choose another --out.") from None
    if remove_temp_files(out):
        print(f"{out}: removed the temp files of an interrupted save.", flush=True)
    used = [name for name in RUN_FILES[:3] if os.path.exists(os.path.join(out, name))]
    if used and not resume:
        if not overwrite:
            lock.close()
            raise ValueError(f"{out}: holds a run already ({', '.join(used)}); continue it with --resume, replace it "
                             "with --overwrite, or choose another --out.")
        for name in RUN_FILES:
            path = os.path.join(out, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    return lock


def resume_state(cfg, device="cpu"):
    """The newest complete state saved in ``cfg.out``: last.pt or, if a kill came between the two saves of an
    epoch, best.pt; an unreadable file is skipped with a word. Refuses a config whose model or loss changed."""
    found = []
    for name in ("last.pt", "best.pt"):
        path = os.path.join(cfg.out, name)
        if not os.path.exists(path):
            continue
        try:
            ckpt = read_checkpoint(path, device)
            if "optimizer" not in ckpt or "epoch" not in ckpt:
                raise ValueError(f"{path}: no optimizer state or epoch (an exported checkpoint?).")
        except ValueError as e:
            print(f"warning: {e} Skipped.", flush=True)
            continue
        found.append((ckpt["epoch"], name, ckpt["config"], ckpt))
    if not found:
        raise ValueError(f"{cfg.out}: no readable last.pt or best.pt to resume from; train without --resume "
                         "(with --overwrite to replace what is there).")
    _, name, saved, ckpt = max(found, key=lambda f: f[0])
    saved = {**dataclasses.asdict(TrainConfig()), **saved}  # a key added since (and not in TRAINED_BEFORE): its default
    rle = cfg.head == "regression" and cfg.loss == "rle"  # q, variant, with_log_s, standardize only shape RLE's loss
    changed = [k for k in SAME_ON_RESUME if saved[k] != getattr(cfg, k) and (rle or k not in RLE_OPTIONS)]
    if changed:
        raise ValueError(f"{os.path.join(cfg.out, name)} was trained with " + ", ".join(f"{k}={saved.get(k)!r}" for k in changed)
                         + "; the config now says " + ", ".join(f"{k}={getattr(cfg, k)!r}" for k in changed)
                         + ". Resume with the same model and loss, or train into another --out.")
    return ckpt


def train(cfg, resume=False, progress=True, overwrite=False):
    """Train per ``cfg``; returns the history (one dict per epoch). Rank 0 owns the run folder, writes and
    evaluates. ``resume`` continues from the newest complete state; ``overwrite`` replaces a previous run."""
    rank, world, device = _distributed()
    lock = claim_run_folder(cfg.out, resume, overwrite) if rank == 0 else None
    try:
        return _train(cfg, resume, progress, rank, world, device)
    finally:
        if lock is not None:
            lock.close()


def _train(cfg, resume, progress, rank, world, device):
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} is global and must divide among {world} processes.")
    _seed_everything(cfg.seed)
    ann_file, image_dir = coco_paths(cfg.data, cfg.train_split)
    data_cfg = train_data_config(cfg)
    dataset = TopDownCOCO(ann_file, image_dir, data_cfg, seed=cfg.seed)
    per_rank = cfg.batch_size // world
    if len(dataset) == 0:
        raise ValueError(f"{ann_file}: no person box with a labelled joint; nothing to train on.")
    if len(dataset) < cfg.batch_size:
        raise ValueError(f"{ann_file}: {len(dataset)} person boxes, fewer than one batch of {cfg.batch_size}; lower batch_size.")
    sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed, drop_last=True)

    model = model_from_config(cfg)
    if cfg.init_from and not resume:
        said = init_backbone(model, cfg)
        if rank == 0 and progress:
            print(said, flush=True)
    model, channels_last = place_model(model, cfg, device)
    if world > 1 and cfg.norm == "sync" and device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    amp = amp_dtype(cfg.amp, device, rank)
    scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)
    history, start_epoch, best_ap = [], 0, -1.0
    last = os.path.join(cfg.out, "last.pt")
    if resume:
        ckpt = resume_state(cfg, device)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        history, start_epoch, best_ap = ckpt["history"], ckpt["epoch"], ckpt["best_ap"]
        torch.set_rng_state(ckpt["rng"])
        if start_epoch >= cfg.epochs and rank == 0:
            print(f"{cfg.out}: all {cfg.epochs} epochs are trained already (the checkpoint holds epoch {start_epoch}); "
                  "raise epochs to train on.", flush=True)
    ddp = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model

    writer = None
    if rank == 0:
        os.makedirs(cfg.out, exist_ok=True)
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(os.path.join(cfg.out, "tensorboard"), purge_step=start_epoch)
        except ImportError:
            pass
        with open(os.path.join(cfg.out, "config.yaml"), "w") as f:
            yaml.safe_dump(dataclasses.asdict(cfg), f, sort_keys=False)

    val = None
    if rank == 0 and cfg.eval_every:
        val_ann, val_images = coco_paths(cfg.data, cfg.val_split)
        val = (TopDownCOCO(val_ann, val_images, TopDownConfig(input_size=tuple(cfg.input_size), heatmaps=False), detections=cfg.val_detections), val_ann)
        shared = sorted(i for i, im in val[0].images.items() if dataset.images.get(i, {}).get("file_name") == im["file_name"])
        if shared:
            raise ValueError(f"{val_ann}: {len(shared)} images (ids {shared[:5]}) are in the training split too; the "
                             "validation AP would be measured on pictures the model trained on.")

    for epoch in range(start_epoch, cfg.epochs):
        sampler.set_epoch(epoch)
        dataset.epoch = epoch
        loader = torch.utils.data.DataLoader(dataset, batch_size=per_rank, sampler=sampler, num_workers=cfg.workers,
                                             drop_last=True, pin_memory=device.type == "cuda")
        steps = len(loader) if cfg.max_steps_per_epoch is None else min(len(loader), cfg.max_steps_per_epoch)
        sums = torch.zeros(2, dtype=torch.float64, device=device)
        sigmas, grad_norms = [], []
        ddp.train()
        start = time.time()
        bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress or rank != 0, leave=False)
        for step, batch in enumerate(loader):
            if step >= steps:
                break
            lr = learning_rate(cfg, epoch, step, steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = to_device(batch, device, channels_last)
            per_joint, weight, out, loss, total, count, grad_norm = train_step(ddp, batch, cfg, optimizer, scaler, amp, world)
            if not torch.isfinite(loss):  # the one wait for the accelerator per step, after the step is queued
                raise FloatingPointError(f"epoch {epoch + 1}, step {step + 1} (lr {lr:.3g}): the loss is {loss.item()}; "
                                         f"{blown_up(per_joint.detach(), weight, batch)}. Lower lr, keep warmup_steps "
                                         "and grad_clip on, or check those annotations. Nothing of this epoch was saved.")
            grad_norms.append(grad_norm)
            sums += torch.stack([total.double(), count.double()])
            if "sigma_hat" in out:  # masked at the epoch's end: a boolean index would wait for the accelerator
                sigmas.append((out["sigma_hat"].detach().float().mean(-1), weight > 0))
            bar.update()
            bar.set_postfix(loss=f"{(sums[0] / sums[1].clamp_min(1e-12)).item():.4f}")
        bar.close()
        if world > 1:
            dist.all_reduce(sums)
        if sums[1] == 0:
            raise ValueError(f"epoch {epoch + 1}: not one labelled joint fell inside its crop in {steps} steps, so the "
                             f"loss is 0 and nothing is learned; check that the keypoints of {ann_file} are image "
                             "pixels inside their boxes.")
        grad_norms = torch.stack(grad_norms).float()
        row = {"epoch": epoch + 1, "step": (epoch + 1) * steps, "loss": (sums[0] / sums[1].clamp_min(1e-12)).item(),
               "lr": lr, "grad_norm_max": grad_norms.max().item(), "seconds": round(time.time() - start, 2)}
        if cfg.grad_clip:
            row["clipped"] = int((grad_norms > cfg.grad_clip).sum())
        if sigmas:  # sigma_hat of the visible joints this epoch (rank 0's): the median, and the extremes
            sigmas = torch.cat([s[visible] for s, visible in sigmas])
            row.update(sigma_hat_median=sigmas.median().item(), sigma_hat_min=sigmas.min().item(),
                       sigma_hat_max=sigmas.max().item())
        core = ddp.module if world > 1 else ddp
        broken = [name for name, t in core.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
        if broken:  # the last step's update overflowed: never evaluate or save such weights
            kept = f"; {last} still holds epoch {epoch}" if epoch else ""
            raise FloatingPointError(f"epoch {epoch + 1}: {len(broken)} weight tensors are no longer finite (first: "
                                     f"{broken[0]}) though every loss was; lower lr ({cfg.lr:g}). Nothing of this "
                                     f"epoch was evaluated or saved{kept}.")
        if val is not None and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs):
            row.update(_evaluate(core, val, cfg, device, progress))
            if row["non_finite"] == len(val[0]):  # finite weights whose every output overflows: diverged as well
                raise FloatingPointError(f"epoch {epoch + 1}: every one of the {len(val[0])} validation predictions is "
                                         f"NaN or infinite though the weights are finite; lower lr ({cfg.lr:g}). "
                                         "Nothing of this epoch was saved.")
            if row["non_finite"]:
                print(f"warning: epoch {epoch + 1}: {row['non_finite']} of {len(val[0])} validation predictions are not "
                      "finite; they count as missed people.", flush=True)
        history.append(row)
        if rank == 0:
            state = {"config": dataclasses.asdict(cfg), "model": core.state_dict(), "optimizer": optimizer.state_dict(),
                     "scaler": scaler.state_dict(), "epoch": epoch + 1,
                     "history": history, "best_ap": best_ap, "rng": torch.get_rng_state()}
            if "AP" in row and row["AP"] > best_ap:
                state["best_ap"] = best_ap = row["AP"]
                atomic_save(state, os.path.join(cfg.out, "best.pt"))
            atomic_save(state, last)
            write_csv(history, os.path.join(cfg.out, "metrics.csv"))
            if writer is not None:
                for k, v in row.items():
                    if k != "epoch" and isinstance(v, float) and math.isfinite(v):
                        writer.add_scalar(k, v, epoch + 1)
                writer.flush()
            if progress:
                print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
        if world > 1:
            dist.barrier()
    if writer is not None:
        writer.close()
    return history


def _evaluate(model, val, cfg, device, progress):
    from .evaluate import evaluate

    dataset, ann_file = val
    metrics, _ = evaluate(model, dataset, ann_file, cfg.eval_batch_size, cfg.flip_test, 0, device, progress)
    return {k: metrics[k] for k in ("AP", "AP50", "AP75", "APM", "APL", "pearson", "non_finite")}
