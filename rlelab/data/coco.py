"""Top-down keypoint data: the crop of one person box per sample, and COCO's person-keypoints files.

``TopDown`` is what every 2-D task shares: each person box (ground truth or detections) is cropped by an
affine transform to the input size, augmented as SimpleBaseline does (scale, rotation, flip with the layout's
flip pairs, half body), and returned with normalized joint coordinates and visibility for regression,
Gaussian heatmaps for the heatmap baseline, and the affine map back to the original image for evaluation.
``TopDownCOCO`` reads any COCO person-keypoints JSON plus its image folder: the real COCO 2017 layout,
SynthPose and the real samples alike (``rlelab.data.mpii`` reads MPII's).
"""
import json
import math
import os
import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F
from torchvision.io import ImageReadMode, decode_image

from .keypoints import COCO

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225])[:, None, None]


@dataclass
class TopDownConfig:
    input_size: tuple = (256, 192)  # (height, width), the paper's COCO input
    heatmap_stride: int = 4
    heatmap_sigma: float = 2.0
    padding: float = 1.25  # box enlargement, as SimpleBaseline
    augment: bool = False
    scale_factor: float = 0.3
    rotation_factor: float = 40.0
    rotation_prob: float = 0.6
    flip_prob: float = 0.5
    half_body_prob: float = 0.3
    det_score_threshold: float = 0.0
    heatmaps: bool = True  # Gaussian heatmap targets (the heatmap model's); a regression trainer skips them
    uint8: bool = False  # the crop as uint8 (4x fewer bytes from the workers); normalize_images on the device


def normalize_images(images):
    """ImageNet normalization of crops in [0, 1] floats, or of uint8 crops (TopDownConfig.uint8) on any device."""
    if images.dtype == torch.uint8:
        images = images.float() / 255
    return (images - IMAGENET_MEAN.to(images.device)) / IMAGENET_STD.to(images.device)


def box_to_center_scale(box, aspect, padding):
    """COCO box [x, y, w, h] -> center (x, y) and crop size (w, h) in pixels with the input's aspect ratio."""
    x, y, w, h = box
    center = np.array([x + w / 2, y + h / 2], dtype=np.float64)
    if w > aspect * h:
        h = w / aspect
    else:
        w = h * aspect
    return center, np.array([w, h], dtype=np.float64) * padding


def affine_matrix(center, size, rotation_deg, output_size, flip=False):
    """2x3 matrix taking image pixel coordinates to crop pixel coordinates (pixel centres at integers)."""
    out_h, out_w = output_size
    a = math.radians(rotation_deg)
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    scale = np.diag([out_w / size[0], out_h / size[1]])
    lin = scale @ rot
    m = np.column_stack([lin, np.array([(out_w - 1) / 2, (out_h - 1) / 2]) - lin @ center])
    if flip:
        m = np.array([[-1.0, 0.0, out_w - 1.0], [0.0, 1.0, 0.0]]) @ np.vstack([m, [0, 0, 1]])
    return m


def invert_affine(m):
    return np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]


def apply_affine(m, points):
    return points @ m[:, :2].T + m[:, 2]


def warp(image, m, output_size):
    """Crop a (C, H, W) float image by the 2x3 image->crop matrix m, bilinear (torch grid_sample)."""
    out_h, out_w = output_size
    _, h, w = image.shape
    inv = torch.as_tensor(invert_affine(m), dtype=torch.float32)
    ys, xs = torch.meshgrid(torch.arange(out_h, dtype=torch.float32), torch.arange(out_w, dtype=torch.float32), indexing="ij")
    src = torch.stack([xs, ys], -1) @ inv[:, :2].T + inv[:, 2]
    grid = torch.stack([2 * src[..., 0] / (w - 1) - 1, 2 * src[..., 1] / (h - 1) - 1], -1)
    return F.grid_sample(image[None], grid[None], mode="bilinear", padding_mode="zeros", align_corners=True)[0]


def gaussian_heatmaps(joints, visible, output_size, stride, sigma):
    """(K, H/stride, W/stride) Gaussian targets centred on the joints (SimpleBaseline), zero for invisible ones."""
    h, w = output_size[0] // stride, output_size[1] // stride
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    mu = torch.as_tensor(joints, dtype=torch.float32) / stride
    d2 = (xs[None] - mu[:, 0, None, None]) ** 2 + (ys[None] - mu[:, 1, None, None]) ** 2
    return torch.exp(-d2 / (2 * sigma**2)) * torch.as_tensor(visible, dtype=torch.float32)[:, None, None]


