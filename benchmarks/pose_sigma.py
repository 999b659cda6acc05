"""What a pose model's sigma_hat means, and whether it learned or memorized: one row per checkpoint.

    python benchmarks/pose_sigma.py runs/a/last.pt runs/b/last.pt [--data data/synthpose] [--train-images 400]

Columns: val AP and train AP (the first --train-images pictures of the training split, no augmentation, flip
test; a model far better on the pictures it trained on memorized them), Pearson(c, OKS) on val, and for
regression models with sigma_hat: its median over the visible val joints, the share above 0.9 (the sigmoid's
ceiling), and the calibration per joint type, mean |error| / mean predicted |error| (1.0: calibrated), as the
mean and the range over the 17 types. The predicted |error| of a coordinate is sigma_hat E_P|bar_mu| with P the
learned density of bar_mu (Q alone for the Laplace / Gaussian losses).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from rlelab.tasks.coco import coco_paths, TopDownCOCO  # noqa: E402
from rlelab.topdown import TopDownConfig  # noqa: E402
from rlelab.tasks.coco import coco_ap  # noqa: E402
from rlelab.evaluate import evaluate, predict_dataset, sigma_calibration  # noqa: E402
from rlelab.checkpoints import load_checkpoint  # noqa: E402
from rlelab.config import has_sigma  # noqa: E402
from rlelab.tasks.coco import LAYOUT as COCO  # noqa: E402
from rlelab.tasks import TASKS  # noqa: E402


def train_ap(model, cfg, data, images):
    ann, image_dir = coco_paths(data, cfg.train_split)
    with open(ann) as f:
        gt = json.load(f)
    keep = {im["id"] for im in gt["images"][:images]}
    gt = {**gt, "images": [im for im in gt["images"] if im["id"] in keep],
          "annotations": [a for a in gt["annotations"] if a["image_id"] in keep]}
    dataset = TopDownCOCO(ann, image_dir, TopDownConfig(input_size=tuple(cfg.input_size)))
    dataset.samples = [s for s in dataset.samples if s["image_id"] in keep]
    results = [r for r in predict_dataset(model, dataset, TASKS["coco"], 64) if r["finite"]]
    return coco_ap(gt, results)["AP"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--data", help="COCO-layout folder (default: each checkpoint's training data)")
    parser.add_argument("--train-images", type=int, default=400)
    args = parser.parse_args()
    print("| checkpoint | val AP | train AP | Pearson(c, OKS) | median sigma_hat | share above 0.9 | calibration (mean, range) |")
    print("|---|---|---|---|---|---|---|")
    for path in args.checkpoints:
        model, cfg, _ = load_checkpoint(path)
        data = args.data or cfg.data
        ann, image_dir = coco_paths(data, cfg.val_split)
        val = TopDownCOCO(ann, image_dir, TopDownConfig(input_size=tuple(cfg.input_size)))
        metrics, _ = evaluate(model, val, TASKS["coco"], 64)
        row = f"| {path} | {metrics['AP']:.3f} | {train_ap(model, cfg, data, args.train_images):.3f} | {metrics['pearson']:.2f} |"
        if has_sigma(cfg):
            n = sigma_calibration(model, cfg, val, COCO.flip_pairs)
            row += f" {n['sigma_median']:.3f} | {n['ceiling']:.2f} | {n['calibration']:.2f} ({n['cal_lo']:.2f}-{n['cal_hi']:.2f}) |"
        else:
            row += " - | - | - |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
