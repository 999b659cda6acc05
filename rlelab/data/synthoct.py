"""SynthOCT: synthetic retina OCT B-scans with a known truth, for RLE beyond pose (the paper's Appendix H).

    python -m rlelab synthoct --out DIR --n-train N --n-val M --seed S

writes DIR/images/{train,val}/*.png (grayscale scans) and DIR/annotations/synthoct_{train,val}.json: for each
scan the rows of the 8 boundaries that the DME data set annotates (Chiu et al. 2015; top to bottom ILM, NFL/GCL,
IPL/INL, INL/OPL, OPL/ONL, ISM/ISE, OS/RPE, BM) at 16 evenly spaced columns (``tasks.oct.column_positions``), as an annotator placed them,
and which of them are hidden. DIR/annotations/truth_{split}.json holds the clean rows and the noise scale of each.

A scan is drawn in five steps (``render_scan``):

1. The boundaries: Bruch's membrane (BM) a gentle curve with a tilt; each of the 7 layers above it a thickness
   that varies smoothly along the scan; the fovea a pit where the inner layers (NFL to OPL) thin out.
2. DME's fluid: 0-3 dark pockets in the INL or the ONL (an ellipse of fluid swells its layer, so every boundary
   above it rises). The two boundaries of a pocket's layer are hidden over its columns: their edges are blurred
   there (4 times wider).
3. Vessel shadows: 0-2 vessels in the NFL/GCL whose columns lose 70-85 % of the signal from 2 pixels below that
   boundary down; every boundary under the shadow (IPL/INL to BM) is hidden there.
4. Reflectivity per layer (bright NFL, OPL, ISE and RPE; dark INL, ONL and fluid), each boundary's edge half a
   pixel wide (a logistic's scale) where it is not blurred, then OCT's speckle: a multiplicative Gamma noise (intensity of a few looks), and a
   logarithmic display, as a scanner writes it.
5. The labels: the truth plus annotator noise of a known law (default Student-t, nu = 3, as SynthPose), of scale
   ``noise_px`` where the boundary is seen and ``hidden_factor`` times that where it is hidden.

Same seed, same bytes. The real DME set is 110 B-scans of 496 x 768 pixels (11 per patient, 10 patients) in
MATLAB files (``images``, ``manualLayers1`` (8, 768, 61) with NaN where not annotated); no sample of it is here, so
rlelab reads SynthOCT's JSON form only.
"""
import json
import os
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from ..files import atomic_write, write_folder
from ..tasks.oct import BOUNDARIES, column_positions
from .synthpose import NOISE_LAWS, draw_noise

LAYERS = ("NFL", "GCL+IPL", "INL", "OPL", "ONL", "ISE+OS", "RPE")  # between consecutive boundaries
# a layer's mean thickness as a share of the scan's height, and its reflectivity (vitreous and choroid around them)
THICKNESS = np.array([0.045, 0.085, 0.045, 0.035, 0.09, 0.03, 0.03])
REFLECTIVITY = np.array([0.8, 0.35, 0.1, 0.4, 0.06, 0.7, 1.0])
INNER = 4  # NFL, GCL+IPL, INL and OPL thin out at the fovea
FLUID_LAYERS = (2, 4)  # INL and ONL: where DME's cysts sit
VITREOUS, FLUID, CHOROID = 0.004, 0.01, 0.35
EDGE, BLURRED = 0.5, 2.0  # a boundary's edge width in pixels (a logistic's scale), and where fluid blurs it


@dataclass
class SynthOCTConfig:
    height: int = 96
    width: int = 128
    noise_law: str = "student_t"  # law of the annotator noise
    noise_px: float = 0.6  # its scale in pixels where the boundary is seen
    hidden_factor: float = 4.0  # x this where fluid or a vessel's shadow hides it
    max_pockets: int = 3
    max_vessels: int = 2
    looks: float = 3.0  # speckle: Gamma(looks) intensity noise, fully developed speckle at 1


