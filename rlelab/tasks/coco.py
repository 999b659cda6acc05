"""The COCO task: COCO's 17 person keypoints, its person-keypoints files (the real COCO 2017 layout, SynthPose and
the real samples alike), its metric (AP by pycocotools, OKS, and the Pearson correlation between the predicted
confidence and the OKS to the ground truth, Table 4) and the paper's input, 256 x 192.
"""
import contextlib
import io
import json
import warnings
from collections import Counter

import numpy as np

from ..evaluate import check_finite, pearson
from ..topdown import TopDown, TopDownConfig, find_annotations, find_images, load_json
from .task import Layout, Task

COCO_KEYPOINTS = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
]
# 1-based, as in COCO's person category
COCO_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
                 [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
FLIP_PAIRS = [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)]
# the per-keypoint constants of COCO's OKS (cocoeval), so that noise can follow COCO's annotator spread
OKS_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0
PERSON_CATEGORY = {"supercategory": "person", "id": 1, "name": "person",
                   "keypoints": COCO_KEYPOINTS, "skeleton": COCO_SKELETON}
LAYOUT = Layout("coco", tuple(COCO_KEYPOINTS), tuple((a - 1, b - 1) for a, b in COCO_SKELETON), tuple(FLIP_PAIRS),
                upper_body=tuple(range(11)), lower_body=tuple(range(11, 17)))  # nose ... wrists; hips ... ankles
K = LAYOUT.num_joints
COCO_STATS = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")


def _check_detection(det, i, path):
    """One sentence for a detection that is not a person box with a finite score."""
    missing = [k for k in ("image_id", "bbox", "score") if not isinstance(det, dict) or k not in det]
    if missing:
        raise ValueError(f"{path}: detection {i} has no {', '.join(missing)}; each entry of a COCO results file has "
                         "image_id, category_id, bbox [x, y, width, height] and score.")
    box = np.asarray(det["bbox"], dtype=np.float64) if isinstance(det["bbox"], (list, tuple)) else np.zeros(0)
    if box.shape != (4,) or not np.isfinite(box).all() or not isinstance(det["score"], (int, float)) \
            or not np.isfinite(det["score"]):
        raise ValueError(f"{path}: detection {i} (image {det['image_id']}) has bbox {det['bbox']} and score "
                         f"{det['score']}; both must be finite numbers, the box [x, y, width, height].")
    if box[2] < 0 or box[3] < 0:
        raise ValueError(f"{path}: detection {i} (image {det['image_id']}) has a box of negative size {det['bbox']}; "
                         "COCO boxes are [x, y, width, height].")


class TopDownCOCO(TopDown):
    """One sample per person box of a COCO keypoints file. ``detections``: a COCO results file of person boxes
    (else ground truth). ``layout``: the joints of its keypoints, COCO's 17 unless another data set in COCO's JSON
    form says otherwise."""

    def __init__(self, ann_file, image_dir, config=None, detections=None, seed=0, layout=LAYOUT):
        config = config or TopDownConfig()
        coco = load_json(ann_file, "COCO keypoint annotation file")
        for field in ("images", "annotations"):
            if field not in coco:
                raise ValueError(f"{ann_file}: no '{field}' field; is it a COCO keypoint annotation file?")
        images = {im["id"]: im for im in coco["images"]}
        if detections is None:
            samples = _annotated_people(coco["annotations"], ann_file, layout.num_joints)
        else:
            samples = _detected_people(detections, config.det_score_threshold, layout.num_joints)
        missing = {s["image_id"] for s in samples} - set(images)
        if missing:
            raise ValueError(f"{ann_file}: boxes refer to image ids {sorted(missing)[:5]} that are not in 'images'.")
        twice = sorted((i for i, n in Counter(a.get("id") for a in coco["annotations"]).items() if n > 1), key=str)
        if twice:
            twice = twice[:5]
            raise ValueError(f"{ann_file}: annotation ids {twice} are used more than once; each annotation needs its own id.")
        super().__init__(layout, samples, images, image_dir, ann_file, config, seed)


