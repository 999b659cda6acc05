"""Evaluation on COCO keypoints: predictions mapped back to the image, COCO AP by pycocotools, and the
Pearson correlation between the predicted confidence and the OKS to the ground truth (Table 4).

The instance score of a person is the mean per-joint confidence (c = 1 - sigma_hat for regression, Eq. 9;
the heatmap peak for the heatmap model) times the detection score, as top-down pipelines do.
"""
import contextlib
import io
import json

import numpy as np
import torch
from tqdm.auto import tqdm

from .data.coco import to_image_coordinates
from .data.keypoints import OKS_SIGMAS

COCO_STATS = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")


def predict_dataset(model, dataset, batch_size=32, flip=True, workers=0, device="cpu", progress=False):
    """Run ``model`` on every box of a TopDownCOCO dataset; returns COCO results (list of dicts) and arrays.

    Each result carries image_id, category_id 1, keypoints [x, y, c] * 17 in image pixels and the instance
    score; ``ann_id`` (the annotation a ground-truth box came from, -1 for detections) is kept for the
    confidence analysis, and ``finite`` says whether every number of the prediction is finite (a diverged
    model predicts NaN; ``evaluate`` counts such a prediction as a miss, never as a match).
    """
    from .models import predict

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    was_training = model.training
    model.eval()
    results = []
    try:
        for batch in tqdm(loader, desc="evaluate", disable=not progress, leave=False):
            out = predict(model, batch["image"].to(device), flip=flip)
            joints = to_image_coordinates(out["joints"].double().cpu(), batch["crop_to_image"], dataset.cfg.input_size)
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


def coco_ap(ann_file, results):
    """COCO keypoint AP, AP50, AP75, APM, APL (and AR) of ``results`` by pycocotools, as a dict.

    ``ann_file``: a COCO keypoints annotation file, or its content as a dict. Every number of ``results`` must
    be finite (``check_finite``).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    check_finite(results)
    if not results:
        return dict.fromkeys(COCO_STATS, 0.0)
    with contextlib.redirect_stdout(io.StringIO()):
        if isinstance(ann_file, dict):
            gt = COCO()
            gt.dataset = ann_file
            gt.createIndex()
        else:
            gt = COCO(ann_file)
        dt = gt.loadRes([{k: r[k] for k in ("image_id", "category_id", "keypoints", "score")} for r in results])
        ev = COCOeval(gt, dt, "keypoints")
        ev.params.imgIds = sorted({r["image_id"] for r in results} | set(gt.getImgIds()))
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {name: float(v) for name, v in zip(COCO_STATS, ev.stats)}


def oks(keypoints, gt_keypoints, area):
    """Object keypoint similarity of predicted (17, 2+) to ground-truth (17, 3) keypoints, as cocoeval computes it
    for a ground truth with labelled joints: mean over labelled joints of exp(-d^2 / (2 s^2 k^2)), s^2 = area."""
    kappa2 = (2 * OKS_SIGMAS) ** 2
    gt = np.asarray(gt_keypoints, dtype=np.float64).reshape(17, 3)
    pred = np.asarray(keypoints, dtype=np.float64).reshape(17, -1)[:, :2]
    labelled = gt[:, 2] > 0
    if not labelled.any():
        return float("nan")
    d2 = ((pred - gt[:, :2]) ** 2).sum(-1)
    e = d2 / kappa2 / (area + np.spacing(1)) / 2
    return float(np.exp(-e[labelled]).mean())


def confidence_oks(ann_file, results):
    """Pearson correlation between each prediction's score and its OKS to its ground truth (Table 4).

    A prediction from a ground-truth box is compared with that annotation; one from a detection with the
    best-matching annotation of its image (OKS 0 if the image has none). Every number must be finite.
    """
    check_finite(results)
    with open(ann_file) as f:
        anns = [a for a in json.load(f)["annotations"] if not a.get("iscrowd", 0) and a.get("num_keypoints", 1) > 0]
    by_id = {a["id"]: a for a in anns}
    by_image = {}
    for a in anns:
        by_image.setdefault(a["image_id"], []).append(a)
    scores, sims = [], []
    for r in results:
        if r["ann_id"] in by_id:
            a = by_id[r["ann_id"]]
            s = oks(r["keypoints"], a["keypoints"], a["area"])
        else:
            s = max((oks(r["keypoints"], a["keypoints"], a["area"]) for a in by_image.get(r["image_id"], [])), default=0.0)
        if np.isfinite(s):
            scores.append(r["score"])
            sims.append(s)
    if len(scores) < 2 or np.std(scores) == 0 or np.std(sims) == 0:
        return {"pearson": float("nan"), "mean_oks": float(np.mean(sims)) if sims else float("nan")}
    return {"pearson": float(np.corrcoef(scores, sims)[0, 1]), "mean_oks": float(np.mean(sims))}


def evaluate(model, dataset, ann_file, batch_size=32, flip=True, workers=0, device="cpu", progress=False):
    """predict_dataset + coco_ap + confidence_oks: one dict of metrics, and the finite results.

    A prediction with a non-finite number is left out, so its person counts as missed; ``metrics["non_finite"]``
    says how many were (0 for a healthy model).
    """
    results = predict_dataset(model, dataset, batch_size, flip, workers, device, progress)
    finite = [r for r in results if r["finite"]]
    metrics = coco_ap(ann_file, finite)
    metrics.update(confidence_oks(ann_file, finite))
    metrics["non_finite"] = len(results) - len(finite)
    return metrics, finite


def save_results(results, path):
    """COCO results format (what loadRes and the evaluation server read), written atomically."""
    from .files import atomic_write

    check_finite(results, path)
    rows = [{k: r[k] for k in ("image_id", "category_id", "keypoints", "score")} for r in results]
    atomic_write(path, lambda f: json.dump(rows, f, allow_nan=False), binary=False)
