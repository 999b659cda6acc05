"""MPII single-person data in mmpose's JSON form: a list of people, each with its image, 16 joints, joints_vis,
center and scale (the person's height / 200 px), and, where known, its head box for PCKh.

    [{"image": "005808361.jpg", "joints": [[x, y] x 16], "joints_vis": [0|1 x 16],
      "center": [x, y], "scale": s, "head_box": [x1, y1, x2, y2]}, ...]

MPII's coordinates are 1-based (MATLAB); they are read 0-based, as SimpleBaseline and mmpose do, and PCKh
compares in the same 0-based frame. The person box is SimpleBaseline's: the centre moved down by 15 s px and a
square of 200 s px around it, enlarged by the crop's padding (1.25) to the input's aspect.
"""
import os

import numpy as np

from .coco import TopDown, TopDownConfig, _load_json
from .keypoints import MPII


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
        people = _load_json(ann_file, "MPII annotation file")
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
        super().__init__(MPII, samples, images, image_dir, ann_file, config or TopDownConfig(), seed)


def mpii_paths(root, split):
    """(annotation file, image folder) of one split in mmpose's MPII layout: annotations/mpii_{split}.json and
    images/{split}/ (SynthPose's) or images/ (MPII's own, one folder for all splits)."""
    ann = os.path.join(root, "annotations", f"mpii_{split}.json")
    if not os.path.isfile(ann):
        raise ValueError(f"{root}: no annotations/mpii_{split}.json; point to an MPII-layout data set (make one with: "
                         f"python -m rlelab synthpose --layout mpii --out {root}).")
    for image_dir in (os.path.join(root, "images", split), os.path.join(root, "images")):
        if os.path.isdir(image_dir):
            return ann, image_dir
    raise ValueError(f"{root}: no image folder images/{split}/ or images/ beside the annotations.")
