"""One trainer for the pose models: regression or Integral Pose with any loss of rlelab.losses, or the heatmap
baseline; its loop of steps (``train_epoch``) trains the two-stage lifting model too (``rlelab.lifting``).

``python -m rlelab train --config configs/NAME.yaml`` (YAML of the TrainConfig fields, ``base:`` another config),
or the same under ``torchrun --nproc_per_node N`` for DDP on several GPUs / nodes (gloo on CPU). Writes to
``out``: last.pt (every epoch, atomically; ``--resume`` continues from it exactly), best.pt (the best value of
the task's metric: COCO's AP, MPII's PCKh, Human3.6M's MPJPE), metrics.csv and TensorBoard scalars. The task
(``rlelab.tasks``) says what the data, the joints, D and the metric are; the loop is the same for all.

The loss of a batch is the weighted mean over the visible joints of the *global* batch: each process
divides its sum by the global weight sum (all-reduced) times the world size, so that DDP's gradient
average equals the gradient of one process on the whole batch.
"""
import csv
import dataclasses
import itertools
import math
import os
import random
import time

import numpy as np
import torch
import torch.distributed as dist
import yaml
from tqdm.auto import tqdm

from .checkpoints import atomic_save, read_checkpoint
from .config import TrainConfig, changed_keys, heatmap_targets, make_config, model_from_config
from .crop import normalize_images
from .files import atomic_write, claim_folder
from .models import sync_batchnorm
from .tasks import TASKS
from .topdown import TopDownConfig


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
    if (source.pixel_mean, source.pixel_std) != (cfg.pixel_mean, cfg.pixel_std):
        raise ValueError(f"{path}: its backbone was trained on pictures normalized with mean {source.pixel_mean} and std "
                         f"{source.pixel_std} (null: ImageNet's); set the same pixel_mean and pixel_std in this config.")
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
    """(per-joint loss (B, K), per-joint weight (B, K), model output) of one batch, the loss in fp32: each model
    says how it is scored (``per_joint_loss``: the regression models with ``cfg.loss``, the heatmap model by MSE)."""
    out = model(batch["image"])  # under the caller's autocast; the loss and the flow run in fp32
    core = model.module if hasattr(model, "module") else model
    with torch.autocast(batch["image"].device.type, enabled=False):
        per_joint, weight = core.per_joint_loss(out, batch, cfg)
    return per_joint, weight, out


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
    """What the trainer's loader workers make: uint8 crops (augmented if cfg.augment), heatmaps where they are trained."""
    return TopDownConfig(input_size=tuple(cfg.input_size), augment=cfg.augment, heatmaps=heatmap_targets(cfg), uint8=True,
                         outside_labels=cfg.outside_crop_labels)


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


@dataclasses.dataclass
class Step:
    """What one optimizer step leaves, all on the accelerator (nothing waited for)."""

    loss: torch.Tensor  # what was backpropagated: this process's weighted sum over the global weight sum, x world
    total: torch.Tensor  # this process's weighted sum of the joint losses
    count: torch.Tensor  # this process's sum of the joint weights
    grad_norm: torch.Tensor  # the gradient's norm before clipping
    per_joint: torch.Tensor  # (batch, K) joint losses
    weight: torch.Tensor  # (batch, K) joint weights (0: unlabelled or outside the crop)
    out: dict  # the model's outputs (mu_hat, sigma_hat, ...)


def train_step(model, batch, cfg, optimizer, scaler, amp, world=1):
    """One optimizer step under autocast ``amp`` (a dtype or None), the gradient clipped at cfg.grad_clip."""
    with torch.autocast(batch["image"].device.type, dtype=amp or torch.float32, enabled=amp is not None):
        per_joint, weight, out = per_joint_loss(model, batch, cfg)
        loss, total, count = reduce_loss(per_joint, weight, world)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)  # clip the true gradient (a no-op without fp16's scaler)
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or math.inf)
    scaler.step(optimizer)
    scaler.update()
    return Step(loss, total, count, grad_norm, per_joint, weight, out)


def blown_up(per_joint, weight, batch):
    """A sentence naming the images and annotations of a batch whose joint losses are not finite."""
    rows = (~torch.isfinite(per_joint) & (weight > 0)).any(-1).nonzero()[:, 0].tolist()
    if not rows:
        return "every joint's loss is finite, their sum overflows"
    if "ann_id" in batch:
        ids = [f"image {int(batch['image_id'][r])} / annotation {int(batch['ann_id'][r])}" for r in rows[:5]]
    else:  # the lifting model's poses carry no ids
        ids = [f"pose {r} of the batch" for r in rows[:5]]
    return f"{len(rows)} of {len(per_joint)} people blew up ({', '.join(ids)}{', ...' if len(rows) > 5 else ''})"