def _load_json(path, what):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise ValueError(f"{path}: {what} not found; check the path.") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); is it a COCO {what}?") from None


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


class TopDown(torch.utils.data.Dataset):
    """One sample per person box: ``samples`` are dicts of image_id, box [x, y, w, h], score, ann_id and
    keypoints (K, 3) (x, y, labelled) in image pixels; ``images`` maps an image id to its dict (file_name)."""

    def __init__(self, layout, samples, images, image_dir, ann_file, config=None, seed=0):
        self.layout, self.samples, self.images = layout, samples, images
        self.image_dir, self.ann_file = image_dir, ann_file
        self.cfg = config or TopDownConfig()
        self.seed = seed
        self.epoch = 0
        absent = [i for i in sorted({s["image_id"] for s in self.samples})
                  if not os.path.isfile(os.path.join(image_dir, self.images[i]["file_name"]))]
        if absent:
            raise ValueError(f"{os.path.join(image_dir, self.images[absent[0]]['file_name'])}: cannot read image "
                             f"{absent[0]} (no such file); {len(absent)} images of {ann_file} are missing: check the image folder.")

    def __len__(self):
        return len(self.samples)

    def load_image(self, image_id):
        path = os.path.join(self.image_dir, self.images[image_id]["file_name"])
        try:
            data = torch.from_file(path, size=os.path.getsize(path), dtype=torch.uint8)
            return decode_image(data, mode=ImageReadMode.RGB).float() / 255
        except (FileNotFoundError, RuntimeError) as e:
            raise ValueError(f"{path}: cannot read image {image_id} ({type(e).__name__}); check the image folder.") from None

    def __getitem__(self, index):
        s = self.samples[index]
        cfg = self.cfg
        rng = np.random.default_rng([self.seed, self.epoch, index])
        h, w = cfg.input_size
        center, size = box_to_center_scale(s["box"], w / h, cfg.padding)
        joints, vis = s["keypoints"][:, :2].copy(), (s["keypoints"][:, 2] > 0).astype(np.float32)
        rotation, flip = 0.0, False
        if cfg.augment:
            if rng.random() < cfg.half_body_prob and vis.sum() > 8:
                center, size = self._half_body(rng, joints, vis, w / h) or (center, size)
            size = size * np.clip(rng.normal(1, cfg.scale_factor), 1 - cfg.scale_factor, 1 + cfg.scale_factor)
            if rng.random() < cfg.rotation_prob:
                rotation = float(np.clip(rng.normal(0, cfg.rotation_factor), -2 * cfg.rotation_factor, 2 * cfg.rotation_factor))
            flip = bool(rng.random() < cfg.flip_prob)
        m = affine_matrix(center, size, rotation, cfg.input_size, flip)
        image = warp(self.load_image(s["image_id"]), m, cfg.input_size)
        crop_joints = apply_affine(m, joints)
        if flip:
            for a, b in self.layout.flip_pairs:
                crop_joints[[a, b]] = crop_joints[[b, a]]
                vis[[a, b]] = vis[[b, a]]
        inside = (crop_joints[:, 0] >= 0) & (crop_joints[:, 0] <= w - 1) & (crop_joints[:, 1] >= 0) & (crop_joints[:, 1] <= h - 1)
        target_weight = vis * inside
        sample = {
            "image": (image * 255).round_().clamp_(0, 255).to(torch.uint8) if cfg.uint8 else normalize_images(image),
            "joints": torch.as_tensor(crop_joints / [w, h] - 0.5, dtype=torch.float32),  # in [-0.5, 0.5]
            "target_weight": torch.as_tensor(target_weight, dtype=torch.float32),
            "crop_to_image": torch.as_tensor(invert_affine(m), dtype=torch.float64),
            "image_id": s["image_id"], "ann_id": s["ann_id"], "score": float(s["score"]),
            "center": torch.as_tensor(center), "size": torch.as_tensor(size), "flipped": flip,
        }
        if cfg.heatmaps:
            sample["heatmaps"] = gaussian_heatmaps(crop_joints, target_weight, cfg.input_size, cfg.heatmap_stride, cfg.heatmap_sigma)
        return sample

    def _half_body(self, rng, joints, vis, aspect):
        part = self.layout.upper_body if rng.random() < 0.5 else self.layout.lower_body
        chosen = [j for j in part if vis[j] > 0]
        if len(chosen) < 2:
            return None
        pts = joints[chosen]
        lo, hi = pts.min(0), pts.max(0)
        return box_to_center_scale([lo[0], lo[1], max(hi[0] - lo[0], 1), max(hi[1] - lo[1], 1)], aspect, 1.5)


