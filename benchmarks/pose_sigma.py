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

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from rlelab.data.coco import TopDownCOCO, TopDownConfig, coco_paths  # noqa: E402
from rlelab.densities import LOG_Q  # noqa: E402
from rlelab.evaluate import coco_ap, evaluate, predict_dataset  # noqa: E402
from rlelab.losses import density_grid  # noqa: E402
from rlelab.models import predict  # noqa: E402
from rlelab.checkpoints import load_checkpoint  # noqa: E402
from rlelab.config import has_sigma  # noqa: E402
from rlelab.data.keypoints import COCO  # noqa: E402
from rlelab.tasks import TASKS  # noqa: E402


@torch.no_grad()
def mean_abs_bar_mu(model, cfg):
    """E_P|bar_mu| per coordinate, P the density the loss read bar_mu with."""
    if cfg.loss in ("laplace", "gaussian"):
        axis = torch.linspace(-20, 20, 40001)
        p = LOG_Q[cfg.loss](axis[:, None]).sum(-1).exp()
        return torch.full((2,), float((p * axis.abs()).sum() * (axis[1] - axis[0])))
    axis, density, _, _ = density_grid(model.flow, cfg.q if cfg.loss == "rle" else None, standardize=cfg.standardize)
    cell = (axis[1] - axis[0]) ** 2
    return torch.stack([(density * axis[:, None].abs()).sum() * cell, (density * axis[None, :].abs()).sum() * cell])


@torch.no_grad()
def sigma_numbers(model, cfg, dataset):
    errors, predicted, sigmas, weights = [], [], [], []
    scale = mean_abs_bar_mu(model, cfg)
    for batch in torch.utils.data.DataLoader(dataset, batch_size=64):
        out = predict(model, batch["image"], COCO.flip_pairs)
        errors.append((batch["joints"] - out["joints"]).abs())
        predicted.append(out["sigma_hat"] * scale)
        sigmas.append(out["sigma_hat"].mean(-1))
        weights.append(batch["target_weight"])
    errors, predicted, sigmas, weights = (torch.cat(t) for t in (errors, predicted, sigmas, weights))
    visible = weights > 0
    cal = [(errors[:, k][visible[:, k]].mean() / predicted[:, k][visible[:, k]].mean()).item() for k in range(errors.shape[1])]
    s = sigmas[visible]
    return {"sigma_median": s.median().item(), "ceiling": (s > 0.9).float().mean().item(),
            "calibration": float(np.mean(cal)), "cal_lo": min(cal), "cal_hi": max(cal)}


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
            n = sigma_numbers(model, cfg, val)
            row += f" {n['sigma_median']:.3f} | {n['ceiling']:.2f} | {n['calibration']:.2f} ({n['cal_lo']:.2f}-{n['cal_hi']:.2f}) |"
        else:
            row += " - | - | - |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
