"""The paper's comparison in small: one SynthPose set, one backbone, one CPU budget, eight methods.

    python -m rlelab synthpose --out data/synthpose --n-train 4000 --n-val 200
    python benchmarks/synthpose_table.py --epochs 20 --parallel 2

Trains L2, L1, Gaussian-sigma, Laplace-sigma, DLE, RLE (standardized, the trainer's default), RLE as Eq. 8
writes it (rle_eq8), the SimpleBaseline heatmap model and Integral Pose (L1; and with RLE) (or the --methods given) from
configs/synthpose_res18_rle.yaml with only the loss/head changed, for the first --epochs epochs of its schedule,
--parallel runs at a time with one thread each. A run already in OUT/NAME is reused, and continued (--resume) if
it is shorter; ``--reuse rle=runs/synthpose_res18_rle`` takes a method's rows from another run of the same
config (its first --epochs epochs are the same training). Prints the AP table with the Pearson correlation of
the confidence with the OKS, the AP a perfect model would get (SynthPose's clean joints against its noisy
labels) and the AP learning curves. Then, as ratios on this machine: the training-step time of RLE vs L1 with
ResNet-50 at 256x192 (the flow's cost) and the inference latency of regression vs heatmap.
"""
import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time

import torch
import yaml

from rlelab.checkpoints import read_checkpoint
from rlelab.config import model_from_config
from rlelab.config import changed_keys, load_config, make_config
from rlelab.train import batch_loss

METHODS = {  # name: config overrides; the paper's expected order is RLE >= heatmap > laplace > l1 > l2, RLE > DLE
    "l2": {"loss": "l2"}, "l1": {"loss": "l1"}, "gaussian": {"loss": "gaussian"}, "laplace": {"loss": "laplace"},
    "dle": {"loss": "dle"}, "rle": {"loss": "rle"}, "rle_eq8": {"loss": "rle", "standardize": False},
    "heatmap": {"head": "heatmap"}, "integral": {"head": "integral", "loss": "l1"}, "integral_rle": {"head": "integral"},
}


def load_run(run, name, base):
    """RUN/last.pt if it is the benchmark's training of method NAME (None if absent); one sentence if it is not."""
    path = os.path.join(run, "last.pt")
    if not os.path.exists(path):
        return None
    ckpt = read_checkpoint(path)
    expected = {**dataclasses.asdict(base), **METHODS[name]}
    if changed_keys(ckpt["config"], expected, [k for k in expected if k not in ("out", "epochs", "eval_every")]):
        raise ValueError(f"{path}: not the benchmark's training of {name}; delete it or choose another --out.")
    return ckpt


def train_all(base, args):
    waiting, running = list(args.methods), []
    while waiting or running:
        while waiting and len(running) < args.parallel:
            name = waiting.pop(0)
            out = os.path.join(args.out, name)
            if name in args.reuse:
                continue
            ckpt = load_run(out, name, base)
            done = ckpt["epoch"] if ckpt else 0
            if done >= args.epochs:
                continue
            cfg = dataclasses.replace(base, **METHODS[name], out=out, epochs=args.epochs)
            os.makedirs(out, exist_ok=True)
            path = os.path.join(out, "bench.yaml")
            with open(path, "w") as f:
                yaml.safe_dump(dataclasses.asdict(cfg), f)
            log = open(os.path.join(out, "train.log"), "a")
            code = "import torch, sys; torch.set_num_threads(1); from rlelab.__main__ import main; main(sys.argv[1:])"
            resume = ["--resume"] if done else []  # a shorter run of the same config continues where it stopped
            proc = subprocess.Popen([sys.executable, "-c", code, "train", "--config", path, "--quiet", *resume], stdout=log, stderr=log,
                                    env={**os.environ, "OMP_NUM_THREADS": "1"})
            running.append((name, proc, time.time()))
            print(f"training {name} from epoch {done} ...", flush=True)
        for item in list(running):
            name, proc, start = item
            if proc.poll() is not None:
                running.remove(item)
                status = "done" if proc.returncode == 0 else f"FAILED (see {args.out}/{name}/train.log)"
                print(f"{name}: {status} in {time.time() - start:.0f} s", flush=True)
        time.sleep(2)