class TopDownCOCO(TopDown):
    """One sample per person box of a COCO keypoints file. ``detections``: a COCO results file of person boxes
    (else ground truth)."""

    def __init__(self, ann_file, image_dir, config=None, detections=None, seed=0):
        config = config or TopDownConfig()
        coco = _load_json(ann_file, "keypoint annotation file")
        for field in ("images", "annotations"):
            if field not in coco:
                raise ValueError(f"{ann_file}: no '{field}' field; is it a COCO keypoint annotation file?")
        images = {im["id"]: im for im in coco["images"]}
        samples = []
        if detections is None:
            for ann in coco["annotations"]:
                if ann.get("iscrowd", 0) or ann.get("category_id", 1) != 1:
                    continue
                kp = ann.get("keypoints")
                if kp is None or len(kp) != 51:
                    raise ValueError(f"{ann_file}: annotation {ann.get('id')} has {0 if kp is None else len(kp)} "
                                     "keypoint values; COCO person keypoints need 17 x (x, y, v) = 51.")
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
                                "keypoints": np.array(kp, dtype=np.float64).reshape(17, 3)})
        else:
            dets = _load_json(detections, "detection results file")
            if not isinstance(dets, list):
                raise ValueError(f"{detections}: a COCO detection results file is a list of boxes, got {type(dets).__name__}.")
            tiny = 0
            for i, det in enumerate(dets):
                _check_detection(det, i, detections)
                if det.get("category_id", 1) != 1 or det["score"] < config.det_score_threshold:
                    continue
                if det["bbox"][2] < 1 or det["bbox"][3] < 1:
                    tiny += 1
                    continue
                samples.append({"image_id": det["image_id"], "box": det["bbox"], "score": det["score"],
                                "ann_id": -1, "keypoints": np.zeros((17, 3))})
            if tiny:
                warnings.warn(f"{detections}: {tiny} person boxes narrower or lower than 1 pixel skipped.")
        missing = {s["image_id"] for s in samples} - set(images)
        if missing:
            raise ValueError(f"{ann_file}: boxes refer to image ids {sorted(missing)[:5]} that are not in 'images'.")
        twice = sorted((i for i, n in Counter(a.get("id") for a in coco["annotations"]).items() if n > 1), key=str)
        if twice:
            twice = twice[:5]
            raise ValueError(f"{ann_file}: annotation ids {twice} are used more than once; each annotation needs its own id.")
        super().__init__(COCO, samples, images, image_dir, ann_file, config, seed)


def to_image_coordinates(joints, crop_to_image, input_size):
    """Map normalized crop coordinates (..., K, 2) in [-0.5, 0.5] back to original image pixels."""
    h, w = input_size
    pix = (joints + 0.5) * joints.new_tensor([w, h])
    m = crop_to_image.to(joints.dtype)
    return pix @ m[..., :2].transpose(-1, -2) + m[..., None, :, 2]


def coco_paths(root, split):
    """(annotation file, image folder) of one split of a data set in COCO layout.

    Accepts the real COCO 2017 layout (annotations/person_keypoints_val2017.json + val2017/) and SynthPose's
    (annotations/person_keypoints_val.json + images/val/).
    """
    ann = os.path.join(root, "annotations", f"person_keypoints_{split}.json")
    if not os.path.isfile(ann):
        raise ValueError(f"{root}: no annotations/person_keypoints_{split}.json; point to a COCO-layout data set "
                         f"(make one with: python -m rlelab synthpose --out {root}).")
    for image_dir in (os.path.join(root, "images", split), os.path.join(root, split)):
        if os.path.isdir(image_dir):
            return ann, image_dir
    raise ValueError(f"{root}: no image folder images/{split}/ or {split}/ beside the annotations.")
