"""The paper's Table 18 in small: L1 (direct regression), Laplace-sigma, DLE and RLE on SynthOCT's retina boundaries.

    python -m rlelab synthoct --out data/synthoct --n-train 2000 --n-val 200
    python benchmarks/synthoct_table.py --train --seeds 0 1 --parallel 2 --json data/synthoct_table.json
    python -m rlelab synthoct --out data/synthoct_110 --n-train 110 --n-val 50      # the DME set's size
    python benchmarks/synthoct_table.py --train --small --seeds 0                    # L1 and RLE on it

Trains (with ``--train``; a finished run is reused) configs/synthoct_mnv3_{l1,laplace,dle,rle}.yaml with --seed S
into runs/synthoct_mnv3_LOSS (seed 0) and runs/synthoct_mnv3_LOSS_sS, --parallel at a time with one thread each
(about 13 minutes a run that way on two cores), then scores each run's last epoch on 200 fresh scans (SynthOCT
seed 7, never trained or validated on): the mean absolute boundary error in scan pixels against the annotators'
rows (the paper's number), where the boundary is hidden and where seen, against the clean truth, and, for the
losses with a sigma_hat, the predicted |error| (sigma_hat x E|bar_mu|) where hidden and where seen, its calibration
(mean |error| / mean predicted |error|) and its Pearson correlation with the true |error|.

``--small`` does the same for L1 and RLE trained on 110 scans (the DME set's size) for about as many steps
(360 epochs of 6 steps of 16; runs/synthoct110_mnv3_LOSS).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from rlelab.checkpoints import load_checkpoint
from rlelab.data.synthoct import generate
from rlelab.evaluate import pearson
from rlelab.tasks import TASKS
from rlelab.tasks.oct import OCTScans, scan_errors
from rlelab.topdown import TopDownConfig

LOSSES = ("l1", "laplace", "dle", "rle")
SMALL_LOSSES = ("l1", "rle")  # the two ends of Table 18, on the DME set's 110 scans
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


SMALL = ["--data", "data/synthoct_110", "--epochs", "360", "--batch_size=16", "--lr_milestones=[270, 324]",
         "--eval_every=40"]  # 110 scans: 6 steps an epoch, 2160 steps in all (the 2000 scans' runs: 2480)


def run_dir(loss, seed, small=False):
    return os.path.join(ROOT, "runs", f"synthoct{'110' if small else ''}_mnv3_{loss}" + (f"_s{seed}" if seed else ""))


def train_missing(seeds, parallel, small=False):
    """Train every (loss, seed) whose run has not finished its epochs, ``parallel`` at a time, one thread each."""
    from rlelab.checkpoints import read_checkpoint

    todo = []
    for seed in seeds:
        for loss in SMALL_LOSSES if small else LOSSES:
            last = os.path.join(run_dir(loss, seed, small), "last.pt")
            if os.path.exists(last) and read_checkpoint(last)["epoch"] >= read_checkpoint(last)["config"]["epochs"]:
                continue
            todo.append([sys.executable, "-m", "rlelab", "train", "--config", f"configs/synthoct_mnv3_{loss}.yaml",
                         f"--seed={seed}", "--out", run_dir(loss, seed, small), "--overwrite", "--quiet"] + (SMALL if small else []))
    running = []
    while todo or running:
        while todo and len(running) < parallel:
            cmd = todo.pop(0)
            print("training", cmd[cmd.index("--out") + 1], flush=True)
            running.append(subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}))
        time.sleep(5)
        for p in [p for p in running if p.poll() is not None]:
            if p.returncode:
                raise SystemExit(f"training {p.args[p.args.index('--out') + 1]} failed (exit {p.returncode})")
            running.remove(p)


def score(path, scans):
    model, cfg, _ = load_checkpoint(path)
    dataset = OCTScans(*TASKS["oct"].paths(scans, "val"), TopDownConfig(input_size=tuple(cfg.input_size)))
    e = scan_errors(model, cfg, dataset)
    hidden = e["hidden"]
    row = {"MAE": e["error"].mean(), "MAE_hidden": e["error"][hidden].mean(), "MAE_seen": e["error"][~hidden].mean(),
           "MAE_truth": e["error_truth"].mean(), "MAE_truth_hidden": e["error_truth"][hidden].mean()}
    if e["predicted"] is not None:
        p = e["predicted"]
        row.update(pred_hidden=p[hidden].mean(), pred_seen=p[~hidden].mean(),
                   cal_hidden=e["error"][hidden].mean() / p[hidden].mean(),
                   cal_seen=e["error"][~hidden].mean() / p[~hidden].mean(),
                   pearson=pearson(p.reshape(-1), e["error_truth"].reshape(-1)))
    return {k: float(v) for k, v in row.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--train", action="store_true", help="train the runs that are missing or unfinished first")
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--small", action="store_true", help="L1 and RLE trained on 110 scans (data/synthoct_110)")
    parser.add_argument("--json", help="write the rows here too")
    args = parser.parse_args()
    if args.train:
        train_missing(args.seeds, args.parallel, args.small)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        scans = generate(os.path.join(tmp, "fresh"), 0, 200, seed=7)
        fresh = OCTScans(*TASKS["oct"].paths(scans, "val"))
        noise = np.abs(np.array([s["boundaries"] for s in fresh.samples]) - np.array([fresh.truth[s["id"]] for s in fresh.samples]))
        hidden = np.array([s["hidden"] for s in fresh.samples], dtype=bool)
        rows["the clean truth (the floor)"] = {"MAE": noise.mean(), "MAE_hidden": noise[hidden].mean(),
                                               "MAE_seen": noise[~hidden].mean(), "MAE_truth": 0.0}
        print(f"{hidden.mean():.1%} of the boundaries' columns are hidden", flush=True)
        for loss in LOSSES:
            for seed in args.seeds:
                path = os.path.join(run_dir(loss, seed, args.small), "last.pt")
                if os.path.exists(path):
                    rows[f"{loss} seed {seed}" + (", 110 scans" if args.small else "")] = score(path, scans)
    columns = ("MAE", "MAE_hidden", "MAE_seen", "MAE_truth", "pred_hidden", "pred_seen", "cal_hidden", "cal_seen", "pearson")
    print("| run | " + " | ".join(columns) + " |\n|---|" + "---:|" * len(columns))
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{float(row[c]):.2f}" if c in row else "-" for c in columns) + " |")
    for loss in LOSSES:
        mine = [r for n, r in rows.items() if n.startswith(loss + " ")]
        if len(mine) > 1:
            print(f"| {loss} mean of {len(mine)} | " + " | ".join(
                f"{np.mean([r[c] for r in mine]):.2f}" if c in mine[0] else "-" for c in columns) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({n: {k: round(float(v), 4) for k, v in r.items()} for n, r in rows.items()}, f, indent=1)


if __name__ == "__main__":
    main()
