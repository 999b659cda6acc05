"""SynthPose: procedurally drawn people written in the exact COCO person-keypoints layout, or MPII's.

    python -m rlelab synthpose --out DIR --n-train N --n-val M --size 256x192 --seed S [--layout mpii]
        [--style flat|photo|mixed]

writes DIR/annotations/person_keypoints_{train,val}.json, DIR/images/{train,val}/*.jpg,
DIR/annotations/person_detections_{train,val}.json (COCO results format, jittered boxes with
scores) and DIR/annotations/truth_{train,val}.json: the clean joints and the per-keypoint scale
of the annotator noise actually added, drawn from a known law (default Student-t, nu = 3, wider
for occluded joints), so that a learned density can be held against the real one. ``--layout mpii`` draws
the same people and writes DIR/annotations/mpii_{train,val}.json instead (mmpose's JSON form of MPII: 16 joints,
joints_vis, center, scale, and each head's box for PCKh; 1-based coordinates as MPII's) and truth_{split}.json.
"""
import json
import math
import os
from dataclasses import asdict, dataclass, replace
from typing import Callable, NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..files import atomic_write, write_folder
from ..tasks.coco import OKS_SIGMAS, PERSON_CATEGORY, coco_paths, score_oks_pairs

NOISE_LAWS = ("gaussian", "laplace", "student_t")
LAYOUTS = ("coco", "mpii")
J = {name: i for i, name in enumerate(PERSON_CATEGORY["keypoints"])}
# MPII's joints from COCO's and the body's own points (pelvis, thorax, upper neck, head top), and the OKS-like
# constant of each for the annotator noise: COCO's for the shared joints, a hip's, a shoulder's and an ear's else
MPII_FROM = [J["right_ankle"], J["right_knee"], J["right_hip"], J["left_hip"], J["left_knee"], J["left_ankle"],
             "pelvis", "thorax", "upper_neck", "head_top", J["right_wrist"], J["right_elbow"], J["right_shoulder"],
             J["left_shoulder"], J["left_elbow"], J["left_wrist"]]
MPII_SIGMAS = np.array([OKS_SIGMAS[j] if isinstance(j, int) else {"pelvis": OKS_SIGMAS[J["left_hip"]],
                        "thorax": OKS_SIGMAS[J["left_shoulder"]]}.get(j, OKS_SIGMAS[J["left_ear"]]) for j in MPII_FROM])
HEAD_RX, HEAD_RY = 0.075, 0.075 * 1.1  # the head's ellipse, in body units
FACING_X = {"front": 0.0, "left": -1.0, "right": 1.0}  # where the nose points, along image x


@dataclass
class SynthPoseConfig:
    height: int = 256
    width: int = 192
    noise_law: str = "student_t"  # law of the annotator noise, per coordinate
    noise_scale: float = 0.3  # noise scale in px = noise_scale * OKS sigma_k * person height
    occluded_factor: float = 2.5  # occluded (v = 1) joints get a wider noise
    max_people: int = 3
    occluder_prob: float = 0.6
    jpeg_quality: int = 90  # the flat style's; the photo style draws one per picture
    style: str = "flat"  # or "photo" (see STYLES), or "mixed": the two in turn, picture by picture


def draw_noise(rng, law, size):
    """Standardized noise of the given law (scale 1), as numpy."""
    if law == "gaussian":
        return rng.standard_normal(size)
    if law == "laplace":
        return rng.laplace(0.0, 1.0, size)
    if law == "student_t":
        return rng.standard_t(3.0, size)
    raise ValueError(f"unknown noise law {law!r}; choose one of {', '.join(NOISE_LAWS)}.")


def _rot(v, a):
    c, s = math.cos(a), math.sin(a)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def sample_pose(rng):
    """A 2-D articulated pose in body units (height ~ 1, y down, pelvis at 0), its facing and limb widths."""
    facing = rng.choice(["front", "left", "right"], p=[0.5, 0.25, 0.25])
    lateral = 1.0 if facing == "front" else 0.3
    left = 1.0 if facing != "right" else -1.0  # the side of the image the person's left body side is on
    up = _rot(np.array([0.0, -1.0]), rng.normal(0, math.radians(8)))  # torso lean
    side = np.array([-up[1], up[0]])
    k = np.zeros((17, 2))
    pelvis, neck = np.zeros(2), 0.30 * up
    for name, base, half in [("shoulder", neck, 0.11), ("hip", pelvis, 0.075)]:
        k[J[f"left_{name}"]] = base + left * lateral * half * side
        k[J[f"right_{name}"]] = base - left * lateral * half * side
    for s, sign in (("left", left), ("right", -left)):  # arms: shoulder angle and elbow flexion within limits
        d1 = _rot(-up, -sign * rng.uniform(math.radians(-30), math.radians(170)))
        k[J[f"{s}_elbow"]] = k[J[f"{s}_shoulder"]] + 0.16 * d1
        d2 = _rot(d1, -sign * rng.uniform(0, math.radians(140)))
        k[J[f"{s}_wrist"]] = k[J[f"{s}_elbow"]] + 0.14 * d2
        t1 = _rot(-up, -sign * rng.uniform(math.radians(-15), math.radians(45)))  # legs: hip and knee
        k[J[f"{s}_knee"]] = k[J[f"{s}_hip"]] + 0.24 * t1
        t2 = _rot(t1, sign * rng.uniform(0, math.radians(90)))
        k[J[f"{s}_ankle"]] = k[J[f"{s}_knee"]] + 0.23 * t2
    head = neck + 0.11 * _rot(up, rng.normal(0, math.radians(10)))
    look = FACING_X[facing]
    hup = (head - neck) / np.linalg.norm(head - neck)
    hside = np.array([-hup[1], hup[0]])
    k[J["nose"]] = head - 0.01 * hup + look * 0.06 * hside
    for s, sign in (("left", left), ("right", -left)):
        k[J[f"{s}_eye"]] = head + 0.02 * hup + (sign * lateral * 0.03 + look * 0.04) * hside
        k[J[f"{s}_ear"]] = head + (sign * lateral * 0.065 - look * 0.01) * hside
    hidden_side = None if facing == "front" else ("right" if look * left < 0 else "left")
    return {"k": k, "head": head, "neck": neck, "pelvis": pelvis, "facing": facing, "hidden_side": hidden_side}