def _annotated_people(annotations, ann_file, k):
    """The samples of the people of ``annotations`` (k keypoints each) with a box and a labelled joint."""
    samples = []
    for ann in annotations:
        if ann.get("iscrowd", 0) or ann.get("category_id", 1) != 1:
            continue
        kp = ann.get("keypoints")
        if kp is None or len(kp) != 3 * k:
            raise ValueError(f"{ann_file}: annotation {ann.get('id')} has {0 if kp is None else len(kp)} "
                             f"keypoint values; its person keypoints need {k} x (x, y, v) = {3 * k}.")
        if not (np.isfinite(np.asarray(kp, dtype=np.float64)).all() and len(ann["bbox"]) == 4
                and np.isfinite(np.asarray(ann["bbox"], dtype=np.float64)).all()):
            raise ValueError(f"{ann_file}: annotation {ann.get('id')} (image {ann.get('image_id')}) has a keypoint "
                             "or box value that is not a finite number; fix or remove it.")
        x, y, w, h = ann["bbox"]
        if w < 1 or h < 1 or max(kp[2::3]) == 0:
            if w < 1 or h < 1:
                warnings.warn(f"{ann_file}: annotation {ann.get('id')} has an empty box {ann['bbox']}; skipped.")
            continue  # COCO's own top-down pipelines skip boxes without labelled joints too
        samples.append({"image_id": ann["image_id"], "box": ann["bbox"], "score": 1.0, "ann_id": ann["id"],
                        "keypoints": np.array(kp, dtype=np.float64).reshape(k, 3), "area": float(ann.get("area", w * h))})
    return samples


def _detected_people(detections, threshold, k):
    """The samples of the person boxes of a COCO results file scoring at least ``threshold``."""
    dets = load_json(detections, "COCO detection results file")
    if not isinstance(dets, list):
        raise ValueError(f"{detections}: a COCO detection results file is a list of boxes, got {type(dets).__name__}.")
    samples, tiny = [], 0
    for i, det in enumerate(dets):
        _check_detection(det, i, detections)
        if det.get("category_id", 1) != 1 or det["score"] < threshold:
            continue
        if det["bbox"][2] < 1 or det["bbox"][3] < 1:
            tiny += 1
            continue
        samples.append({"image_id": det["image_id"], "box": det["bbox"], "score": det["score"],
                        "ann_id": -1, "keypoints": np.zeros((k, 3))})
    if tiny:
        warnings.warn(f"{detections}: {tiny} person boxes narrower or lower than 1 pixel skipped.")
    return samples


def coco_paths(root, split):
    """(annotation file, image folder) of one split of a data set in COCO layout: the real COCO 2017 layout
    (annotations/person_keypoints_val2017.json + val2017/) and SynthPose's (annotations/person_keypoints_val.json +
    images/val/)."""
    ann = find_annotations(root, [f"person_keypoints_{split}.json"], ("a COCO-layout data set", "python -m rlelab synthpose"))
    return find_images(root, [f"images/{split}", split], ann)


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
    gt = np.asarray(gt_keypoints, dtype=np.float64).reshape(K, 3)
    pred = np.asarray(keypoints, dtype=np.float64).reshape(K, -1)[:, :2]
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


def coco_scores(results, dataset):
    """COCO AP (``coco_ap``) and the confidence-OKS correlation (``confidence_oks``) of results on a COCO dataset."""
    metrics = coco_ap(dataset.ann_file, results)
    metrics.update(confidence_oks(dataset.ann_file, results))
    return metrics


TASK = Task("coco", LAYOUT, dim=2, paths=coco_paths, dataset=TopDownCOCO, score=coco_scores, metric="AP",
            metrics=("AP", "AP50", "AP75", "APM", "APL", "pearson"), input_size=(256, 192), photos="COCO train2017")
