"""What every top-down task shares: one sample per person box, cropped (``crop``) to the input size, augmented
as SimpleBaseline does (scale, rotation, flip with the layout's flip pairs) with HRNet's half body, and returned with
normalized joint coordinates and visibility for regression, Gaussian heatmaps for the heatmap baseline, and the
affine map back to the original image for evaluation. A task's reader (``tasks/coco.py``, ``mpii.py``,
``h36m.py``) turns its files into ``samples`` and ``images`` and finds them with ``find_annotations`` and
``find_images``; ``load_json`` reads a JSON file with one sentence for a missing or broken one.
"""
import json
import os
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.io import ImageReadMode, decode_image

from .crop import affine_matrix, apply_affine, box_to_center_scale, invert_affine, normalize_images, warp


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
    outside_labels: bool = False  # labelled joints outside the crop keep their weight (an FC can answer there)


def gaussian_heatmaps(joints, visible, output_size, stride, sigma):
    """(K, H/stride, W/stride) Gaussian targets centred on the joints (SimpleBaseline), zero for invisible ones."""
    h, w = output_size[0] // stride, output_size[1] // stride
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    mu = torch.as_tensor(joints, dtype=torch.float32) / stride
    d2 = (xs[None] - mu[:, 0, None, None]) ** 2 + (ys[None] - mu[:, 1, None, None]) ** 2
    return torch.exp(-d2 / (2 * sigma**2)) * torch.as_tensor(visible, dtype=torch.float32)[:, None, None]


def load_json(path, what):
    """The content of a JSON file; one sentence naming ``what`` it should be when it is missing or not JSON."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise ValueError(f"{path}: {what} not found; check the path.") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); is it a {what}?") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (its bytes are not UTF-8), so not a {what}, which is JSON.") from None


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
        target_weight = vis if cfg.outside_labels else vis * inside
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


def find_annotations(root, names, make):
    """The first of ``names`` (files under root/annotations/) that exists; else one sentence naming them and
    ``make``, the command that writes such a data set."""
    for name in names:
        path = os.path.join(root, "annotations", name)
        if os.path.isfile(path):
            return path
    listed = f"annotations/{names[0]}" + "".join(f" or .{n.rsplit('.', 1)[1]}" for n in names[1:])  # h36m_val.json or .npz
    raise ValueError(f"{root}: no {listed}; point to {make[0]} (make one with: {make[1]} --out {root}).")


def find_images(root, folders, ann, note=""):
    """(``ann``, the first of ``folders`` under root that is a folder): one split's annotation file and images."""
    for folder in folders:
        if os.path.isdir(os.path.join(root, folder)):
            return ann, os.path.join(root, folder)
    raise ValueError(f"{root}: no image folder {' or '.join(f + '/' for f in folders)} beside the annotations{note}.")
