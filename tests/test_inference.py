"""Reading whatever a user uploads, and predicting on one picture (the app's library side)."""
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rlelab.tasks.coco import LAYOUT as COCO
from rlelab.inference import predict_image, read_image
from rlelab.models import build_model

SAMPLES = sorted((Path(__file__).resolve().parents[1] / "data" / "samples").glob("*.jpg"))


def encode(image, fmt="PNG", **kwargs):
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def png_claiming(width, height):
    """A tiny PNG whose header claims width x height (what a decompression bomb looks like)."""
    data = bytearray(encode(Image.new("L", (1, 1))))
    ihdr = data[12:29]  # b"IHDR" + 13 bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


def rgb_pattern(h=40, w=30):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("data, message", [
    (b"hello, I am a text file", "not an image we can read"),
    (encode(Image.fromarray(rgb_pattern()), "JPEG")[:300], "could not be decoded"),
    (png_claiming(20000, 20000), "too large to open safely .* downscale it first"),
    (png_claiming(9000, 7000), "9000 x 7000 pixels .* the limit is 50 MP"),
    (encode(Image.new("RGB", (3, 3))), "at least 8 x 8"),
])
def test_bad_input_gets_one_sentence(data, message):
    with pytest.raises(ValueError, match=message) as info:
        read_image(data, "upload.jpg")
    assert "\n" not in str(info.value) and str(info.value).endswith(".")


def test_color_modes_become_rgb():
    rgb = rgb_pattern()
    assert np.array_equal(read_image(encode(Image.fromarray(rgb))), rgb)
    gray = read_image(encode(Image.fromarray(rgb[..., 0])))
    assert gray.shape == (40, 30, 3) and np.array_equal(gray[..., 1], rgb[..., 0])
    rgba = np.dstack([rgb, np.full((40, 30), 255, np.uint8)])
    rgba[0, 0, 3] = 0  # one transparent pixel goes on white
    out = read_image(encode(Image.fromarray(rgba)))
    assert np.array_equal(out[1:], rgb[1:]) and tuple(out[0, 0]) == (255, 255, 255)
    cmyk = read_image(encode(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=100))
    assert cmyk.shape == (40, 30, 3) and np.abs(cmyk.astype(int) - rgb).mean() < 20
    sixteen = (rgb[..., 0].astype(np.uint16) * 257)  # 16-bit grayscale spanning the full range
    out = read_image(encode(Image.fromarray(sixteen)))
    lo, hi = sixteen.min(), sixteen.max()
    assert np.abs(out[..., 0].astype(int) - np.round((sixteen - lo) / (hi - lo) * 255)).max() <= 1


def test_large_jpeg_is_decoded_at_a_reduced_scale():
    rgb = np.kron(rgb_pattern(30, 40), np.ones((100, 100, 1), np.uint8))  # 3000 x 4000, flat 100-pixel tiles
    out = read_image(encode(Image.fromarray(rgb), "JPEG", quality=95), max_side=1600)
    assert out.shape == (1500, 2000, 3)  # 1/2 scale: the smallest DCT scale still >= 1600 on the long side
    assert np.abs(out[25::50, 25::50].astype(int) - rgb_pattern(30, 40)).mean() < 6  # tile centres


def test_exif_rotation_is_applied():
    rgb = np.zeros((40, 30, 3), np.uint8)  # four flat quadrants survive JPEG
    rgb[:20, :15], rgb[:20, 15:], rgb[20:, :15], rgb[20:, 15:] = (220, 30, 30), (30, 200, 30), (30, 30, 220), (240, 240, 20)
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    out = read_image(encode(image, "JPEG", quality=100, exif=exif))
    assert out.shape == (30, 40, 3)  # upright: width and height swap
    assert np.abs(out.astype(int) - np.rot90(rgb, -1)).mean() < 12


@pytest.mark.skipif(not SAMPLES, reason="no sample pictures in data/samples")
def test_predict_image_maps_sigma_to_pixels():
    torch.manual_seed(0)
    model = build_model("regression", "resnet18").eval()
    image = read_image(SAMPLES[0].read_bytes())
    h, w = image.shape[:2]
    pred = predict_image(model, image, (64, 48), box=[-10, -10, w + 50, h + 50], flip_pairs=COCO.flip_pairs)
    assert pred["box"] == [0, 0, w, h]  # clipped to the picture
    # an untrained model predicts near the box centre; the crop is the box enlarged to 3:4 and by 1.25
    crop_w, crop_h = max(w, 0.75 * h) * 1.25, max(h, w / 0.75) * 1.25
    assert np.abs(pred["joints"] - [(w - 1) / 2, (h - 1) / 2]).max() < 0.05 * max(w, h)
    assert np.allclose(pred["sigma_px"], pred["sigma_hat"] * [crop_w, crop_h], rtol=1e-5)
    assert np.allclose(pred["confidence"], 1 - pred["sigma_hat"].mean(-1), atol=1e-6)
    with pytest.raises(ValueError, match="less than 4 x 4 pixels"):
        predict_image(model, image, (64, 48), box=[w + 5, 0, 20, 20])