RUN_FILES = ("last.pt", "best.pt", "metrics.csv", "config.yaml", "tensorboard")
# what a resumed run must share with the checkpoint: the task, the model, its loss and its input
SAME_ON_RESUME = ("task", "head", "backbone", "norm", "loss", "q", "variant", "with_log_s", "standardize", "input_size",
                  "mix_2d", "coord_norm", "pixel_mean", "pixel_std", "aux_heatmap_weight")


def claim_run_folder(out, resume=False, overwrite=False):
    """Make ``out`` this run's own (``files.claim_folder``: a lock, no run replaced unless ``overwrite``)."""
    return claim_folder(out, RUN_FILES, RUN_FILES[:3], resume=resume, overwrite=overwrite)


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
    changed = changed_keys(saved, dataclasses.asdict(cfg), SAME_ON_RESUME)
    if changed:
        raise ValueError(f"{os.path.join(cfg.out, name)} was trained with " + ", ".join(f"{k}={saved.get(k)!r}" for k in changed)
                         + "; the config now says " + ", ".join(f"{k}={getattr(cfg, k)!r}" for k in changed)
                         + ". Resume with the same model and loss, or train into another --out.")
    return ckpt


def train(cfg, resume=False, progress=True, overwrite=False):
    """Train per ``cfg``; returns the history (one dict per epoch). Rank 0 owns the run folder, writes and
    evaluates. ``resume`` continues from the newest complete state; ``overwrite`` replaces a previous run."""
    rank, world, device = _distributed()
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} is global and must divide among {world} processes.")
    most = 4 * (os.cpu_count() or 1)  # checked here, not in the config: a checkpoint from a bigger machine still loads
    if cfg.workers > most:
        raise ValueError(f"workers must be at most {most} (4 per CPU core here), got {cfg.workers}; each is a process "
                         "decoding pictures.")
    lock = claim_run_folder(cfg.out, resume, overwrite) if rank == 0 else None
    try:
        return _train(cfg, resume, progress, rank, world, device)
    finally:
        if lock is not None:
            lock.close()


def _train(cfg, resume, progress, rank, world, device):
    _seed_everything(cfg.seed)
    task = TASKS[cfg.task]
    dataset, sampler = _training_data(cfg, task, rank, world)
    val = _validation_data(cfg, task, dataset) if rank == 0 and cfg.eval_every else None

    model = model_from_config(cfg)
    if cfg.init_from and not resume:
        said = init_backbone(model, cfg)
        if rank == 0 and progress:
            print(said, flush=True)
    model, channels_last = place_model(model, cfg, device)
    if world > 1 and cfg.norm == "sync" and device.type == "cuda":
        model = sync_batchnorm(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    amp = amp_dtype(cfg.amp, device, rank)
    scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)
    history, start_epoch, best = _restore(model, optimizer, scaler, cfg, device, rank) if resume else ([], 0, None)
    ddp = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    writer = _open_logs(cfg, start_epoch) if rank == 0 else None

    run = Run(ddp, optimizer, scaler, amp, rank, world, device, channels_last,
              schedule=lambda epoch, step, steps: learning_rate(cfg, epoch, step, steps), data=dataset.ann_file)
    for epoch in range(start_epoch, cfg.epochs):
        row = train_epoch(run, *_epoch_batches(dataset, sampler, epoch, cfg, run), epoch, cfg, progress)
        core = ddp.module if world > 1 else ddp
        _check_weights(core, epoch, cfg)
        if val is not None and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs):
            try:
                row.update(_validate(core, val, task, epoch, cfg, device, progress))
            except ValueError as e:  # the scoring failed, not the model: the trained epoch is kept
                last = os.path.join(cfg.out, "last.pt")
                if rank == 0:
                    atomic_save(_run_state(cfg, core, optimizer, scaler, epoch, history + [row], best), last)
                raise ValueError(f"{e} ({last} holds epoch {epoch + 1}, trained but not scored: fix that and train on "
                                 "with --resume.)") from None
        history.append(row)
        if rank == 0:
            state = _run_state(cfg, core, optimizer, scaler, epoch, history, best)
            if task.metric in row and task.better(row[task.metric], best):
                state["best"] = best = row[task.metric]
                atomic_save(state, os.path.join(cfg.out, "best.pt"))
            atomic_save(state, os.path.join(cfg.out, "last.pt"))
            _log(row, history, writer, cfg, progress)
        if world > 1:
            dist.barrier()
    if writer is not None:
        writer.close()
    return history