def _draw_person(draw, pose, to_px, scale, colors):
    """Draw limbs, torso and head; ``colors`` maps a part to a fill (one value for a mask)."""
    k = pose["k"]
    pt = lambda p: tuple(to_px(p))

    def limb(a, b, width, color):
        draw.line([pt(a), pt(b)], fill=color, width=max(1, int(width * scale)))
        for p in (a, b):
            r = width * scale / 2
            x, y = pt(p)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=color)

    def leg(s):
        limb(k[J[f"{s}_hip"]], k[J[f"{s}_knee"]], 0.065, colors["legs"])
        limb(k[J[f"{s}_knee"]], k[J[f"{s}_ankle"]], 0.055, colors["legs"])

    def arm(s):
        limb(k[J[f"{s}_shoulder"]], k[J[f"{s}_elbow"]], 0.05, colors["arms"])
        limb(k[J[f"{s}_elbow"]], k[J[f"{s}_wrist"]], 0.042, colors["skin"])

    far = pose["hidden_side"]  # None when facing front
    near = {"left": "right", "right": "left"}.get(far)
    if far:  # side view: the far limbs go behind the torso
        leg(far)
        arm(far)
    else:
        leg("left")
        leg("right")
    torso = [k[J["left_shoulder"]], k[J["right_shoulder"]], k[J["right_hip"]], k[J["left_hip"]]]
    draw.polygon([pt(p) for p in torso], fill=colors["torso"])
    limb(pose["neck"], pose["pelvis"], 0.11, colors["torso"])
    limb(pose["neck"], pose["head"], 0.04, colors["skin"])
    x, y = pt(pose["head"])
    draw.ellipse([x - HEAD_RX * scale, y - HEAD_RY * scale, x + HEAD_RX * scale, y + HEAD_RY * scale], fill=colors["skin"])
    if far:
        leg(near)
        arm(near)
    else:
        arm("left")
        arm("right")


