"""The MPII task: MPII's 16 joints, its metric (PCKh@0.5, PCKh@0.1 and AUC, Table 12), the paper's input
(256 x 256), and its single-person data in mmpose's JSON form: a list of people, each with its image, 16 joints,
joints_vis, center and scale (the person's height / 200 px), and, where known, its head box for PCKh.

    [{"image": "005808361.jpg", "joints": [[x, y] x 16], "joints_vis": [0|1 x 16],
      "center": [x, y], "scale": s, "head_box": [x1, y1, x2, y2]}, ...]

MPII's coordinates are 1-based (MATLAB); they are read 0-based, as SimpleBaseline and mmpose do, and PCKh
compares in the same 0-based frame. The person box is SimpleBaseline's: the centre moved down by 15 s px and a
square of 200 s px around it, enlarged by the crop's padding (1.25) to the input's aspect.
"""
import numpy as np

from ..evaluate import pearson
from ..topdown import TopDown, TopDownConfig, find_annotations, find_images, load_json
from .task import Layout, Task

# MPII's 16 joints in the order of its annotations (and of mmpose's JSON form of them)
MPII_KEYPOINTS = [
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
    "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
    "left_wrist",
]
LAYOUT = Layout("mpii", tuple(MPII_KEYPOINTS),
                skeleton=((0, 1), (1, 2), (2, 6), (3, 6), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (7, 12), (12, 11),
                          (11, 10), (7, 13), (13, 14), (14, 15)),
                flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
                upper_body=(7, 8, 9, 10, 11, 12, 13, 14, 15), lower_body=(0, 1, 2, 3, 4, 5, 6))


def _check_person(p, i, path):
    keys = ("image", "joints", "joints_vis", "center", "scale")
    missing = [k for k in keys if not isinstance(p, dict) or k not in p]
    if missing:
        raise ValueError(f"{path}: person {i} has no {', '.join(missing)}; an MPII JSON entry has {', '.join(keys)}.")
    if not isinstance(p["image"], str):
        raise ValueError(f"{path}: person {i} has image {p['image']!r}; it must be the picture's file name (a string).")

    def numbers(key, default=None):
        try:
            return np.asarray(p.get(key, default), dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{path}: person {i} ({p['image']}) has {key} {str(p[key])[:60]}, which is not an array "
                             "of numbers; fix or remove it.") from None

    joints, vis = numbers("joints"), numbers("joints_vis")
    if joints.shape != (16, 2) or vis.shape != (16,):
        raise ValueError(f"{path}: person {i} ({p['image']}) has joints of shape {joints.shape} and joints_vis of "
                         f"shape {vis.shape}; MPII has 16 joints, [x, y] each, and 16 flags.")
    center, scale, head = numbers("center"), numbers("scale"), numbers("head_box", [0, 0, 1, 1])
    if scale.shape != ():
        raise ValueError(f"{path}: person {i} ({p['image']}) has scale {p['scale']}; it is one number, the person's "
                         "height / 200 px.")
    if center.shape != (2,) or head.shape != (4,) or not all(np.isfinite(a).all() for a in (joints, vis, center, scale, head)):
        raise ValueError(f"{path}: person {i} ({p['image']}) has a joint, center, scale or head_box that is not a "
                         "finite number (center [x, y], head_box [x1, y1, x2, y2]); fix or remove it.")
    if not scale > 0:
        raise ValueError(f"{path}: person {i} ({p['image']}) has scale {p['scale']}; it is the person's height / 200 "
                         "px and must be positive.")


class TopDownMPII(TopDown):
    """One sample per person of an MPII JSON file; the image ids are the order of first appearance."""

    def __init__(self, ann_file, image_dir, config=None, detections=None, seed=0):
        if detections is not None:
            raise ValueError(f"{detections}: MPII is evaluated on the annotated people (center and scale), without "
                             "a detector; leave out the detections.")
        people = load_json(ann_file, "MPII annotation file")
        if not isinstance(people, list):
            raise ValueError(f"{ann_file}: an MPII JSON file is a list of people (image, joints, joints_vis, center, "
                             f"scale), got {type(people).__name__}.")
        if not people:
            raise ValueError(f"{ann_file}: holds no people (an empty list); an MPII JSON file lists one entry per person.")
        images, samples = {}, []
        for i, p in enumerate(people):
            _check_person(p, i, ann_file)
            image_id = images.setdefault(p["image"], len(images) + 1)
            s = float(p["scale"])
            cx, cy = float(p["center"][0]), float(p["center"][1]) + 15 * s  # SimpleBaseline: avoid cropping the feet
            keypoints = np.concatenate([np.asarray(p["joints"], dtype=np.float64) - 1,  # 1-based -> 0-based
                                        np.asarray(p["joints_vis"], dtype=np.float64)[:, None] > 0], 1)
            samples.append({"image_id": image_id, "box": [cx - 100 * s, cy - 100 * s, 200 * s, 200 * s], "score": 1.0,
                            "ann_id": i, "keypoints": keypoints,
                            "head_box": np.asarray(p["head_box"], dtype=np.float64) - 1 if "head_box" in p else None})
        images = {i: {"id": i, "file_name": name} for name, i in images.items()}
        super().__init__(LAYOUT, samples, images, image_dir, ann_file, config or TopDownConfig(), seed)


def mpii_paths(root, split):
    """(annotation file, image folder) of one split in mmpose's MPII layout: annotations/mpii_{split}.json and
    images/{split}/ (SynthPose's) or images/ (MPII's own, one folder for all splits)."""
    ann = find_annotations(root, [f"mpii_{split}.json"], ("an MPII-layout data set", "python -m rlelab synthpose --layout mpii"))
    return find_images(root, [f"images/{split}", "images"], ann)


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


TASK = Task("mpii", LAYOUT, dim=2, paths=mpii_paths, dataset=TopDownMPII, score=mpii_scores, metric="PCKh",
            metrics=("PCKh", "PCKh@0.1", "AUC", "pearson"), input_size=(256, 256), photos="MPII")
