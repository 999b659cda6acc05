"""Evaluation of every task: predictions mapped back to the image, then the task's metric. COCO: AP by
pycocotools and the Pearson correlation between the predicted confidence and the OKS to the ground truth
(Table 4). MPII: PCKh@0.5, PCKh@0.1 and AUC (Table 12), and the same correlation with each person's PCKh. Human3.6M: MPJPE and
PA-MPJPE in mm over the 17 joints after root alignment (Tables 8-10, 13).

The instance score of a person is the mean per-joint confidence (c = 1 - sigma_hat for regression, Eq. 9;
the heatmap peak for the heatmap model) times the detection score, as top-down pipelines do.
"""
import contextlib
import io
import json
import math

import numpy as np
import torch
from tqdm.auto import tqdm

from .data.keypoints import OKS_SIGMAS

COCO_STATS = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")


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
            out = predict(model, batch["image"].to(device), task.layout.flip_pairs if flip else None)
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


def matched_oks(people, truth, areas):
    """For each annotated person (keypoints (17, 3), area), the best OKS any predicted person (joints (17, 2+))
    reaches with them; 0 where nobody was predicted: one picture's quality per person, with no scores to rank by
    (not an AP)."""
    return [max((oks(joints, t, a) for joints in people), default=0.0) for t, a in zip(truth, areas)]