def _tiled_noise(rng, h, w, lo, hi):
    """Sensor grain of a standard deviation drawn in [lo, hi], (h, w, 3) float32: a 64x64 tile repeated (cheap)."""
    tile = rng.standard_normal((64, 64, 3), dtype=np.float32) * np.float32(rng.uniform(lo, hi))
    return np.tile(tile, (-(-h // 64), -(-w // 64), 1))[:h, :w]


def _background(rng, h, w):
    """The flat style's room: a two-colour gradient, grain, and 2 to 7 flat boxes and blobs."""
    a, b = rng.uniform(0, 255, 3).astype(np.float32), rng.uniform(0, 255, 3).astype(np.float32)
    vertical = rng.random() < 0.5
    t = np.linspace(0, 1, h if vertical else w, dtype=np.float32)
    t = t[:, None, None] if vertical else t[None, :, None]
    grain = _tiled_noise(rng, h, w, 2, 12)
    img = Image.fromarray(np.clip(a + (b - a) * t + grain, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(2, 8)):  # furniture: random boxes and blobs
        x0, y0 = rng.uniform(-0.2, 1, 2) * (w, h)
        x1, y1 = x0 + rng.uniform(0.05, 0.5) * w, y0 + rng.uniform(0.05, 0.5) * h
        shape = draw.rectangle if rng.random() < 0.5 else draw.ellipse
        shape([x0, y0, x1, y1], fill=tuple(int(c) for c in rng.uniform(0, 255, 3)))
    return img


def _colors(rng):
    skin = tuple(int(c) for c in np.array([224, 172, 105]) * rng.uniform(0.45, 1.15))
    rand = lambda: tuple(int(c) for c in rng.uniform(0, 255, 3))
    torso = rand()
    return {"skin": tuple(min(c, 255) for c in skin), "torso": torso, "arms": torso if rng.random() < 0.5 else skin,
            "legs": rand()}


def _texture(rng, img, body):
    """Clothes with a texture: stripes, checks or grain over the person's pixels."""
    kind = rng.choice(["plain", "stripes", "checks", "grain"])
    if kind == "plain":
        return img
    arr = np.array(img)
    ys, xs = np.nonzero(body)
    period = rng.uniform(4, 12)
    if kind == "stripes":
        factor = 1 + 0.25 * np.sign(np.sin(2 * np.pi * ys / period))
    elif kind == "checks":
        factor = 1 + 0.2 * np.sign(np.sin(2 * np.pi * ys / period) * np.sin(2 * np.pi * xs / period))
    else:
        factor = 1 + rng.normal(0, 0.12, len(ys))
    arr[ys, xs] = np.clip(arr[ys, xs] * factor[:, None], 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def _flat_place(rng, p, h, w):
    """Scale (px per body unit) and centre of person p: the first large, the others smaller; borders cut some."""
    scale = h * (rng.uniform(0.55, 1.0) if p == 0 else rng.uniform(0.3, 0.7))
    return scale, np.array([rng.uniform(0.15, 0.85) * w, rng.uniform(0.35, 0.75) * h])


def _flat_person(rng, img, pose, to_px, scale):
    """Paint one person in flat colours with textured clothes; returns the image and the person's pixels."""
    _draw_person(ImageDraw.Draw(img), pose, to_px, scale, _colors(rng))
    mask = Image.new("L", img.size, 0)
    _draw_person(ImageDraw.Draw(mask), pose, to_px, scale, {part: 255 for part in ("skin", "torso", "arms", "legs")})
    body = np.asarray(mask) > 0
    return _texture(rng, img, body), body


def _flat_occluders(rng, img, owner, people, cfg):
    """Coloured boxes and blobs anywhere in the picture; their pixels are marked -1 in owner."""
    h, w = owner.shape
    draw, occluders = ImageDraw.Draw(img), []
    if rng.random() < cfg.occluder_prob:
        for _ in range(rng.integers(1, 3)):
            x0, y0 = rng.uniform(0, 1, 2) * (w, h)
            box = [float(x0), float(y0), float(x0 + rng.uniform(0.15, 0.45) * w), float(y0 + rng.uniform(0.1, 0.3) * h)]
            shape = "rectangle" if rng.random() < 0.6 else "ellipse"
            getattr(draw, shape)(box, fill=tuple(int(c) for c in rng.uniform(0, 255, 3)))
            mask = Image.new("L", (w, h), 0)
            getattr(ImageDraw.Draw(mask), shape)(box, fill=255)
            owner[np.asarray(mask) > 0] = -1
            occluders.append({"shape": shape, "box": box})
    return img, occluders


def _flat_finish(rng, img, cfg):
    """The flat style's camera: none; the configured JPEG quality."""
    return img, cfg.jpeg_quality


# The photo style: people as shaded tubes in clothes, with hair and a face, in a cluttered room, occluders put
# over joints, close-ups cut by the picture's border, and a camera's blur, noise and JPEG. The same poses, joints,
# visibility rule and noise law as the flat style: only the pixels are harder and closer to a photograph.
SKIN_LIGHT, SKIN_DARK = np.array([241.0, 200.0, 170.0]), np.array([75.0, 48.0, 34.0])
HAIR_COLORS = np.array([[22, 18, 16], [48, 32, 22], [92, 62, 38], [168, 128, 78], [206, 178, 120], [128, 126, 124],
                        [150, 56, 30]], dtype=np.float64)
TROUSER_COLORS = np.array([[46, 62, 100], [30, 30, 34], [150, 130, 95], [90, 90, 96], [70, 80, 50]], dtype=np.float64)


class Look(NamedTuple):
    """How one drawn person looks: colours, clothes, hair, build, and the light's direction in the picture."""
    skin: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    shoes: np.ndarray
    hair: np.ndarray
    sleeves: int  # 0 none, 1 short, 2 long
    long_trousers: bool
    hair_style: str  # none, short, long
    build: float  # limb thickness factor
    light: np.ndarray  # unit vector in the picture toward the light


def _photo_look(rng):
    """A random Look: a skin tone between light and dark, a top, trousers (mostly of trouser colours), shoes,
    hair, sleeves, build, and light from above on one side."""
    t = rng.random()
    light = np.array([rng.uniform(-1, 1), -rng.uniform(0.3, 1)])
    top = rng.uniform(20, 235, 3)
    bottom = (TROUSER_COLORS[rng.integers(len(TROUSER_COLORS))] * rng.uniform(0.7, 1.3) if rng.random() < 0.7
              else rng.uniform(20, 235, 3))
    return Look(skin=SKIN_LIGHT + (SKIN_DARK - SKIN_LIGHT) * t, top=top, bottom=bottom, shoes=rng.uniform(10, 90, 3),
                hair=HAIR_COLORS[rng.integers(len(HAIR_COLORS))],
                sleeves=int(rng.choice(3, p=[0.25, 0.4, 0.35])), long_trousers=bool(rng.random() < 0.7),
                hair_style=str(rng.choice(["none", "short", "long"], p=[0.1, 0.6, 0.3])), build=float(rng.uniform(0.8, 1.3)),
                light=light / np.linalg.norm(light))


def _rgb(color, shade=1.0):
    """A colour times a shade, as PIL's 0-255 integer tuple."""
    return tuple(int(c) for c in np.clip(np.asarray(color) * shade, 0, 255))


def _ellipse(draw, x, y, rx, ry, fill):
    """An ellipse of radii rx, ry about (x, y). PIL leaves the pixel holding a small disk's centre empty one time
    in nine under a 1 px radius (one in 25 under 2 px): those are drawn about that pixel, at least 3 px across."""
    if min(rx, ry) < 2:
        x, y, rx, ry = round(x), round(y), max(1, round(rx)), max(1, round(ry))
    draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=fill)


def _tube(draw, a, b, width, color, light):
    """A limb from a to b (px) as a lit cylinder: a dark rim, the colour, a highlight on the light's side."""
    d = np.asarray(b, float) - np.asarray(a, float)
    n = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-6)
    n = n if n @ light >= 0 else -n  # the normal that faces the light
    for frac, shift, shade in ((1.0, 0.0, 0.55), (0.78, -0.06, 0.95), (0.32, 0.2, 1.3)):
        wid = max(1.0, width * frac)
        off = n * shift * width
        fill = _rgb(color, shade)
        pa, pb = tuple(np.asarray(a) + off), tuple(np.asarray(b) + off)
        draw.line([pa, pb], fill=fill, width=max(1, int(round(wid))))
        for x, y in (pa, pb):  # round ends, painting the joints' own pixels
            _ellipse(draw, x, y, wid / 2, wid / 2, fill)


def _blob(draw, center, rx, ry, color, light, shades=(0.6, 1.0, 1.25)):
    """A lit ellipse (head, hand, shoe, ear): rim, colour and a highlight toward the light."""
    x, y = center
    for frac, shift, shade in ((1.0, 0.0, shades[0]), (0.86, -0.05, shades[1]), (0.4, 0.35, shades[2])):
        _ellipse(draw, x + light[0] * shift * rx, y + light[1] * shift * ry, rx * frac, ry * frac, _rgb(color, shade))


def _lit_polygon(draw, pts, px, scale, color, light):
    """A convex body part (torso, seat) in body units: rim, colour and a highlight, shrunk toward its middle."""
    mid = pts.mean(0)
    for frac, shift, shade in ((1.0, 0.0, 0.6), (0.88, -0.01, 0.95), (0.45, 0.03, 1.2)):
        draw.polygon([tuple(px(mid + (q - mid) * frac) + light * shift * scale) for q in pts],
                     fill=_rgb(color, shade))


def _face(draw, pose, px, scale, look, hup, look_x):
    """Ears and eyes (not those behind the head), the nose and the mouth; the eyes last, so that on a small
    head nothing else covers the eye joints."""
    k = pose["k"]
    seen = [s for s in ("left", "right") if s != pose["hidden_side"]]  # both from the front, the near one in a side view
    for s in seen:
        _blob(draw, px(k[J[f"{s}_ear"]]), 0.016 * scale, 0.024 * scale, look.skin, look.light, shades=(0.6, 0.85, 1.0))
    nx, ny = px(k[J["nose"]])
    _ellipse(draw, nx, ny, 0.011 * scale, 0.011 * scale, _rgb(look.skin, 0.7))
    hside = np.array([-hup[1], hup[0]])
    m = px(pose["head"] - 0.04 * hup + look_x * 0.035 * hside)
    half = (0.015 - 0.005 * abs(look_x)) * scale * hside
    draw.line([tuple(m - half), tuple(m + half)], fill=_rgb(look.skin, 0.35), width=max(1, int(0.008 * scale)))
    for s in seen:
        ex, ey = px(k[J[f"{s}_eye"]])
        _ellipse(draw, ex, ey, 0.009 * scale, 0.009 * scale, (30, 25, 25))


def _photo_draw_person(draw, pose, to_px, scale, look):
    """Paint a person far side first: legs in trousers or shorts, shoes, torso in its top, arms in sleeves,
    hands, neck, hair and a head with eyes, ears, nose and mouth."""
    k, px, b = pose["k"], to_px, look.build
    tube = lambda a, c, w, color: _tube(draw, px(a), px(c), w * b * scale, color, look.light)

    def leg(s):
        hip, knee, ankle = (k[J[f"{s}_{n}"]] for n in ("hip", "knee", "ankle"))
        tube(hip, knee, 0.075, look.bottom)
        tube(knee, ankle, 0.058, look.bottom if look.long_trousers else look.skin)
        toe = np.array([FACING_X[pose["facing"]] * 0.035, 0.012])
        _blob(draw, px(ankle + toe), 0.04 * b * scale, 0.024 * b * scale, look.shoes, look.light)

    def arm(s):
        shoulder, elbow, wrist = (k[J[f"{s}_{n}"]] for n in ("shoulder", "elbow", "wrist"))
        tube(shoulder, elbow, 0.056, look.top if look.sleeves else look.skin)
        tube(elbow, wrist, 0.046, look.top if look.sleeves == 2 else look.skin)
        _blob(draw, px(wrist + 0.018 * (wrist - elbow) / max(np.linalg.norm(wrist - elbow), 1e-6)),
              0.024 * b * scale, 0.028 * b * scale, look.skin, look.light)

    far = pose["hidden_side"]
    near = {"left": "right", "right": "left"}.get(far)
    for s in ([far] if far else ["left", "right"]):
        leg(s)
    if far:
        arm(far)
    head, neck = pose["head"], pose["neck"]
    hup = (head - neck) / np.linalg.norm(head - neck)
    hside = np.array([-hup[1], hup[0]])
    look_x = FACING_X[pose["facing"]]
    if look.hair_style == "long":  # hair falling behind the head and neck
        _blob(draw, px(head - 0.05 * hup - look_x * 0.02 * hside), 1.15 * HEAD_RX * scale, 1.55 * HEAD_RY * scale,
              look.hair, look.light)
    tube(neck, head - 0.02 * hup, 0.045, look.skin)
    torso = np.array([k[J["left_shoulder"]], k[J["right_shoulder"]], k[J["right_hip"]], k[J["left_hip"]]])
    _lit_polygon(draw, torso.mean(0) + (torso - torso.mean(0)) * np.array([[1.12], [1.12], [1.0], [1.0]]) * b,
                 px, scale, look.top, look.light)
    tube(neck - 0.015 * hup, pose["pelvis"], 0.12, look.top)
    up = (neck - pose["pelvis"]) / np.linalg.norm(neck - pose["pelvis"])
    side = np.array([-up[1], up[0]]) * max(np.linalg.norm(k[J["left_hip"]] - pose["pelvis"]), 0.05) * 1.2 * b
    _lit_polygon(draw, pose["pelvis"] + np.array([side + 0.07 * up, -side + 0.07 * up, -side - 0.03 * up, side - 0.03 * up]),
                 px, scale, look.bottom, look.light)  # the trousers' seat
    _blob(draw, px(head), HEAD_RX * scale, HEAD_RY * scale, look.skin, look.light, shades=(0.75, 1.0, 1.12))
    if look.hair_style != "none":  # a cap of hair above the hairline, toward the back of the head
        x, y = px(head)
        angle = math.degrees(math.atan2(hup[1], hup[0])) - look_x * 35  # toward the back of the head in a side view
        box = [x - HEAD_RX * scale, y - HEAD_RY * scale, x + HEAD_RX * scale, y + HEAD_RY * scale]
        draw.chord(box, angle - 70, angle + 70, fill=_rgb(look.hair))
    _face(draw, pose, px, scale, look, hup, look_x)
    if far:
        leg(near)
        arm(near)
    else:
        arm("left")
        arm("right")


def _paste(img, layer):
    """Lay a painted RGBA layer over the picture; returns the picture and the pixels the layer covers."""
    img.paste(layer, (0, 0), layer)
    return img, np.asarray(layer)[:, :, 3] > 0


def _photo_place(rng, p, h, w):
    """As the flat style, and one picture in five a close-up of the first person that the border cuts."""
    if p == 0 and rng.random() < 0.2:
        return h * rng.uniform(1.0, 1.7), np.array([rng.uniform(0.3, 0.7) * w, rng.uniform(0.55, 0.9) * h])
    return _flat_place(rng, p, h, w)


def _photo_person(rng, img, pose, to_px, scale):
    """Paint one person in a random Look on its own layer; returns the image and the person's pixels."""
    look = _photo_look(rng)
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))  # painted apart: its opaque pixels are the person's
    _photo_draw_person(ImageDraw.Draw(layer), pose, to_px, scale, look)
    return _paste(img, layer)


def _low_frequency(rng, h, w, lo, hi):
    """A smooth random field in [lo, hi], (h, w): uneven light."""
    small = Image.fromarray(rng.uniform(0, 255, (4, 5)).astype(np.uint8))
    return lo + (hi - lo) * np.asarray(small.resize((w, h), Image.BILINEAR), dtype=np.float32)[:, :, None] / 255


def _object(rng, cx, cy, rx, ry):
    """A box, a blob or a polygon of half-sizes rx, ry about (cx, cy). The polygon's corners go round the centre
    with every angular gap under pi, so the centre is inside it and the shrunk copies _paint lays stay within."""
    shape = str(rng.choice(["rectangle", "ellipse", "polygon"]))
    if shape == "polygon":
        gaps = rng.uniform(0.7, 1.3, int(rng.integers(3, 7)))  # largest gap: 2 pi 1.3 / (1.3 + 2 0.7) < pi
        angles = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.cumsum(gaps) / gaps.sum()
        radii = rng.uniform(0.5, 1.0, len(angles))
        pts = np.stack([cx + rx * radii * np.cos(angles), cy + ry * radii * np.sin(angles)], 1)
    else:
        pts = np.array([[cx - rx, cy - ry], [cx + rx, cy + ry]])
    return {"shape": shape, "points": pts, "center": np.array([cx, cy]), "color": rng.uniform(15, 240, 3),
            "stripes": shape == "rectangle" and rng.random() < 0.3}


def _record(obj):
    """An object as truth_*.json records an occluder: its shape, its box and a polygon's corners."""
    pts = obj["points"]
    box = [float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())]
    return {"shape": obj["shape"], "box": box, **({"points": pts.round(3).tolist()} if obj["shape"] == "polygon" else {})}


