"""The two-stage model of Human3.6M (Table 8): lift 2-D joints to 3-D with the fully connected baseline of
Martinez et al. (2017), trained with L2, L1, DLE or RLE (or any loss of rlelab.losses).

    python -m rlelab lift --data DIR --loss rle --out runs/lift_rle [--epochs 40]

The input is the 17 ground-truth 2-D joints in normalized camera coordinates ((u - c) / f), relative to the root
and standardized by the training set's mean and std (Martinez et al.'s normalization); the output, for the 16
joints other than the root, is mu_hat and sigma_hat of the 3-D joint relative to the root, in metres, camera
axes: sigma_hat = sigmoid(.) is at most 1 m. With a flow loss a RealNVP over the 3-D deviation bar_mu (the
reference code's masks) trains beside it. Scored by MPJPE and PA-MPJPE in mm over the 17 joints (the root's
error is 0 after root alignment, as in the RLE code).
"""
import dataclasses
import json
import math
import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .evaluate import pearson
from .files import atomic_write, claim_folder
from .flows import make_flow
from .losses import LOSSES, confidence, sigma_hat_from_logits
from .models.regression import regression_loss
from .tasks.coco import COCO_KEYPOINTS
from .tasks.coco import LAYOUT as COCO_LAYOUT
from .tasks.h36m import LAYOUT as H36M
from .tasks.h36m import TO_H36M, h36m_annotations, mpjpe, pa_mpjpe, read_h36m
from .train import Run, train_epoch


@dataclass
class LiftConfig:
    data: str = "data/synth3d"  # a Human3.6M-form folder: annotations/h36m_{train,val}.{json,npz}
    loss: str = "rle"
    q: str = "laplace"  # RLE's options, as TrainConfig's
    variant: str = "paper"
    with_log_s: bool = False
    standardize: bool = False  # measured: Eq. 8 without log s lifts best (docs/results/human36m.md)
    width: int = 1024  # Martinez et al.: 1024 units, two residual blocks, dropout 0.5, batch norm
    blocks: int = 2
    dropout: float = 0.5
    epochs: int = 40
    batch_size: int = 256
    lr: float = 1e-3
    lr_decay: float = 0.96  # per epoch (Martinez et al. decay exponentially)
    grad_clip: float = 35.0  # the RLE code's Human3.6M config
    sigma_init: float = 0.1  # sigma_hat at the start, metres
    seed: int = 0
    out: str = "runs/lift_rle"


def lifting_input(pixels, f, c):
    """The model's input from 2-D joints (..., 17, 2) in pixels: normalized camera coordinates (u - c) / f,
    relative to the root (joint 0)."""
    x = (np.asarray(pixels, dtype=np.float64) - np.asarray(c)) / np.asarray(f)
    return x - x[..., :1, :]


def lifting_arrays(samples):
    """(inputs (N, 17, 2) of ``lifting_input``, targets (N, 16, 3) root-relative metres) of Human3.6M-form
    samples (``rlelab.tasks.h36m.read_h36m``)."""
    x = np.stack([lifting_input(s["keypoints"][:, :2], s["f"], s["c"]) for s in samples])
    y = np.stack([s["joint_cam"] for s in samples]) / 1000
    return x, (y - y[:, :1])[:, 1:]


IMAGE_LAYOUT = COCO_LAYOUT  # the joints of the 2-D poses h36m_from_coco takes: a COCO-layout model's


def h36m_from_coco(keypoints):
    """COCO's 17 joints (17, 2+) -> Human3.6M's 17 (17, 2), for lifting a 2-D pose of the COCO-trained model.
    The joints ``TO_H36M`` labels (the limbs; the pelvis between the hips, the thorax between the shoulders) come
    from it; the lifting input needs the others too, built as an approximation: the spine halfway between pelvis
    and thorax, the neck/nose at COCO's nose and the head above the eyes by a third of the eyes-to-thorax distance."""
    k = np.asarray(keypoints, dtype=np.float64)[:, :2]
    h36m = np.stack([k[list(src)].mean(0) if src else np.zeros(2) for src in TO_H36M["coco"]])
    joint, coco = H36M.keypoints.index, COCO_KEYPOINTS.index
    thorax = h36m[joint("thorax")]
    eyes = (k[coco("left_eye")] + k[coco("right_eye")]) / 2
    h36m[joint("spine")] = (h36m[joint("pelvis")] + thorax) / 2
    h36m[joint("neck")] = k[coco("nose")]
    h36m[joint("head")] = eyes + (eyes - thorax) / 3
    return h36m


