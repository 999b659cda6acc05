"""Tables 8 and 9 in small: Human3.6M's two-stage (lifting) and single-stage models on Synth3D.

    python benchmarks/h36m_table.py [--poses data/synth3d_poses] [--epochs 30] [--width 512] \
        [--losses l2,l1,dle,rle,rle-std] [--single runs/synth3d_res18_{rle,l1}/best.pt] [--out benchmarks/h36m_table.md]

Lifting (Table 8): Martinez et al.'s FC baseline from the ground-truth 2-D joints to 3-D, trained with each loss
on the same Synth3D poses (generated with --no-images when --poses does not exist: 2000 train sequences of 8
frames whose 3-D labels carry Student-t (nu = 3) noise, 250 clean val sequences), the same seed, batches and
schedule; the last epoch is scored (no choice by the val metric). Single-stage (Table 9): each checkpoint of
``rlelab train`` on its Synth3D val split and on the four real Human3.6M samples (a format check: a model that
has seen only drawn people). MPJPE and PA-MPJPE in mm, and the Pearson correlation of the confidence (Eq. 9) with
-MPJPE per person.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from rlelab.checkpoints import load_checkpoint  # noqa: E402
from rlelab.config import method  # noqa: E402
from rlelab.topdown import TopDownConfig  # noqa: E402
from rlelab.data.synth3d import Synth3DConfig, generate  # noqa: E402
from rlelab.tasks.h36m import read_h36m  # noqa: E402
from rlelab.evaluate import evaluate  # noqa: E402
from rlelab.tasks.h36m import mpjpe, pa_mpjpe  # noqa: E402
from rlelab.files import atomic_write  # noqa: E402
from rlelab.lifting import LiftConfig, train_lifting  # noqa: E402
from rlelab.tasks import H36M  # noqa: E402

REAL = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "real-samples", "h36m")
NAMES = {"l2": "L2 (Martinez et al.)", "l1": "L1", "dle": "DLE", "rle": "RLE (Eq. 8, the lifting default)",
         "rle-std": "RLE (standardized, the image trainer's default)"}
OPTIONS = {"rle-std": {"loss": "rle", "standardize": True}}  # a row's LiftConfig fields (else: its loss alone)


def fmt(metrics):
    pearson = metrics["pearson"]
    return f"{metrics['MPJPE']:.1f} | {metrics['PA-MPJPE']:.1f} | {'-' if pearson != pearson else f'{pearson:.2f}'}"


def lifting_rows(args):
    if not os.path.exists(args.poses):
        generate(args.poses, 2000, 250, seed=0, config=Synth3DConfig(images=False), progress=True)
    rows = ["| lifting loss | MPJPE | PA-MPJPE | Pearson(c, -MPJPE) | train s |", "|---|---|---|---|---|"]
    for loss in args.losses.split(","):
        start = time.time()
        options = OPTIONS.get(loss, {"loss": loss})
        _, history = train_lifting(LiftConfig(data=args.poses, epochs=args.epochs, width=args.width, out=None, **options),
                                   progress=True)
        rows.append(f"| {NAMES.get(loss, loss)} | {fmt(history[-1])} | {time.time() - start:.0f} |")
        print(rows[-1], flush=True)
    return rows


def mean_pose_row(data):
    """The prior a model must beat: the mean root-relative training pose (camera axes), for every val person."""
    root_relative = lambda samples: np.stack([s["joint_cam"] - s["joint_cam"][0] for s in samples])
    train = root_relative(read_h36m(H36M.paths(data, "train")[0])[1])
    val = root_relative(read_h36m(H36M.paths(data, "val")[0])[1])
    guess = np.broadcast_to(train.mean(0), val.shape)
    return f"| mean training pose (the prior) | {mpjpe(guess, val).mean():.1f} | {pa_mpjpe(guess, val).mean():.1f} | - | - | - |"


def single_stage_rows(args):
    rows = ["| single-stage | Synth3D val: MPJPE | PA-MPJPE | Pearson(c, -MPJPE) | real samples: MPJPE | PA-MPJPE |",
            "|---|---|---|---|---|---|"]
    rows.append(mean_pose_row(load_checkpoint(args.single[0])[1].data))
    print(rows[-1], flush=True)
    for path in args.single:
        model, cfg, ckpt = load_checkpoint(path)
        data = TopDownConfig(input_size=tuple(cfg.input_size), heatmaps=False)
        val = evaluate(model, H36M.dataset(*H36M.paths(cfg.data, "val"), data), H36M)[0]
        cells = f"| {method(cfg)} ({cfg.backbone}, {cfg.input_size[0]}x{cfg.input_size[1]}, epoch {ckpt['epoch']}) | {fmt(val)}"
        real = os.path.join(REAL, "test_h36m_body3d.npz")
        if os.path.exists(real):
            r = evaluate(model, H36M.dataset(real, REAL, data), H36M)[0]
            cells += f" | {r['MPJPE']:.0f} | {r['PA-MPJPE']:.0f} |"
        else:
            cells += " | - | - |"
        rows.append(cells)
        print(rows[-1], flush=True)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--poses", default="data/synth3d_poses", help="Synth3D poses for lifting (made when absent)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--width", type=int, default=512, help="units of the FC layers (Martinez et al.: 1024)")
    p.add_argument("--losses", default="l2,l1,dle,rle,rle-std", help="rle-std: RLE with standardize on")
    p.add_argument("--single", nargs="*", default=[], help="single-stage checkpoints of `rlelab train` (task h36m)")
    p.add_argument("--out", default="benchmarks/h36m_table.md")
    args = p.parse_args()
    rows = (lifting_rows(args) if args.losses else []) + [""] + (single_stage_rows(args) if args.single else [])
    atomic_write(args.out, lambda f: f.write("\n".join(rows) + "\n"), binary=False)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