def _paint(draw, obj):
    """Paint an object: its rim, its body and a highlight, each shrunk toward its centre; stripes on some boxes."""
    shape, pts, c = obj["shape"], obj["points"], obj["center"]
    for frac, shade in ((1.0, 0.7), (0.82, 1.0), (0.35, 1.2)):
        q = c + (pts - c) * frac
        fill = _rgb(obj["color"], shade)
        if shape == "polygon":
            draw.polygon([tuple(p) for p in q], fill=fill)
        else:
            getattr(draw, shape)([*q[0], *q[1]], fill=fill)
    if obj["stripes"]:
        (x0, y0), (x1, y1) = pts
        for x in np.arange(x0 + 1, x1 - 1, max(2.0, (x1 - x0) / 6)):
            draw.line([(x, y0 + 1), (x, y1 - 1)], fill=_rgb(obj["color"], 0.8), width=1)


def _photo_background(rng, h, w):
    """A wall and a floor under uneven light, grain, and 4 to 14 shaded objects; sometimes out of focus."""
    wall, floor = rng.uniform(20, 235, 3).astype(np.float32), rng.uniform(20, 235, 3).astype(np.float32)
    horizon = int(rng.uniform(0.35, 0.85) * h)
    base = np.where(np.arange(h)[:, None, None] < horizon, wall, floor)
    grain = _tiled_noise(rng, h, w, 2, 10)
    img = Image.fromarray(np.clip(base * _low_frequency(rng, h, w, 0.6, 1.2) + grain, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(4, 15)):
        size = rng.uniform(0.05, 0.3)
        _paint(draw, _object(rng, rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h,
                             size * w * rng.uniform(0.4, 1.0), size * h * rng.uniform(0.4, 1.0)))
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    return img


def _photo_occluders(rng, img, owner, people, cfg):
    """Shaded objects, three in four put over a joint of someone in the picture (the rest anywhere), sized by
    that person; their pixels are marked -1 in owner."""
    h, w = owner.shape
    occluders = []
    if rng.random() < cfg.occluder_prob:
        for _ in range(rng.integers(1, 3)):
            person = people[int(rng.integers(len(people)))]
            if rng.random() < 0.75:
                cx, cy = person["k"][int(rng.integers(17))] + rng.normal(0, 0.02 * person["scale"], 2)
            else:
                cx, cy = rng.uniform(0, 1, 2) * (w, h)
            rx, ry = person["scale"] * rng.uniform(0.04, 0.18, 2)
            obj = _object(rng, cx, cy, rx, ry)
            layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
            _paint(ImageDraw.Draw(layer), obj)
            img, covered = _paste(img, layer)
            owner[covered] = -1
            occluders.append(_record(obj))
    return img, occluders


def _photo_finish(rng, img, cfg):
    """The camera: out of focus one time in three, exposure, sensor noise and a JPEG quality of 35-95."""
    if rng.random() < 0.35:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    h, w = img.height, img.width
    noise = _tiled_noise(rng, h, w, 0, 7)
    arr = np.asarray(img, dtype=np.float32) * np.float32(rng.uniform(0.75, 1.2)) + noise
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)), int(rng.integers(35, 96))