def score_oks_pairs(ann_file, results):
    """(scores, OKS) as two arrays: each prediction's score and its OKS to its ground truth, the pairs of Table 4.

    A prediction from a ground-truth box is compared with that annotation; one from a detection with the
    best-matching annotation of its image (OKS 0 if the image has none); a person without a labelled joint is left
    out. Every number must be finite.
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
    return np.array(scores, dtype=float), np.array(sims, dtype=float)


def confidence_oks(ann_file, results):
    """Pearson correlation between each prediction's score and its OKS to its ground truth (Table 4), and the mean
    OKS (``score_oks_pairs``)."""
    scores, sims = score_oks_pairs(ann_file, results)
    return {"pearson": pearson(scores, sims), "mean_oks": float(np.mean(sims)) if len(sims) else float("nan")}


@torch.no_grad()
def mean_abs_bar_mu(model, cfg):
    """E_P|bar_mu| per coordinate (2,), P the density the loss read bar_mu with (``Loss.abs_mean``: Q alone for the
    Laplace and Gaussian losses, the flow's P_phi for RLE, standardized or not, and DLE). sigma_hat times it is a
    coordinate's predicted |error|."""
    from .losses import LOSSES

    return LOSSES[cfg.loss].abs_mean(getattr(model, "flow", None), cfg, 2)


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


SC_BIAS = 0.6  # MPII's head segment: 0.6 of the head box's diagonal (the MPII evaluation code's constant)
AUC_THRESHOLDS = np.arange(0, 51) / 100  # PCKh at 0, 0.01, ..., 0.5 head segments
MPII_PARTS = {"head": (9,), "shoulder": (12, 13), "elbow": (11, 14), "wrist": (10, 15), "hip": (2, 3),
              "knee": (1, 4), "ankle": (0, 5)}


def head_sizes(keypoints, head_boxes):
    """MPII's PCKh normalizer per person: 0.6 x the diagonal of the head box; without a box (mmpose's JSON of
    MPII leaves it out) the distance from the upper neck to the head top, NaN if one of them is unlabelled."""
    sizes = []
    for kp, box in zip(keypoints, head_boxes):
        if box is not None:
            sizes.append(SC_BIAS * np.linalg.norm(np.asarray(box[2:]) - np.asarray(box[:2])))
        elif kp[8, 2] > 0 and kp[9, 2] > 0:
            sizes.append(np.linalg.norm(kp[9, :2] - kp[8, :2]))
        else:
            sizes.append(np.nan)
    sizes = np.asarray(sizes, dtype=np.float64)
    return np.where(sizes > 0, sizes, np.nan)  # a head of no size scores nothing


def pckh(pred, gt, labelled, head_size):
    """PCKh of predictions (N, K, 2) against ground truth (N, K, 2) as MPII's evaluation computes it.

    A labelled joint is correct when its distance to the ground truth is at most t head segments
    (``head_size``, (N,)). PCKh@0.5 and @0.1 and AUC (the mean of PCKh over t = 0, 0.01, ..., 0.5, Sun et al.'s
    convention that the paper follows) count every labelled joint but the pelvis and the thorax (joints 6 and
    7), as the MPII benchmark's mean does; per part at 0.5 too. Fractions in [0, 1]; a non-finite prediction
    is a miss.
    """
    labelled = np.asarray(labelled, dtype=bool)
    d = np.linalg.norm(np.asarray(pred, dtype=np.float64) - np.asarray(gt, dtype=np.float64), axis=-1)
    d = np.where(np.isfinite(d), d, np.inf) / np.asarray(head_size, dtype=np.float64)[:, None]
    counted = labelled.copy()
    counted[:, 6:8] = False
    if not counted.any():
        raise ValueError("PCKh: no labelled joint to score (all are unlabelled, or the pelvis and thorax only).")
    at = lambda t, mask: float((d[mask] <= t).mean())
    out = {"PCKh": at(0.5, counted), "PCKh@0.1": at(0.1, counted),
           "AUC": float(np.mean([at(t, counted) for t in AUC_THRESHOLDS]))}
    for part, joints in MPII_PARTS.items():
        mask = np.zeros_like(labelled)
        mask[:, list(joints)] = labelled[:, list(joints)]
        out[f"PCKh_{part}"] = at(0.5, mask) if mask.any() else float("nan")
    return out


def mpii_scores(results, dataset):
    """PCKh, PCKh@0.1, AUC and per part (``pckh``) of the results on an MPII dataset (one per person; a person
    without a finite result counts as missed), and the Pearson correlation of the score with the person's PCKh."""
    gt = np.stack([s["keypoints"] for s in dataset.samples])
    sizes = head_sizes(gt, [s["head_box"] for s in dataset.samples])
    pred = np.full(gt.shape[:2] + (2,), np.inf)
    score = np.full(len(gt), np.nan)
    for r in results:
        pred[r["ann_id"]] = np.asarray(r["keypoints"], dtype=np.float64).reshape(-1, 3)[:, :2]
        score[r["ann_id"]] = r["score"]
    known = np.isfinite(sizes)
    if not known.any():
        raise ValueError(f"{dataset.ann_file}: no person has a head box or a labelled upper neck and head top, so "
                         "PCKh has no scale; add head_box [x1, y1, x2, y2] to the people.")
    metrics = pckh(pred[known], gt[known, :, :2], gt[known, :, 2] > 0, sizes[known])
    metrics["head_size"] = "box" if all(s["head_box"] is not None for s in dataset.samples) else "neck-to-top"
    metrics["unscored"] = int((~known).sum())
    d = np.linalg.norm(pred - gt[..., :2], axis=-1) / sizes[:, None]
    labelled = gt[..., 2] > 0
    per_person = ((d <= 0.5) & labelled).sum(1) / np.maximum(labelled.sum(1), 1)
    ok = known & np.isfinite(score) & labelled.any(1)
    metrics["pearson"] = pearson(score[ok], per_person[ok])
    return metrics


def pearson(a, b):
    """Pearson's correlation of two series, NaN where it has no value (fewer than two, or one of them constant)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def procrustes(pred, gt):
    """pred (N, K, 3) moved onto gt by the similarity s R x + t (rotation, uniform scale, translation) of least
    squares (Umeyama; a reflection is not allowed): the alignment of PA-MPJPE."""
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    mu_p, mu_g = pred.mean(1, keepdims=True), gt.mean(1, keepdims=True)
    p0, g0 = pred - mu_p, gt - mu_g
    u, s, vt = np.linalg.svd(np.swapaxes(p0, 1, 2) @ g0)  # (N, 3, 3): p0^T g0 = U S V^T
    d = np.sign(np.linalg.det(u @ vt))  # -1: the best orthogonal map is a reflection; flip the last axis
    s[:, -1] *= d
    vt[:, -1] *= d[:, None]
    rot = u @ vt  # x -> x R, with R = U V^T
    scale = s.sum(1) / (p0**2).sum((1, 2)).clip(1e-12)
    return scale[:, None, None] * p0 @ rot + mu_g


def mpjpe(pred, gt, root=0):
    """Mean per-joint position error (N,) in the units of the input, after moving both roots to the origin."""
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    return np.linalg.norm((pred - pred[:, root:root + 1]) - (gt - gt[:, root:root + 1]), axis=-1).mean(1)


def pa_mpjpe(pred, gt):
    """MPJPE (N,) after Procrustes alignment with scale (``procrustes``): the error of the pose's shape alone."""
    return np.linalg.norm(procrustes(pred, gt) - np.asarray(gt, dtype=np.float64), axis=-1).mean(1)


def h36m_scores(results, dataset):
    """MPJPE and PA-MPJPE (mm) of single-stage results (x, y in pixels, depth relative to the root in mm, c per
    joint) on a Human3.6M-form dataset, as the RLE code scores them: the depth is put back with the true root
    depth, back-projected with the camera (``pixel_to_camera``), root-aligned; plus the Pearson correlation of
    the score with -MPJPE (positive: a higher confidence goes with a smaller error). A person without a finite
    result is refused, not scored: MPJPE has no value for a miss."""
    from .camera import pixel_to_camera

    if len(results) != len(dataset.samples):
        raise ValueError(f"{dataset.ann_file}: {len(dataset.samples) - len(results)} of {len(dataset.samples)} people "
                         "have no finite prediction; MPJPE cannot count a miss (the model diverged).")
    pred, gt, score = [], [], []
    for r in sorted(results, key=lambda r: r["ann_id"]):
        s = dataset.samples[r["ann_id"]]
        uvd = np.asarray(r["keypoints"], dtype=np.float64).reshape(-1, 4)[:, :3]
        uvd[:, 2] += s["joint_cam"][0, 2]  # the root's true depth, as the RLE code
        pred.append(pixel_to_camera(uvd, s["f"], s["c"]))
        gt.append(s["joint_cam"])
        score.append(r["score"])
    pred, gt, score = np.stack(pred), np.stack(gt), np.asarray(score)
    error = mpjpe(pred, gt)
    metrics = {"MPJPE": float(error.mean()), "PA-MPJPE": float(pa_mpjpe(pred, gt).mean())}
    metrics["pearson"] = pearson(score, -error)
    return metrics


def coco_scores(results, dataset):
    """COCO AP (``coco_ap``) and the confidence-OKS correlation (``confidence_oks``) of results on a COCO dataset."""
    metrics = coco_ap(dataset.ann_file, results)
    metrics.update(confidence_oks(dataset.ann_file, results))
    return metrics


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
