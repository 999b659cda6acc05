"""Table 12 in small: MPII models trained on SynthPose-MPII, scored on its val split and on the real MPII samples.

    python benchmarks/mpii_table.py runs/synthpose_mpii_res18_{rle,l1,heatmap}/best.pt \
        [--data data/synthpose_mpii] [--real ../shared/data/real-samples/mpii] [--out benchmarks/mpii_table.md]

One row per checkpoint (flip test, PCKh@0.5, PCKh@0.1, AUC, and the Pearson correlation of the confidence with
each person's PCKh), and a first row for the prior a model must beat: the mean training pose of the crop
(the average normalized joints of the training split, placed in every crop). The real samples are five
people with no head boxes in their file: PCKh's scale there is the upper neck - head top distance (docs/guides/tasks.md).
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from rlelab.checkpoints import load_checkpoint  # noqa: E402
from rlelab.config import method  # noqa: E402
from rlelab.topdown import TopDownConfig  # noqa: E402
from rlelab.evaluate import evaluate  # noqa: E402
from rlelab.files import atomic_write  # noqa: E402
from rlelab.tasks import MPII, TASKS  # noqa: E402

METRICS = ("PCKh", "PCKh@0.1", "AUC", "pearson")


def splits(args, input_size):
    data = TopDownConfig(input_size=tuple(input_size), heatmaps=False)
    out = {"SynthPose-MPII val": MPII.dataset(*MPII.paths(args.data, "val"), data)}
    real = os.path.join(args.real, "test_mpii.json")
    if os.path.exists(real):
        out["real MPII samples"] = MPII.dataset(real, args.real, data)
    return out


@torch.no_grad()
def mean_pose_scores(args, input_size, every=4):
    """The scores of the mean training pose, in crop coordinates, placed in every crop."""
    train = MPII.dataset(*MPII.paths(args.data, "train"), TopDownConfig(input_size=tuple(input_size), heatmaps=False))
    samples = [train[i] for i in range(0, len(train), every)]
    joints = torch.stack([s["joints"] for s in samples])
    weight = torch.stack([s["target_weight"] for s in samples])[..., None]
    mean = (joints * weight).sum(0) / weight.sum(0)
    scores = {}
    for name, data in splits(args, input_size).items():
        results = []
        for i in range(len(data)):
            back = MPII.to_original(mean.double(), data[i]["crop_to_image"], tuple(input_size)).numpy()
            results.append({"ann_id": i, "image_id": data.samples[i]["image_id"], "score": 1.0,
                            "keypoints": np.concatenate([back, np.ones((len(back), 1))], 1).reshape(-1).tolist()})
        scores[name] = MPII.score(results, data)
    return scores


def row(name, scores):
    cells = [f"{scores[split][k]:.3f}" for split in scores for k in METRICS]
    return f"| {name} | " + " | ".join(cells) + " |"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", help="checkpoints of MPII models (task: mpii)")
    parser.add_argument("--data", default="data/synthpose_mpii", help="SynthPose-MPII folder (its val split is scored)")
    parser.add_argument("--real", default=os.path.join("..", "shared", "data", "real-samples", "mpii"),
                        help="folder of the real MPII samples (test_mpii.json and its pictures)")
    parser.add_argument("--out", help="also write the table here (markdown)")
    args = parser.parse_args()
    models = [load_checkpoint(path) for path in args.checkpoints]
    for path, (_, cfg, _) in zip(args.checkpoints, models):
        if TASKS[cfg.task] != MPII:
            sys.exit(f"error: {path} is a {cfg.task} model; this table scores MPII models (task: mpii).")
    input_size = models[0][1].input_size
    data = splits(args, input_size)
    head = " | ".join(f"{split}: {k}" for split in data for k in METRICS)
    lines = [f"| model | {head} |", "|---" * (1 + len(data) * len(METRICS)) + "|",
             row("mean training pose (the prior)", mean_pose_scores(args, input_size))]
    for path, (model, cfg, ckpt) in zip(args.checkpoints, models):
        if list(cfg.input_size) != list(input_size):
            sys.exit(f"error: {path} takes {cfg.input_size}, the first checkpoint {input_size}; compare like with like.")
        scores = {split: evaluate(model, d, MPII, batch_size=64)[0] for split, d in data.items()}
        lines.append(row(f"{method(cfg)} ({path}, epoch {ckpt.get('epoch', '?')})", scores))
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        atomic_write(args.out, lambda f: f.write(table), binary=False)


if __name__ == "__main__":
    main()