def _restore(model, optimizer, scaler, cfg, device, rank):
    """Load the newest complete state of ``cfg.out`` (``resume_state``) into the model, optimizer, scaler and torch's
    generator; returns (history, the next epoch, the best value of the metric so far)."""
    ckpt = resume_state(cfg, device)
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scaler.load_state_dict(ckpt["scaler"])
    best = ckpt.get("best", ckpt.get("best_ap"))  # best_ap: checkpoints of the COCO-only trainer
    torch.set_rng_state(ckpt["rng"])
    if ckpt["epoch"] >= cfg.epochs and rank == 0:
        print(f"{cfg.out}: all {cfg.epochs} epochs are trained already (the checkpoint holds epoch {ckpt['epoch']}); "
              "raise epochs to train on.", flush=True)
    return ckpt["history"], ckpt["epoch"], None if best is None or best < 0 else best  # it began at -1


def _run_state(cfg, core, optimizer, scaler, epoch, history, best):
    """What last.pt and best.pt hold after ``epoch``: all that ``--resume`` needs to go on exactly."""
    return {"config": dataclasses.asdict(cfg), "model": core.state_dict(), "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(), "epoch": epoch + 1, "history": history, "best": best,
            "rng": torch.get_rng_state()}


def _training_data(cfg, task, rank, world):
    """The task's training split (augmented per cfg, with the people the task mixes in) and its sampler over the
    processes."""
    dataset, ann_file = task.training_set(cfg, train_data_config(cfg))
    if len(dataset) == 0:
        raise ValueError(f"{ann_file}: no person box with a labelled joint; nothing to train on.")
    if len(dataset) < cfg.batch_size:
        raise ValueError(f"{ann_file}: {len(dataset)} person boxes, fewer than one batch of {cfg.batch_size}; lower batch_size.")
    sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed,
                                                  drop_last=True)
    return dataset, sampler


def _validation_data(cfg, task, train_set):
    """The task's validation split, refused (before any training) if it is empty or shares a picture with the
    training split."""
    ann_file, image_dir = task.paths(cfg.data, cfg.val_split)
    val = task.dataset(ann_file, image_dir, TopDownConfig(input_size=tuple(cfg.input_size), heatmaps=False),
                       detections=cfg.val_detections)
    if len(val) == 0:
        raise ValueError(f"{ann_file}: the validation split holds no people to score {task.metric} on; add some, or "
                         "train with eval_every: 0.")
    names = {im["file_name"] for im in train_set.images.values()}
    shared = sorted(i for i, im in val.images.items() if im["file_name"] in names)
    if shared:
        raise ValueError(f"{ann_file}: {len(shared)} images (ids {shared[:5]}) are in the training split too; the "
                         f"validation {task.metric} would be measured on pictures the model trained on.")
    return val


def _open_logs(cfg, start_epoch):
    """The run's config.yaml, and a TensorBoard writer (None without tensorboard)."""
    os.makedirs(cfg.out, exist_ok=True)
    atomic_write(os.path.join(cfg.out, "config.yaml"),
                 lambda f: yaml.safe_dump(dataclasses.asdict(cfg), f, sort_keys=False), binary=False)
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(os.path.join(cfg.out, "tensorboard"), purge_step=start_epoch)