def history_of(name, args, base):
    """A method's evaluated epochs up to --epochs (from its own run or a reused one), or None if unfinished."""
    ckpt = load_run(args.reuse.get(name, os.path.join(args.out, name)), name, base)
    if ckpt is None or ckpt["epoch"] < args.epochs:
        return None
    history = [r for r in ckpt["history"] if r["epoch"] <= args.epochs]
    return history if "AP" in history[-1] else None


def tables(args, base):
    """The AP table after --epochs epochs, and the AP of every evaluated epoch (the learning curves)."""
    final = ["| method | AP | AP50 | AP75 | APM | APL | Pearson(c, OKS) |", "|---|---|---|---|---|---|---|"]
    curves = {}
    for name in args.methods:
        history = history_of(name, args, base)
        if history is None:
            final.append(f"| {name} | missing |")
            continue
        last = history[-1]
        cells = [f"{last.get(k, float('nan')):.3f}" for k in ("AP", "AP50", "AP75", "APM", "APL", "pearson")]
        final.append(f"| {name} | " + " | ".join(cells) + " |")  # (no training time: runs share the CPU unevenly)
        curves[name] = {r["epoch"]: r["AP"] for r in history if "AP" in r}
    epochs = sorted({e for c in curves.values() for e in c})
    curve = ["| AP after epoch | " + " | ".join(map(str, epochs)) + " |", "|---" * (len(epochs) + 1) + "|"]
    for name, c in curves.items():
        curve.append(f"| {name} | " + " | ".join(f"{c[e]:.3f}" if e in c else "" for e in epochs) + " |")
    return "\n".join(final), "\n".join(curve)


def noise_ceiling(base):
    """AP and mean OKS of SynthPose's clean joints against its noisy labels: what a perfect model would score."""
    from rlelab.tasks.coco import coco_paths
    from rlelab.tasks.coco import coco_ap, confidence_oks

    ann_file, _ = coco_paths(base.data, base.val_split)
    truth_file = os.path.join(os.path.dirname(ann_file), f"truth_{base.val_split}.json")
    if not os.path.exists(truth_file):
        return None
    with open(truth_file) as f:
        truth = json.load(f)
    with open(ann_file) as f:
        image_of = {a["id"]: a["image_id"] for a in json.load(f)["annotations"]}
    results = []
    for a in truth["annotations"]:
        kp = torch.tensor(a["keypoints"]).view(17, 3)
        kp[:, 2] = 1
        results.append({"image_id": image_of[a["id"]], "category_id": 1, "keypoints": kp.flatten().tolist(),
                        "score": 1.0, "ann_id": a["id"]})
    return coco_ap(ann_file, results)["AP"], confidence_oks(ann_file, results)["mean_oks"]


@torch.no_grad()
def ranking_table(args, base):
    """Where each method's AP comes from: how well it places joints (mean OKS) and how well it ranks them.

    AP is a ranking metric, so the instance score matters as much as the joints. Each final model is scored
    with its own confidence (Eq. 9; L1 / L2 have no trained sigma_hat, so theirs is noise), with one constant
    score (no ranking) and with the true OKS as its score (the best ranking its joints allow).
    """
    from rlelab.tasks.coco import coco_paths, TopDownCOCO
    from rlelab.topdown import TopDownConfig
    from rlelab.tasks.coco import coco_ap, confidence_oks, oks
    from rlelab.evaluate import predict_dataset
    from rlelab.tasks import TASKS
    from rlelab.checkpoints import load_checkpoint

    ann_file, image_dir = coco_paths(base.data, base.val_split)
    with open(ann_file) as f:
        gt = {a["id"]: a for a in json.load(f)["annotations"]}
    dataset = TopDownCOCO(ann_file, image_dir, TopDownConfig(input_size=tuple(base.input_size)))
    rows = ["| method | mean OKS | AP, own confidence | AP, constant score | AP, true OKS as score |", "|---|---|---|---|---|"]
    for name in args.methods:
        run = args.reuse.get(name, os.path.join(args.out, name))
        if history_of(name, args, base) is None:
            continue
        model, cfg, ckpt = load_checkpoint(os.path.join(run, "last.pt"))
        if ckpt["epoch"] != args.epochs:  # last.pt holds the weights of its last epoch only
            rows.append(f"| {name} | trained {ckpt['epoch']} epochs: no model of the {args.epochs}-epoch budget to score |")
            continue
        results = predict_dataset(model, dataset, TASKS[cfg.task], cfg.eval_batch_size, flip=cfg.flip_test)
        constant = [{**r, "score": 1.0} for r in results]
        oracle = [{**r, "score": oks(r["keypoints"], gt[r["ann_id"]]["keypoints"], gt[r["ann_id"]]["area"])} for r in results]
        cells = [confidence_oks(ann_file, results)["mean_oks"]] + [coco_ap(ann_file, r)["AP"] for r in (results, constant, oracle)]
        rows.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in cells) + " |")
    return "\n".join(rows)


