"""Evaluation of every task: predictions mapped back to the image (``Task.to_original``), then the task's metric
(``Task.score``: COCO's AP, MPII's PCKh, Human3.6M's MPJPE, each in its task's file); what sigma_hat means
(``sigma_calibration``); the Pearson correlation every task reports between confidence and quality (Table 4).

The instance score of a person is the mean per-joint confidence (c = 1 - sigma_hat for regression, Eq. 9;
the heatmap peak for the heatmap model) times the detection score, as top-down pipelines do.
"""
import json

import numpy as np
import torch
from tqdm.auto import tqdm


def predict_dataset(model, dataset, task, batch_size=32, flip=True, workers=0, device="cpu", progress=False):
    """Run ``model`` on every box of a TopDown dataset of ``task``; returns results in COCO's form (a list of dicts).

    Each result carries image_id, category_id 1, keypoints [x, y, c] * K in image pixels and the instance
    score; ``ann_id`` (the annotation a ground-truth box came from, -1 for detections; for MPII the
    person's index) is kept for the confidence analysis, and ``finite`` says whether every number of the prediction is finite (a diverged
    model predicts NaN; ``evaluate`` counts such a prediction as a miss, never as a match).
    """
    from .models import predict

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    was_training = model.training
    model.eval()
    results = []
    try:
        for batch in tqdm(loader, desc="evaluate", disable=not progress, leave=False):
            out = predict(model, batch["image"].to(device), task.layout.flip_pairs if flip else None,
                          task.layout.flip_negates)
            joints = task.to_original(out["joints"].double().cpu(), batch["crop_to_image"], dataset.cfg.input_size)
            conf = out["confidence"].double().cpu().clamp(0, 1)
            for i in range(len(joints)):
                kps = torch.cat([joints[i], conf[i, :, None]], -1).reshape(-1)
                score = float(conf[i].mean() * batch["score"][i])
                results.append({
                    "image_id": int(batch["image_id"][i]), "category_id": 1,
                    "keypoints": [round(float(v), 3) for v in kps],
                    "score": score, "ann_id": int(batch["ann_id"][i]),
                    "finite": bool(torch.isfinite(kps).all() and np.isfinite(score)),
                })
    finally:
        model.train(was_training)
    return results


def check_finite(results, what="results"):
    """Refuse results with a NaN or infinite keypoint or score: pycocotools would take a NaN OKS for a match
    (NaN < threshold is False), so a diverged model would score AP 1."""
    for i, r in enumerate(results):
        if not (np.isfinite(r["keypoints"]).all() and np.isfinite(r["score"])):
            raise ValueError(f"{what}: result {i} (image {r['image_id']}) has a keypoint or score that is not finite; "
                             "drop it (a missed person) before scoring.")


@torch.no_grad()
def mean_abs_bar_mu(model, cfg):
    """E_P|bar_mu| per coordinate (D,), P the density the loss read bar_mu with (``Loss.abs_mean``: Q alone for the
    Laplace and Gaussian losses, the flow's P_phi for RLE, standardized or not, and DLE). sigma_hat times it is a
    coordinate's predicted |error|. D is the model's (2 for an image keypoint, 1 for an OCT boundary's row; 2 without
    a model: a loss without a flow has the same E|bar_mu| in every coordinate)."""
    from .losses import LOSSES

    return LOSSES[cfg.loss].abs_mean(getattr(model, "flow", None), cfg, getattr(model, "dim", 2))


@torch.no_grad()
def sigma_calibration(model, cfg, dataset, flip_pairs, batch_size=64):
    """What a 2-D regression model's sigma_hat means on a TopDown dataset (ground-truth boxes, flip test).

    Returns the median sigma_hat over the visible joints, the share above 0.9 (the sigmoid's ceiling), and the
    calibration per joint type, mean |error| / mean predicted |error| in crop units (1.0: the model knows how wrong
    it is; above 1: overconfident), as ``per_joint`` (K,) with its mean, minimum and maximum.
    """
    from .models import predict

    errors, predicted, sigmas, weights = [], [], [], []
    scale = mean_abs_bar_mu(model, cfg)
    was_training = model.training
    model.eval()
    try:
        for batch in torch.utils.data.DataLoader(dataset, batch_size=batch_size):
            out = predict(model, batch["image"], flip_pairs)
            errors.append((batch["joints"] - out["joints"]).abs())
            predicted.append(out["sigma_hat"] * scale)
            sigmas.append(out["sigma_hat"].mean(-1))
            weights.append(batch["target_weight"])
    finally:
        model.train(was_training)
    errors, predicted, sigmas, weights = (torch.cat(t) for t in (errors, predicted, sigmas, weights))
    if not (torch.isfinite(errors).all() and torch.isfinite(predicted).all()):
        raise ValueError("sigma_calibration: the model predicts a joint or a sigma_hat that is not finite (a diverged "
                         "checkpoint?); its calibration has no meaning.")
    visible = weights > 0
    cal = np.array([(errors[:, k][visible[:, k]].mean() / predicted[:, k][visible[:, k]].mean()).item()
                    for k in range(errors.shape[1])])
    s = sigmas[visible]
    return {"sigma_median": s.median().item(), "ceiling": (s > 0.9).float().mean().item(), "per_joint": cal,
            "calibration": float(cal.mean()), "cal_lo": float(cal.min()), "cal_hi": float(cal.max())}


def pearson(a, b):
    """Pearson's correlation of two series, NaN where it has no value (fewer than two, or one of them constant)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def evaluate(model, dataset, task, batch_size=32, flip=True, workers=0, device="cpu", progress=False):
    """predict_dataset + the task's scores (``task.score``): one dict of metrics, and the finite results.

    A prediction with a non-finite number is left out, so its person counts as missed; ``metrics["non_finite"]``
    says how many were (0 for a healthy model).
    """
    results = predict_dataset(model, dataset, task, batch_size, flip, workers, device, progress)
    finite = [r for r in results if r["finite"]]
    metrics = task.score(finite, dataset)
    metrics["non_finite"] = len(results) - len(finite)
    return metrics, finite


def save_results(results, path):
    """COCO results format (what loadRes and the evaluation server read), written atomically."""
    from .files import atomic_write

    check_finite(results, path)
    rows = [{k: r[k] for k in ("image_id", "category_id", "keypoints", "score")} for r in results]
    atomic_write(path, lambda f: json.dump(rows, f, allow_nan=False), binary=False)