class Style(NamedTuple):
    """How a SynthPose picture is drawn: its background, where people stand, how a person is painted (returning
    the person's pixels), the occluders (marking theirs) and the camera's finish (returning the JPEG quality)."""
    background: Callable
    place: Callable
    person: Callable
    occluders: Callable
    finish: Callable


STYLES = {"flat": Style(_background, _flat_place, _flat_person, _flat_occluders, _flat_finish),
          "photo": Style(_photo_background, _photo_place, _photo_person, _photo_occluders, _photo_finish)}
STYLE_CHOICES = (*STYLES, "mixed")  # mixed: even pictures flat, odd ones photo (the shipped models' data)


def picture_style(style, i):
    """The style the i-th picture (0-based, within its split) of a set in ``style`` is drawn in."""
    return ("flat", "photo")[i % 2] if style == "mixed" else style


def render_image(rng, cfg):
    """One image: background, 1..max_people people, occluders, in cfg.style.
    Returns (image, people, occluders, JPEG quality)."""
    h, w = cfg.height, cfg.width
    style = STYLES[cfg.style]
    img = style.background(rng, h, w)
    owner = np.full((h, w), -2, dtype=np.int16)  # who covers each pixel: person index, -1 occluder
    n_people = 1 + int(rng.integers(0, cfg.max_people)) if rng.random() < 0.5 else 1
    people = []
    for p in range(n_people):
        pose = sample_pose(rng)
        scale, center = style.place(rng, p, h, w)
        to_px = lambda q, c=center, s=scale: c + s * np.asarray(q)
        img, body = style.person(rng, img, pose, to_px, scale)
        owner[body] = p
        hup = (pose["head"] - pose["neck"]) / np.linalg.norm(pose["head"] - pose["neck"])
        body_points = {"pelvis": pose["pelvis"], "thorax": pose["neck"], "upper_neck": pose["head"] - 0.07 * hup,
                       "head_top": pose["head"] + HEAD_RY * hup}  # what MPII labels beside COCO's joints
        hx, hy = to_px(pose["head"])
        people.append({"k": to_px(pose["k"]), "scale": scale, "hidden_side": pose["hidden_side"],
                       "body": {name: to_px(q) for name, q in body_points.items()},
                       "head_box": [hx - HEAD_RX * scale, hy - HEAD_RY * scale, hx + HEAD_RX * scale, hy + HEAD_RY * scale]})
    img, occluders = style.occluders(rng, img, owner, people, cfg)

    def visibility(k, p):  # 0 outside the image, 1 covered, 2 seen
        inside = (k[:, 0] >= 0) & (k[:, 0] <= w - 1) & (k[:, 1] >= 0) & (k[:, 1] <= h - 1)
        xi, yi = np.clip(k[:, 0].round().astype(int), 0, w - 1), np.clip(k[:, 1].round().astype(int), 0, h - 1)
        return np.where(inside, np.where(owner[yi, xi] == p, 2, 1), 0)

    for p, person in enumerate(people):
        v = visibility(person["k"], p)
        if person["hidden_side"]:  # the far eye and ear hide behind the head
            for name in ("eye", "ear"):
                j = J[f"{person['hidden_side']}_{name}"]
                v[j] = min(v[j], 1)
        person["v"] = v
        person["body_v"] = dict(zip(person["body"], visibility(np.array(list(person["body"].values())), p)))
        person["visible_pixels"] = np.argwhere(owner == p)
    img, quality = style.finish(rng, img, cfg)
    return img, people, occluders, quality


