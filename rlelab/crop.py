"""The crop of a person box, shared by the data loader (``topdown.TopDown``), the models (their pixel statistics)
and one-picture inference (``inference.predict_image``): the box grown to the input's aspect, the affine map from
the image to the crop and back, the bilinear warp, ImageNet's normalization, and the way from the crop's
normalized coordinates ([-0.5, 0.5]) back to the image's pixels.
"""
import math

import numpy as np
import torch
from torch.nn import functional as F

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225])[:, None, None]


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


def to_image_coordinates(joints, crop_to_image, input_size):
    """Map normalized crop coordinates (..., K, 2) in [-0.5, 0.5] back to original image pixels."""
    h, w = input_size
    pix = (joints + 0.5) * joints.new_tensor([w, h])
    m = crop_to_image.to(joints.dtype)
    return pix @ m[..., :2].transpose(-1, -2) + m[..., None, :, 2]