@torch.no_grad()
def error_scale(model, cfg):
    """Per camera axis (3,), what turns sigma_hat into the std of the predicted error mu_g - mu_hat: the std of
    bar_mu under the density the loss fitted (``Loss.moments``; Eq. 8 leaves bar_mu's scale free, so sigma_hat alone
    is not the error's scale): 1 for the standardized RLE and a Gaussian, sqrt 2 for a unit Laplace."""
    return LOSSES[cfg.loss].moments(model.flow, cfg, 3)[1].double().cpu().numpy()


@torch.no_grad()
def lift_pose(model, pixels, f, c):
    """(mu_hat, sigma_hat), each (17, 3) in metres relative to the root (the root's row is 0), of one 2-D pose
    (17, 2) in pixels seen by a camera of focal length f and principal point c (px)."""
    model.eval()
    out = model(torch.as_tensor(lifting_input(pixels, f, c)[None], dtype=torch.float32))
    zero = np.zeros((1, 3))
    return (np.concatenate([zero, out["mu_hat"][0].double().numpy()]),
            np.concatenate([zero, out["sigma_hat"][0].double().numpy()]))


class Residual(nn.Module):
    def __init__(self, width, dropout):
        super().__init__()
        layer = lambda: [nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(dropout)]
        self.net = nn.Sequential(*layer(), *layer())

    def forward(self, x):
        return x + self.net(x)