def _noise_scale_px(person, cfg, sigmas=OKS_SIGMAS, v=None):
    v = person["v"] if v is None else v
    scale = cfg.noise_scale * sigmas * person["scale"]
    return np.where(v == 1, cfg.occluded_factor * scale, scale)


def mpii_joints(person):
    """A drawn person's 16 MPII joints (16, 2) in pixels and their visibility (0 outside, 1 covered, 2 seen)."""
    k = np.array([person["k"][j] if isinstance(j, int) else person["body"][j] for j in MPII_FROM])
    v = np.array([person["v"][j] if isinstance(j, int) else person["body_v"][j] for j in MPII_FROM])
    return k, v


def _write_json(path, obj):
    atomic_write(path, lambda f: json.dump(obj, f), binary=False)


def generate_split(root, split, n_images, seed, cfg, first_id=1, progress=False, layout="coco"):
    """Write one split under root in ``layout`` (coco or mpii); returns the number of person annotations."""
    from tqdm.auto import tqdm

    os.makedirs(os.path.join(root, "images", split), exist_ok=True)
    images, anns, dets, truth_anns, truth_images, mpii = [], [], [], [], [], []
    for i in tqdm(range(n_images), desc=f"synthpose {split}", disable=not progress):
        image_id = first_id + i
        rng = np.random.default_rng([seed, 0 if split == "train" else 1, i])
        style = picture_style(cfg.style, i)
        img, people, occluders, quality = render_image(rng, replace(cfg, style=style))
        name = f"{image_id:012d}.jpg"
        img.save(os.path.join(root, "images", split, name), quality=quality)
        images.append({"id": image_id, "file_name": name, "height": cfg.height, "width": cfg.width})
        for person in people:
            pix = person["visible_pixels"]
            if len(pix) == 0:
                continue  # hidden entirely behind others: COCO would not annotate it
            ann_id = len(anns) + first_id
            y0, x0 = pix.min(0)
            y1, x1 = pix.max(0) + 1
            if layout == "mpii":
                _add_mpii_person(rng, cfg, person, name, (x0, y0, x1, y1), mpii, truth_anns)
            else:
                _add_coco_person(rng, cfg, person, image_id, ann_id, (x0, y0, x1, y1), anns, truth_anns, dets)
        if rng.random() < 0.2:  # a false positive of the detector
            bw, bh = rng.uniform(0.2, 0.6) * cfg.width, rng.uniform(0.3, 0.8) * cfg.height
            x, y = rng.uniform(0, cfg.width - bw), rng.uniform(0, cfg.height - bh)
            dets.append({"image_id": image_id, "category_id": 1, "score": round(float(rng.uniform(0.05, 0.4)), 4),
                         "bbox": [round(float(v), 2) for v in (x, y, bw, bh)]})
        truth_images.append({"image_id": image_id, "style": style, "occluders": occluders, "jpeg_quality": quality})
    return _write_split(root, split, seed, cfg, layout, images, anns, dets, truth_anns, truth_images, mpii)