@dataclasses.dataclass
class Run:
    """What every epoch of a run shares: the model (DDP-wrapped on several processes), its optimizer, the precision,
    where it runs, its learning-rate schedule and the name of its training data (for errors)."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    amp: torch.dtype | None  # autocast's dtype, None: fp32
    rank: int
    world: int
    device: torch.device
    channels_last: bool
    schedule: callable  # (epoch, step, steps per epoch) -> the lr of that step
    data: str  # the training annotations, named when they teach nothing


def _epoch_batches(dataset, sampler, epoch, cfg, run):
    """(this epoch's batches of crops on the accelerator, their number): this process's share of the shuffled
    training set, at most cfg.max_steps_per_epoch of them."""
    sampler.set_epoch(epoch)
    dataset.epoch = epoch  # the augmentation's draws differ from epoch to epoch
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size // run.world, sampler=sampler,
                                         num_workers=cfg.workers, drop_last=True, pin_memory=run.device.type == "cuda")
    steps = len(loader) if cfg.max_steps_per_epoch is None else min(len(loader), cfg.max_steps_per_epoch)
    return (to_device(batch, run.device, run.channels_last) for batch in itertools.islice(loader, steps)), steps


def train_epoch(run, batches, steps, epoch, cfg, progress):
    """One epoch of ``steps`` optimizer steps over ``batches`` (dicts on the accelerator: "image", the model's input,
    "joints", "target_weight"), the lr of each from ``run.schedule``: the one loop of steps of the image models and of
    the lifting model (rlelab.lifting). Returns its row of metrics.csv (loss, lr, gradient norms, sigma_hat,
    seconds)."""
    ddp, optimizer, rank, world, device = run.model, run.optimizer, run.rank, run.world, run.device
    sums = torch.zeros(2, dtype=torch.float64, device=device)
    sigmas, grad_norms = [], []
    ddp.train()
    start = time.time()
    bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress or rank != 0, leave=False)
    for step, batch in enumerate(batches):
        lr = run.schedule(epoch, step, steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        done = train_step(ddp, batch, cfg, optimizer, run.scaler, run.amp, world)
        if not torch.isfinite(done.loss):  # the one wait for the accelerator per step, after the step is queued
            raise FloatingPointError(f"epoch {epoch + 1}, step {step + 1} (lr {lr:.3g}): the loss is {done.loss.item()}; "
                                     f"{blown_up(done.per_joint.detach(), done.weight, batch)}. Lower lr, keep "
                                     "grad_clip on (and the warmup, where there is one), or check those annotations. "
                                     "Nothing of this epoch was saved.")
        grad_norms.append(done.grad_norm)
        sums += torch.stack([done.total.double(), done.count.double()])
        if "sigma_hat" in done.out:  # masked at the epoch's end: a boolean index would wait for the accelerator
            sigmas.append((done.out["sigma_hat"].detach().float().mean(-1), done.weight > 0))
        bar.update()
        bar.set_postfix(loss=f"{(sums[0] / sums[1].clamp_min(1e-12)).item():.4f}")
    bar.close()
    if world > 1:
        dist.all_reduce(sums)
    if sums[1] == 0:
        raise ValueError(f"epoch {epoch + 1}: not one labelled joint fell inside its crop in {steps} steps, so the "
                         f"loss is 0 and nothing is learned; check that the keypoints of {run.data} are image "
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
    return row


def _check_weights(model, epoch, cfg):
    """Refuse weights that are no longer finite (the last step's update overflowed): never evaluated or saved."""
    broken = [name for name, t in model.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if broken:
        kept = f"; {os.path.join(cfg.out, 'last.pt')} still holds epoch {epoch}" if epoch else ""
        raise FloatingPointError(f"epoch {epoch + 1}: {len(broken)} weight tensors are no longer finite (first: "
                                 f"{broken[0]}) though every loss was; lower lr ({cfg.lr:g}). Nothing of this "
                                 f"epoch was evaluated or saved{kept}.")


def _validate(model, val, task, epoch, cfg, device, progress):
    """The task's metrics (task.metrics) on the validation split; a model whose every prediction overflows is refused."""
    from .evaluate import evaluate

    metrics, _ = evaluate(model, val, task, cfg.eval_batch_size, cfg.flip_test, 0, device, progress)
    if metrics["non_finite"] == len(val):  # finite weights whose every output overflows: diverged as well
        raise FloatingPointError(f"epoch {epoch + 1}: every one of the {len(val)} validation predictions is NaN or "
                                 f"infinite though the weights are finite; lower lr ({cfg.lr:g}). Nothing of this "
                                 "epoch was saved.")
    if metrics["non_finite"]:
        print(f"warning: epoch {epoch + 1}: {metrics['non_finite']} of {len(val)} validation predictions are not "
              "finite; they count as missed people.", flush=True)
    return {k: metrics[k] for k in task.metrics + ("non_finite",)}


def _log(row, history, writer, cfg, progress):
    """metrics.csv (all epochs), TensorBoard scalars and the epoch's line."""
    write_csv(history, os.path.join(cfg.out, "metrics.csv"))
    if writer is not None:
        for k, v in row.items():
            if k != "epoch" and isinstance(v, float) and math.isfinite(v):
                writer.add_scalar(k, v, row["epoch"])
        writer.flush()
    if progress:
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