def _smooth(rng, x, scale, waves=3):
    """Smooth random profiles over x in [0, 1] (..., width), one per row of x: a few low-frequency sines of amplitude
    ``scale``."""
    out = np.zeros_like(x)
    rows = x.shape[:-1] + (1,)
    for k in range(1, waves + 1):
        out += rng.normal(0, scale / k, rows) * np.sin(np.pi * k * x + rng.uniform(0, 2 * np.pi, rows))
    return out


def _boundaries(rng, cfg):
    """(8, width) rows of the boundaries, the (pockets) added, and the layer each pocket swells."""
    h, w = cfg.height, cfg.width
    x = np.arange(w) / (w - 1)
    thick = THICKNESS[:, None] * h * (1 + _smooth(rng, np.broadcast_to(x, (7, w)), 0.12)) * rng.uniform(0.85, 1.15)
    fovea, width = rng.uniform(0.3, 0.7), rng.uniform(0.07, 0.13)
    pit = np.exp(-((x - fovea) / width) ** 2)
    thick[:INNER] *= 1 - rng.uniform(0.75, 0.95) * pit
    thick[4] *= 1 + 0.3 * pit  # the ONL thickens under the pit
    pockets = []
    for _ in range(rng.integers(0, cfg.max_pockets + 1)):
        layer = int(rng.choice(FLUID_LAYERS))
        centre, half = rng.uniform(0.1, 0.9), rng.uniform(0.04, 0.14)
        tall = rng.uniform(0.04, 0.12) * h
        bump = tall * np.sqrt(np.clip(1 - ((x - centre) / half) ** 2, 0, None))
        thick[layer] += bump
        pockets.append((layer, bump))
    bm = h * rng.uniform(0.72, 0.8) + h * rng.uniform(0.0, 0.08) * (2 * x - 1) ** 2 + h * rng.uniform(-0.05, 0.05) * (2 * x - 1)
    rows = bm[None] - np.concatenate([np.cumsum(thick[::-1], 0)[::-1], np.zeros((1, w))])  # ILM ... BM
    return rows, pockets


def render_scan(rng, cfg):
    """(uint8 (height, width) scan, truth rows (8, width), hidden (8, width) bools)."""
    h, w = cfg.height, cfg.width
    rows, pockets = _boundaries(rng, cfg)
    r = np.arange(h)[:, None] + 0.0
    width = np.full((8, w), EDGE)  # how wide each boundary's edge is, per column
    hidden = np.zeros((8, w), bool)
    for layer, bump in pockets:  # fluid blurs the two boundaries of the layer it swells
        over = bump > 0.5
        width[layer:layer + 2, over] = BLURRED
        hidden[layer:layer + 2] |= over
    below = 1 / (1 + np.exp(-(r[None] - rows[:, None]) / width[:, None]))  # (8, h, w): 0 above boundary k, 1 below
    # a layer's share stays >= 0: where a blurred edge's tail reaches the next boundary (a thin layer over a
    # pocket), that boundary is softened with it
    below = np.minimum.accumulate(below, axis=0)
    gain = REFLECTIVITY * rng.uniform(0.85, 1.15, len(REFLECTIVITY))
    signal = VITREOUS + np.zeros((h, w))
    for k in range(len(LAYERS)):
        signal += (gain[k] - VITREOUS) * (below[k] - below[k + 1])
    depth = np.clip(r - rows[-1][None], 0, None)
    signal += below[7] * (CHOROID * np.exp(-depth / (0.15 * h)) - VITREOUS)  # the choroid, fading with depth
    for layer, bump in pockets:  # the fluid fills the swollen part of its layer, centred in it
        mid = (rows[layer] + rows[layer + 1]) / 2
        inside = np.abs(r - mid[None]) < bump[None] / 2
        signal = np.where(inside, FLUID, signal)
    for _ in range(rng.integers(0, cfg.max_vessels + 1)):  # a vessel in the NFL/GCL: every boundary below it shaded
        centre, half = rng.uniform(0.05, 0.95) * w, rng.uniform(1.0, 2.5)
        cols = np.abs(np.arange(w) - centre) < half
        top = rows[1] + 2
        signal = np.where(cols[None] & (r > top[None]), signal * rng.uniform(0.15, 0.3), signal)
        hidden[2:] |= cols[None]
    speckle = rng.gamma(cfg.looks, 1 / cfg.looks, (h, w))
    intensity = signal * speckle + 0.002 * rng.exponential(1.0, (h, w))
    display = np.log1p(30 * intensity) / np.log1p(30 * 1.5)  # a scanner's logarithmic display
    return (np.clip(display, 0, 1) * 255).round().astype(np.uint8), rows, hidden