def step_time(cfg, steps=3, batch=8):
    model = model_from_config(cfg)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    h, w = cfg.input_size
    data = {"image": torch.randn(batch, 3, h, w), "joints": torch.rand(batch, 17, 2) - 0.5,
            "target_weight": torch.ones(batch, 17), "heatmaps": torch.rand(batch, 17, h // 4, w // 4)}
    times = []
    for i in range(steps + 1):
        start = time.perf_counter()
        loss, _, _ = batch_loss(model, data, cfg, 1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return min(times[1:])


@torch.no_grad()
def latency(cfg, repeats=5):
    from rlelab.models import predict

    model = model_from_config(cfg).eval()
    x = torch.randn(1, 3, *cfg.input_size)
    predict(model, x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(model, x)
        times.append(time.perf_counter() - start)
    return min(times)


def ratios():
    torch.set_num_threads(max(1, torch.get_num_threads()))
    r50 = lambda **kw: make_config({"backbone": "resnet50", "input_size": [256, 192], **kw})
    rle, l1 = step_time(r50(loss="rle")), step_time(r50(loss="l1"))
    reg, hm = latency(r50(loss="rle")), latency(r50(head="heatmap"))
    return (f"ResNet-50, 256x192, on this CPU ({torch.get_num_threads()} threads):\n"
            f"- training step (batch 8): RLE {rle:.3f} s, L1 {l1:.3f} s, ratio RLE / L1 = {rle / l1:.3f}\n"
            f"- inference (batch 1, no flip): regression {reg * 1000:.0f} ms, heatmap {hm * 1000:.0f} ms, "
            f"ratio heatmap / regression = {hm / reg:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/synthpose_res18_rle.yaml", help="the base config")
    parser.add_argument("--epochs", type=int, default=4, help="the budget of every method")
    parser.add_argument("--parallel", type=int, default=2, help="runs at a time (one thread each)")
    parser.add_argument("--out", default="runs/synthpose_table")
    parser.add_argument("--reuse", nargs="*", default=[], metavar="NAME=RUN",
                        help="take NAME's row from an existing run folder of the same config")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS), help="a subset")
    parser.add_argument("--data", help="override the config's data folder")
    parser.add_argument("--skip-ratios", action="store_true")
    args = parser.parse_args()
    args.reuse = dict(item.split("=", 1) for item in args.reuse)
    base = load_config(args.config, {"data": args.data} if args.data else None)
    train_all(base, args)
    print(f"\nSynthPose val ({base.data}), {base.backbone} at {base.input_size[0]}x{base.input_size[1]}, "
          f"the first {args.epochs} epochs of {args.config} (lr {base.lr}, batch {base.batch_size}) each, "
          f"flip test {'on' if base.flip_test else 'off'}:\n")
    final, curve = tables(args, base)
    print(final)
    ceiling = noise_ceiling(base)
    if ceiling is not None:
        print(f"\nThe clean joints score AP {ceiling[0]:.3f} (mean OKS {ceiling[1]:.3f}) against the noisy labels: "
              "the ceiling of any model.")
    print()
    print(curve)
    print()
    print(ranking_table(args, base))
    if not args.skip_ratios:
        print()
        print(ratios())


if __name__ == "__main__":
    main()