def _write_split(root, split, seed, cfg, layout, images, anns, dets, truth_anns, truth_images, mpii):
    """The annotation files of one split; returns the number of people annotated."""
    ann_dir = os.path.join(root, "annotations")
    os.makedirs(ann_dir, exist_ok=True)
    if layout == "mpii":
        _write_json(os.path.join(ann_dir, f"mpii_{split}.json"), mpii)
        _write_json(os.path.join(ann_dir, f"truth_{split}.json"), {
            "noise_law": cfg.noise_law, "config": asdict(cfg), "seed": seed, "layout": "mpii", "people": truth_anns})
        return len(mpii)
    coco = {"info": {"description": f"SynthPose {split} (rlelab), seed {seed}", "version": "1.0"},
            "licenses": [], "categories": [PERSON_CATEGORY], "images": images, "annotations": anns}
    _write_json(os.path.join(ann_dir, f"person_keypoints_{split}.json"), coco)
    _write_json(os.path.join(ann_dir, f"person_detections_{split}.json"), dets)
    _write_json(os.path.join(ann_dir, f"truth_{split}.json"), {
        "noise_law": cfg.noise_law, "config": asdict(cfg), "seed": seed,
        "annotations": truth_anns, "images": truth_images})
    return len(anns)


def _add_coco_person(rng, cfg, person, image_id, ann_id, box, anns, truth, dets):
    """One person in COCO's layout: its noisy annotation, its truth (the clean joints and the noise added) and
    the detector's jittered box with a score."""
    x0, y0, x1, y1 = box
    scale_px = _noise_scale_px(person, cfg)
    noise = draw_noise(rng, cfg.noise_law, (17, 2)) * scale_px[:, None]
    labelled = person["v"] > 0
    kp = np.where(labelled[:, None], person["k"] + noise, 0.0)
    keypoints = np.concatenate([kp.round(2), person["v"][:, None]], 1).reshape(-1)
    anns.append({"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                 "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)], "area": float(len(person["visible_pixels"])),
                 "num_keypoints": int(labelled.sum()), "keypoints": [float(x) if j % 3 < 2 else int(x)
                                                                      for j, x in enumerate(keypoints)]})
    true_kp = np.concatenate([np.where(labelled[:, None], person["k"], 0.0), person["v"][:, None]], 1)
    truth.append({"id": ann_id, "keypoints": true_kp.reshape(-1).tolist(), "noise_scale_px": scale_px.tolist(),
                  "noise": np.where(labelled[:, None], noise, 0.0).reshape(-1).tolist()})
    bw, bh = x1 - x0, y1 - y0
    cx, cy = x0 + bw / 2 + rng.normal(0, 0.05 * bw), y0 + bh / 2 + rng.normal(0, 0.05 * bh)
    bw, bh = bw * math.exp(rng.normal(0, 0.1)), bh * math.exp(rng.normal(0, 0.1))
    score = float(np.clip(0.5 + 0.5 * labelled.mean() + rng.normal(0, 0.05), 0.05, 1.0))
    dets.append({"image_id": image_id, "category_id": 1, "score": round(score, 4),
                 "bbox": [round(float(v), 2) for v in (cx - bw / 2, cy - bh / 2, bw, bh)]})