def at_columns(rows, hidden, width):
    """A scan's truth rows (8, width) and hidden flags at the labelled columns (8, 16): the rows interpolated
    linearly to each column's x (which may lie between two pixel columns), hidden if either neighbour is."""
    xs = column_positions(width)
    lo = np.floor(xs).astype(int)
    hi = np.minimum(lo + 1, width - 1)
    t = xs - lo
    return rows[:, lo] * (1 - t) + rows[:, hi] * t, hidden[:, lo] | (hidden[:, hi] & (t > 0))


def generate_split(root, split, n_scans, seed, cfg, first_id=1, progress=False):
    """Write one split of ``n_scans`` under ``root``."""
    from tqdm.auto import tqdm

    os.makedirs(os.path.join(root, "images", split), exist_ok=True)
    scans, truth = [], []
    for i in tqdm(range(n_scans), desc=f"synthoct {split}", disable=not progress):
        scan_id = first_id + i
        rng = np.random.default_rng([seed, 0 if split == "train" else 1, i])
        image, rows, hidden = render_scan(rng, cfg)
        name = f"{scan_id:06d}.png"
        Image.fromarray(image).save(os.path.join(root, "images", split, name))
        true, hid = at_columns(rows, hidden, cfg.width)
        scale = cfg.noise_px * np.where(hid, cfg.hidden_factor, 1.0)
        noise = draw_noise(rng, cfg.noise_law, true.shape) * scale
        scans.append({"id": scan_id, "file_name": name, "height": cfg.height, "width": cfg.width,
                      "boundaries": (true + noise).round(3).tolist(), "hidden": hid.astype(int).tolist()})
        truth.append({"id": scan_id, "boundaries": true.round(4).tolist(), "noise_scale_px": scale.tolist()})
    ann_dir = os.path.join(root, "annotations")
    os.makedirs(ann_dir, exist_ok=True)
    info = {"description": f"SynthOCT {split} (rlelab), seed {seed}", "boundary_names": list(BOUNDARIES),
            "columns": column_positions(cfg.width).round(4).tolist()}
    _write_json(os.path.join(ann_dir, f"synthoct_{split}.json"), {"info": info, "scans": scans})
    _write_json(os.path.join(ann_dir, f"truth_{split}.json"), {"noise_law": cfg.noise_law, "config": asdict(cfg),
                                                               "seed": seed, "scans": truth})
    return len(scans)


def _write_json(path, obj):
    atomic_write(path, lambda f: json.dump(obj, f), binary=False)


def generate(out, n_train, n_val, seed=0, config=None, progress=False):
    """Write a SynthOCT data set to ``out`` (built in a temp folder beside it, then renamed)."""
    cfg = config or SynthOCTConfig()
    if cfg.noise_law not in NOISE_LAWS:
        raise ValueError(f"unknown noise law {cfg.noise_law!r}; choose one of {', '.join(NOISE_LAWS)}.")
    if n_train < 0 or n_val < 0 or n_train + n_val < 1:
        raise ValueError(f"synthoct: {n_train} train and {n_val} val scans; each count must be 0 or more, and one of "
                         "them at least 1.")
    if cfg.height < 32 or cfg.width < 32:
        raise ValueError(f"synthoct: a scan of {cfg.height}x{cfg.width} is too small; at least 32 rows and "
                         "32 columns.")

    def build(tmp):
        generate_split(tmp, "train", n_train, seed, cfg, first_id=1, progress=progress)
        generate_split(tmp, "val", n_val, seed, cfg, first_id=n_train + 1, progress=progress)

    return write_folder(out, build, ".synthoct-")
