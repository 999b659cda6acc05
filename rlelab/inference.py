"""Pose on one picture: read any image a user may upload, crop a person box, predict joints and sigma_hat.

``read_image`` turns bytes into an RGB uint8 array, honouring EXIF rotation and converting grayscale, RGBA,
palette, CMYK and 16-bit images; anything else is refused with one ValueError sentence. ``predict_image``
runs a model on a box (default: the whole image) and returns joints, sigma_hat in pixels and the confidence
of Eq. 9 in image coordinates.
"""
import io
import warnings

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .crop import affine_matrix, box_to_center_scale, invert_affine, normalize_images, to_image_coordinates, warp
from .models import predict

MAX_PIXELS = 50_000_000  # 50 megapixels: a phone photo is 12-48


def read_image(data, name="image", max_pixels=MAX_PIXELS, max_side=None):
    """bytes -> (H, W, 3) uint8 RGB array, upright per its EXIF orientation.

    ``max_side``: a JPEG larger than this is decoded at a reduced scale (libjpeg's DCT scaling, at least
    max_side on its long side), which is several times faster than decoding it whole and resizing.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            w, h = image.size
            if w * h > max_pixels:
                raise ValueError(f"{name} is {w} x {h} pixels ({w * h / 1e6:.0f} MP); the limit is "
                                 f"{max_pixels / 1e6:.0f} MP, so downscale it first.")
            if max_side and image.format == "JPEG" and max(w, h) > max_side:
                factor = max_side / max(w, h)
                image.draft(image.mode, (int(w * factor), int(h * factor)))
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(f"{name} is too large to open safely (over {Image.MAX_IMAGE_PIXELS / 1e6:.0f} MP); "
                         "downscale it first.") from None
    except UnidentifiedImageError:
        raise ValueError(f"{name} is not an image we can read; upload a JPEG or PNG.") from None
    except (OSError, SyntaxError, EOFError) as e:
        raise ValueError(f"{name} could not be decoded ({e}); the file may be truncated or corrupt.") from None
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grayscale: stretch to 8 bits
        a = np.asarray(image, dtype=np.float64)
        lo, hi = a.min(), a.max()
        image = Image.fromarray(((a - lo) / max(hi - lo, 1) * 255).round().astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    image = image.convert("RGB")  # L, P, CMYK, YCbCr, F ... -> RGB
    if min(image.size) < 8:
        raise ValueError(f"{name} is {image.size[0]} x {image.size[1]} pixels; a person needs at least 8 x 8.")
    return np.asarray(image)


def check_box(box, width, height):
    """A person box [x, y, w, h] clipped to the image; one sentence if it is empty or outside."""
    x, y, w, h = (float(v) for v in box)
    x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + w, width), min(y + h, height)
    if x1 - x0 < 4 or y1 - y0 < 4:
        raise ValueError(f"the box [x={x:g}, y={y:g}, w={w:g}, h={h:g}] has less than 4 x 4 pixels inside the "
                         f"{width} x {height} image; draw it around the person.")
    return [x0, y0, x1 - x0, y1 - y0]


@torch.no_grad()
def predict_image(model, image, input_size, box=None, flip_pairs=None):
    """Joints (K, 2) and sigma_hat (K, 2, None for heatmaps) in image pixels, confidence (K,), and the crop.

    sigma_hat is predicted in units of the crop (section 3.3), so in pixels it is sigma_hat times the
    crop's size; the confidence is c = 1 - sigma_hat (Eq. 9), averaged over x and y. ``flip_pairs``: the
    task's left/right joints, for the flip test (None: no flip test).
    """
    height, width = image.shape[:2]
    box = check_box(box if box is not None else [0, 0, width, height], width, height)
    center, size = box_to_center_scale(box, input_size[1] / input_size[0], 1.25)
    m = affine_matrix(center, size, 0.0, input_size)
    tensor = torch.tensor(np.asarray(image)).permute(2, 0, 1).float() / 255
    crop = warp(tensor, m, input_size)
    out = predict(model, normalize_images(crop)[None], flip_pairs)
    joints = to_image_coordinates(out["joints"][0].double(), torch.as_tensor(invert_affine(m)), input_size)
    sigma = None if out["sigma_hat"] is None else out["sigma_hat"][0].double() * torch.as_tensor(size)
    return {"joints": joints.numpy(), "sigma_px": None if sigma is None else sigma.numpy(),
            "sigma_hat": None if out["sigma_hat"] is None else out["sigma_hat"][0].numpy(),
            "confidence": out["confidence"][0].clamp(0, 1).numpy(), "box": box, "crop": crop.permute(1, 2, 0).numpy()}