class LiftingModel(nn.Module):
    """Martinez et al.'s baseline: Linear -> [BN, ReLU, dropout] -> residual blocks -> Linear to K-1 joints x 2D
    (mu_hat, sigma_hat logits). ``mean``/``std`` standardize the input (buffers, saved with the weights)."""

    def __init__(self, num_joints=17, width=1024, blocks=2, dropout=0.5, flow=False, sigma_init=0.1):
        super().__init__()
        self.num_joints = num_joints
        self.register_buffer("mean", torch.zeros(num_joints * 2))
        self.register_buffer("std", torch.ones(num_joints * 2))
        self.net = nn.Sequential(nn.Linear(num_joints * 2, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(dropout),
                                 *[Residual(width, dropout) for _ in range(blocks)], nn.Linear(width, (num_joints - 1) * 6))
        with torch.no_grad():
            self.net[-1].bias.view(num_joints - 1, 6)[:, 3:] = math.log(sigma_init / (1 - sigma_init))
        self.flow = make_flow(3) if flow else None

    def forward(self, joints_2d):
        x = (joints_2d.reshape(len(joints_2d), -1) - self.mean) / self.std
        out = self.net(x).view(-1, self.num_joints - 1, 6)
        return {"mu_hat": out[..., :3], "sigma_hat": sigma_hat_from_logits(out[..., 3:])}

    def per_joint_loss(self, out, batch, cfg):
        """(per-joint loss (B, 16), per-joint weight (B, 16)) of a batch of ``cfg.loss`` with this model's flow."""
        return regression_loss(out, batch, cfg, self.flow), batch["target_weight"]


def model_from_lift_config(cfg):
    """The (untrained) lifting model a LiftConfig describes, with a 3-D flow for a flow loss."""
    return LiftingModel(width=cfg.width, blocks=cfg.blocks, dropout=cfg.dropout, flow=LOSSES[cfg.loss].trains_flow,
                        sigma_init=cfg.sigma_init)


def _with_root(joints):
    """(N, 16, 3) root-relative joints -> (N, 17, 3) with the root at 0."""
    return np.concatenate([np.zeros((len(joints), 1, 3)), joints], 1)


@torch.no_grad()
def evaluate_lifting(model, x, y, sigma=True, batch_size=1024):
    """MPJPE and PA-MPJPE (mm) of ``model`` on inputs x (N, 17, 2) against root-relative targets y (N, 16, 3) m,
    and (``sigma``: a loss that gives sigma_hat a meaning) the Pearson correlation of the mean confidence (Eq. 9)
    with -MPJPE per person."""
    was, device = model.training, model.mean.device
    model.eval()
    try:
        outs = [model(torch.as_tensor(x[i:i + batch_size], dtype=torch.float32, device=device))
                for i in range(0, len(x), batch_size)]
    finally:
        model.train(was)
    mu = torch.cat([o["mu_hat"] for o in outs]).double().cpu().numpy()
    if not np.isfinite(mu).all():
        raise ValueError("the lifting model predicts a NaN or infinity; it diverged (lower the lr).")
    pred, gt = _with_root(mu) * 1000, _with_root(y) * 1000
    error = mpjpe(pred, gt)
    metrics = {"MPJPE": float(error.mean()), "PA-MPJPE": float(pa_mpjpe(pred, gt).mean())}
    conf = torch.cat([confidence(o["sigma_hat"]).mean(-1) for o in outs]).double().cpu().numpy()
    metrics["pearson"] = pearson(conf, -error) if sigma else float("nan")
    return metrics


def _check(cfg):
    if cfg.loss not in LOSSES:
        raise ValueError(f"lift: unknown loss {cfg.loss!r}; choose one of {', '.join(LOSSES)}.")
    problem = LOSSES[cfg.loss].problem(cfg)
    if problem:
        raise ValueError(f"lift: {problem}")
    if cfg.epochs < 1 or cfg.batch_size < 2 or not cfg.lr > 0 or not 0 < cfg.sigma_init < 1:
        raise ValueError(f"lift: epochs {cfg.epochs}, batch_size {cfg.batch_size}, lr {cfg.lr}, sigma_init "
                         f"{cfg.sigma_init}; they need epochs >= 1, batch_size >= 2, lr > 0 and sigma_init in (0, 1).")
    if cfg.width < 1 or cfg.blocks < 0 or not 0 <= cfg.dropout < 1:
        raise ValueError(f"lift: width {cfg.width}, blocks {cfg.blocks}, dropout {cfg.dropout}; they need width >= 1, "
                         "blocks >= 0 and dropout in [0, 1).")


def train_lifting(cfg, progress=True, overwrite=False, resume=False):
    """Train on ``cfg.data``'s train split (on the GPU where there is one), score on its val split each epoch;
    write ``cfg.out``/lift.pt (the model, its config and metrics) and metrics.json after every epoch, refusing to
    replace a lift.pt already there unless ``overwrite`` (checked, with the trainer's lock, before the work:
    files.claim_folder). Until the last epoch lift.pt also holds what ``resume`` needs to go on exactly (the
    optimizer, the schedule, the generators); the finished one holds the model alone. Returns (model on the CPU,
    history)."""
    _check(cfg)
    lock = claim_folder(cfg.out, LIFT_FILES, LIFT_FILES, resume=resume, overwrite=overwrite) if cfg.out else None
    try:
        return _train_lifting(cfg, progress, _resume_state(cfg) if resume else None)
    finally:
        if lock is not None:
            lock.close()


LIFT_FILES = ("lift.pt", "metrics.json")


def _resume_state(cfg):
    """The state of an interrupted ``lift`` in ``cfg.out``, refused if it finished or was trained otherwise."""
    from .checkpoints import read_checkpoint

    path = os.path.join(cfg.out or "", "lift.pt")
    if not os.path.exists(path):
        raise ValueError(f"{path}: nothing to resume; train without --resume.")
    ckpt = read_checkpoint(path)
    if ckpt.get("kind") != "lifting" or "optimizer" not in ckpt:
        raise ValueError(f"{path}: a finished lifting run (its {len(ckpt.get('history', []))} epochs done, no optimizer "
                         "state); train a new one, with --overwrite or into another --out.")
    saved, now = ckpt["config"], dataclasses.asdict(cfg)
    changed = sorted(k for k in now if k not in ("epochs", "out") and saved.get(k) != now[k])
    if changed:
        raise ValueError(f"{path} was trained with " + ", ".join(f"{k}={saved.get(k)!r}" for k in changed) + "; now "
                         + ", ".join(f"{k}={now[k]!r}" for k in changed) + ". Resume with the same settings.")
    return ckpt


def _save_lifting(cfg, model, history, resume_from=None):
    """lift.pt and metrics.json of the epochs so far; ``resume_from``: (optimizer, batch generator) of an unfinished
    run, kept in lift.pt for ``--resume``."""
    state = {"kind": "lifting", "config": dataclasses.asdict(cfg),
             "model": {k: v.cpu() for k, v in model.state_dict().items()}, "history": history}
    if resume_from is not None:
        opt, gen = resume_from
        state.update(optimizer=opt.state_dict(), generator=gen.get_state(), rng=torch.get_rng_state(),
                     epoch=len(history),  # dropout draws from torch's generators
                     cuda_rng=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [])
    atomic_write(os.path.join(cfg.out, "lift.pt"), lambda f: torch.save(state, f))
    atomic_write(os.path.join(cfg.out, "metrics.json"), lambda f: json.dump(history, f, indent=1), binary=False)


def lift_learning_rate(cfg, epoch):
    """lr x lr_decay^epoch, multiplied out epoch by epoch (as torch's ExponentialLR, which trained the shipped model)."""
    lr = cfg.lr
    for _ in range(epoch):
        lr *= cfg.lr_decay
    return lr


def _epoch_batches(x, y, generator, cfg):
    """(this epoch's batches, their number): the poses shuffled by ``generator``, cfg.batch_size at a time, a last
    batch of one dropped (batch norm needs two). Every joint of every pose is labelled."""
    order = torch.randperm(len(x), generator=generator).to(x.device)
    starts = [i for i in range(0, len(order), cfg.batch_size) if len(order) - i >= 2]
    visible = torch.ones(y.shape[:2], device=y.device)
    return ({"image": x[idx], "joints": y[idx], "target_weight": visible[idx]}  # "image": the model's input
            for idx in (order[i:i + cfg.batch_size] for i in starts)), len(starts)


def _train_lifting(cfg, progress, ckpt=None):
    spec = LOSSES[cfg.loss]
    torch.manual_seed(cfg.seed)
    train_file = h36m_annotations(cfg.data, "train")
    x, y = lifting_arrays(read_h36m(train_file)[1])
    vx, vy = lifting_arrays(read_h36m(h36m_annotations(cfg.data, "val"))[1])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = model_from_lift_config(cfg)
    flat = torch.as_tensor(x, dtype=torch.float32).reshape(len(x), -1)
    model.mean.copy_(flat.mean(0))
    model.std.copy_(flat.std(0).clamp_min(1e-6))
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    xt, yt = (torch.as_tensor(a, dtype=torch.float32, device=device) for a in (x, y))
    gen = torch.Generator().manual_seed(cfg.seed)
    history = []
    if ckpt is not None:  # an interrupted run: on from its last epoch, exactly
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        gen.set_state(ckpt["generator"])
        torch.set_rng_state(ckpt["rng"])
        if ckpt.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["cuda_rng"])
        history = ckpt["history"]
    # The image models' loop of steps (rlelab.train.train_epoch); an epoch's batches are slices of two arrays already
    # on the device (no loader, workers or DDP: a few MB of joints), trained in fp32.
    run = Run(model, opt, torch.amp.GradScaler("cuda", enabled=False), amp=None, rank=0, world=1, device=device,
              channels_last=False, schedule=lambda epoch, step, steps: lift_learning_rate(cfg, epoch), data=train_file)
    for epoch in tqdm(range(len(history), cfg.epochs), desc=f"lift {cfg.loss}", disable=not progress):
        row = train_epoch(run, *_epoch_batches(xt, yt, gen, cfg), epoch, cfg, progress=False)
        history.append({**row, **evaluate_lifting(model, vx, vy, spec.has_sigma)})
        if cfg.out:  # every epoch: a killed run keeps its work
            _save_lifting(cfg, model, history, None if epoch + 1 == cfg.epochs else (opt, gen))
    return model.cpu(), history


def load_lifting(path, ckpt=None):
    """(model, config) of a lift.pt (``ckpt``: its content, when already read); one sentence for anything else."""
    from .checkpoints import read_checkpoint

    ckpt = ckpt or read_checkpoint(path)
    if ckpt.get("kind") != "lifting":
        raise ValueError(f"{path}: not a lifting checkpoint (written by `python -m rlelab lift`).")
    cfg = LiftConfig(**ckpt["config"])
    model = model_from_lift_config(cfg)
    model.load_state_dict(ckpt["model"])
    return model.eval(), cfg