def _add_mpii_person(rng, cfg, person, image_name, box, people, truth):
    """Append one drawn person in MPII's JSON form (1-based pixels) and its truth (0-based); none without a
    labelled joint."""
    k, v = mpii_joints(person)
    labelled = v > 0
    if not labelled.any():
        return
    scale_px = _noise_scale_px(person, cfg, MPII_SIGMAS, v)
    noise = draw_noise(rng, cfg.noise_law, (16, 2)) * scale_px[:, None]
    x0, y0, x1, y1 = (float(c) for c in box)
    people.append({"image": image_name, "joints": np.where(labelled[:, None], k + noise + 1, 0.0).round(2).tolist(),
                   "joints_vis": labelled.astype(int).tolist(), "center": [(x0 + x1) / 2 + 1, (y0 + y1) / 2 + 1],
                   "scale": round((y1 - y0) / 200, 4), "head_box": [round(c + 1, 2) for c in person["head_box"]]})
    truth.append({"index": len(people) - 1, "joints": np.where(labelled[:, None], k, 0.0).tolist(),
                  "visibility": v.tolist(), "noise_scale_px": scale_px.tolist(),
                  "noise": np.where(labelled[:, None], noise, 0.0).tolist()})


def generate(out, n_train, n_val, seed=0, config=None, progress=False, layout="coco"):
    """Write a SynthPose data set to ``out`` (built in a temp folder beside it, then renamed) in ``layout``:
    coco (COCO person keypoints) or mpii (mmpose's MPII JSON with head boxes)."""
    cfg = config or SynthPoseConfig()
    if cfg.noise_law not in NOISE_LAWS:
        raise ValueError(f"unknown noise law {cfg.noise_law!r}; choose one of {', '.join(NOISE_LAWS)}.")
    if cfg.style not in STYLE_CHOICES:
        raise ValueError(f"unknown SynthPose style {cfg.style!r}; choose one of {', '.join(STYLE_CHOICES)}.")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}.")
    if n_train < 0 or n_val < 0 or n_train + n_val < 1:
        raise ValueError(f"synthpose: {n_train} train and {n_val} val pictures; each count must be 0 or more, and one "
                         "of them at least 1.")
    def build(tmp):
        generate_split(tmp, "train", n_train, seed, cfg, first_id=1, progress=progress, layout=layout)
        generate_split(tmp, "val", n_val, seed, cfg, first_id=n_train + 1, progress=progress, layout=layout)

    return write_folder(out, build, ".synthpose-")


def noise_floor(root, split="val"):
    """The mean OKS of a COCO-layout SynthPose split's clean joints to its noisy annotations: no model can agree
    with the annotations better, so a model's mean OKS over this is how near the label noise it is."""
    ann, _ = coco_paths(root, split)
    truth_file = os.path.join(root, "annotations", f"truth_{split}.json")
    if not os.path.isfile(truth_file):
        raise ValueError(f"{truth_file} is missing: the noise floor needs a SynthPose set in the coco layout "
                         "(python -m rlelab synthpose --out DIR).")
    with open(truth_file) as f:
        truth = json.load(f)["annotations"]
    with open(ann) as f:
        image_of = {a["id"]: a["image_id"] for a in json.load(f)["annotations"]}
    clean = [{"ann_id": t["id"], "image_id": image_of[t["id"]], "keypoints": t["keypoints"], "score": 1.0} for t in truth]
    return float(score_oks_pairs(ann, clean)[1].mean())
