"""What the app's pages share: finding and caching checkpoints, reading uploads, drawing poses."""
import os
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch
from PIL import Image

from rlelab.losses import LOSSES, density_grid
from rlelab.checkpoints import load_checkpoint
from rlelab.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
DEFAULTS = {"rle": DATA / "synthpose_res18_rle.pt", "l1": DATA / "synthpose_res18_l1.pt"}
DISPLAY_SIDE = 1600  # larger pictures are shown and processed at this long side
REPRODUCE = ("python -m rlelab synthpose --out data/synthpose --n-train 4000 --n-val 200\n"
             "python -m rlelab train --config configs/synthpose_res18_rle.yaml\n"
             "python -m rlelab export --checkpoint runs/synthpose_res18_rle/last.pt --out data/synthpose_res18_rle.pt")


def checkpoints():
    """Shipped checkpoints first, then whatever `rlelab train` wrote under runs/, then the .pt files of the folders
    in RLELAB_CHECKPOINTS (separated by the OS's path separator; e.g. imported released weights kept elsewhere)."""
    found = sorted(DATA.glob("*.pt")) + sorted((ROOT / "runs").glob("*/best.pt")) + sorted((ROOT / "runs").glob("*/last.pt"))
    for folder in filter(None, os.environ.get("RLELAB_CHECKPOINTS", "").split(os.pathsep)):
        found += sorted(Path(folder).expanduser().resolve().glob("*.pt"))
    found = [p for p in found if "lift" not in p.name]  # the lifting model (page "3-D lifting") takes 2-D joints
    return [str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in found]


@st.cache_resource(show_spinner="loading the model ...")
def load_model(path):
    """(model, config, about, density): ``about`` holds the checkpoint's history, for imported weights its source
    (``rlelab.released``) and ``error_std``, what sigma_hat times is the predicted error's std (``Loss.moments``); for a model with a flow, ``density`` is its learned density of bar_mu as
    ``density_grid`` returns it (axis, density, mean, std): P_phi = Q G_phi s for RLE, G_phi alone otherwise;
    None without a flow."""
    model, cfg, ckpt = load_checkpoint(str(ROOT / path))
    density = None
    if getattr(model, "flow", None) is not None:
        with torch.no_grad():
            loss = LOSSES[cfg.loss]  # the variant's Q for RLE; the flow alone for DLE
            density = density_grid(model.flow, loss.log_q(cfg, model.flow.dim), standardize=loss.standardized(cfg))
    with torch.no_grad():  # std(bar_mu) per axis under the density the loss fitted
        error_std = LOSSES[cfg.loss].moments(getattr(model, "flow", None), cfg, 2)[1].numpy()
    return model, cfg, {"history": ckpt.get("history", []), "source": ckpt.get("source"), "error_std": error_std}, density


def pick_checkpoint(label, default_kind, key):
    options = checkpoints()
    if not options:
        st.info("No pose checkpoint yet. Make the shipped one with:\n\n```bash\n" + REPRODUCE + "\n```")
        return None
    default = str(DEFAULTS[default_kind].relative_to(ROOT))
    index = options.index(default) if default in options else 0
    return st.selectbox(label, options, index=index, key=key, help="shipped in data/, written by `rlelab train` in "
                        "runs/, or in the folders of RLELAB_CHECKPOINTS (e.g. released weights imported with `rlelab import-weights`)")


RELEASED = {"official": "the authors' released RLE model", "mmpose": "mmpose's released RLE model"}
PHOTOS = {"coco": "COCO train2017", "mpii": "MPII"}


def trained_on(cfg, about):
    """(whether the model has seen drawn people only, a sentence on what it was trained on)."""
    source = about.get("source")
    if source:
        return False, f"{RELEASED.get(source['format'], source['format'])} ({source['file']}), trained on {PHOTOS.get(cfg.task, cfg.task)} photos"
    synthetic = "synth" in Path(cfg.data).name.lower()  # SynthPose / Synth3D folders, as their commands name them
    return synthetic, f"trained here on {cfg.data}" + (": drawn figures, not one photo" if synthetic else "")


def model_caption(cfg, about):
    metric = TASKS[cfg.task].metric
    value = next((row[metric] for row in reversed(about["history"]) if metric in row), None)
    what = f"{cfg.head}" + (f", loss {cfg.loss}" if cfg.head == "regression" else "")
    return (f"{cfg.backbone} {what}, input {cfg.input_size[0]}x{cfg.input_size[1]}, {trained_on(cfg, about)[1]}"
            + (f", val {metric} {value:.3f}" if value is not None else ""))


def shrink(image):
    """(image, factor): pictures over DISPLAY_SIDE pixels on the long side are resized (PIL, antialiased)."""
    h, w = image.shape[:2]
    factor = min(1.0, DISPLAY_SIDE / max(h, w))
    if factor == 1.0:
        return image, 1.0
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS)), factor


def limb_path(values, limbs):
    """One coordinate of a skeleton as one line trace: each limb's two ends, then a break (None)."""
    return [v for a, b in limbs for v in (float(values[a]), float(values[b]), None)]


def pose_figure(image, preds, layout, show_sigma=True, sigma_scale=1.0, height=560, truth=()):
    """The picture with each person's skeleton of ``layout`` (the task's joints), one ellipse per joint, numbers on
    hover, the person box dashed; ``truth``: annotated people's keypoints (K, 3: x, y, v) drawn in green.

    The ellipse's half-axes are the std of the error the model predicts: sigma_hat * std(P_phi) in pixels
    when the model has a flow (``error_px``), else sigma_hat in pixels. The confidence colours span the range of
    this picture's joints, whatever the model's scale of c.
    """
    traces, shapes = [go.Image(z=image, hoverinfo="skip")], []  # added at once: plotly copies a figure per add_*
    for k, keypoints in enumerate(truth):
        seen = keypoints[:, 2] > 0
        limbs = [(a, b) for a, b in layout.skeleton if seen[a] and seen[b]]
        traces.append(go.Scatter(x=limb_path(keypoints[:, 0], limbs), y=limb_path(keypoints[:, 1], limbs), mode="lines",
                                 hoverinfo="skip", line=dict(color="rgba(44,160,44,0.9)", width=2, dash="dot"), showlegend=False))
        traces.append(go.Scatter(x=keypoints[seen, 0], y=keypoints[seen, 1], mode="markers", name="annotation",
                                 marker=dict(symbol="x", size=8, color="rgb(44,160,44)"), showlegend=k == 0,
                                 hovertext=[f"annotated {n}" for n, v in zip(layout.keypoints, seen) if v], hoverinfo="text"))
    conf = np.concatenate([p["confidence"] for p in preds]) if preds else np.zeros(1)
    lo, hi = float(conf.min()), float(conf.max())
    if hi - lo < 0.02:  # one colour for all: widen around them
        lo, hi = lo - 0.01, hi + 0.01
    for pred in preds:
        joints = pred["joints"]
        traces.append(go.Scatter(x=limb_path(joints[:, 0], layout.skeleton), y=limb_path(joints[:, 1], layout.skeleton),
                                 mode="lines", line=dict(color="rgba(255,255,255,0.85)", width=3), hoverinfo="skip",
                                 showlegend=False))
        sigma = pred.get("error_px", pred["sigma_px"]) if show_sigma else None
        if sigma is not None:
            for (x, y), (sx, sy) in zip(joints, sigma * sigma_scale):
                shapes.append(dict(type="circle", x0=x - sx, x1=x + sx, y0=y - sy, y1=y + sy,
                                   line=dict(color="rgba(214,39,40,0.9)", width=2), fillcolor="rgba(214,39,40,0.18)"))
        text = [f"<b>{name}</b><br>x {x:.1f}, y {y:.1f} px" + (f"<br>error std {sx:.1f}, {sy:.1f} px" if sigma is not None else "")
                + f"<br>c = {c:.3f}" for name, (x, y), (sx, sy), c in
                zip(layout.keypoints, joints, sigma if sigma is not None else np.zeros_like(joints), pred["confidence"])]
        if not show_sigma:  # a model without sigma_hat (L1, L2): no confidence to colour, none to hover
            text = [t.rsplit("<br>c = ", 1)[0] for t in text]
        marker = (dict(color=pred["confidence"], colorscale="RdYlGn", cmin=lo, cmax=hi,
                       colorbar=dict(title="c", thickness=12, tickformat=".3f", len=0.6)) if show_sigma else dict(color="white"))
        traces.append(go.Scatter(x=joints[:, 0], y=joints[:, 1], mode="markers", hovertext=text, hoverinfo="text",
                                 marker=dict(size=9, line=dict(color="black", width=1), **marker), showlegend=False))
        x, y, w, h = pred["box"]
        shapes.append(dict(type="rect", x0=x, y0=y, x1=x + w, y1=y + h, line=dict(color="rgba(31,119,180,0.9)", dash="dash")))
    h, w = image.shape[:2]  # the picture fills the plot; ellipses reaching outside it are clipped
    fig = go.Figure(traces)
    fig.update_layout(shapes=shapes, height=height, margin=dict(l=0, r=0, t=10, b=0), xaxis=dict(visible=False, range=[-0.5, w - 0.5]),
                      yaxis=dict(visible=False, range=[h - 0.5, -0.5], scaleanchor="x"), dragmode="select",
                      legend=dict(orientation="h", y=1.02, x=0))
    return fig


def boxes_from_selection(selection, width, height):
    """The person boxes [x, y, w, h] of the rectangles dragged on a picture (plotly's box selection as Streamlit
    returns it: {"box": [{"x": [x0, x1], "y": [y0, y1]}, ...]}), clipped to the picture; slivers dropped."""
    boxes = []
    for rect in (selection or {}).get("box", []):
        (x0, x1), (y0, y1) = sorted(rect["x"][:2]), sorted(rect["y"][:2])
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if x1 - x0 >= 4 and y1 - y0 >= 4:
            boxes.append([x0, y0, x1 - x0, y1 - y0])
    return boxes


def sigma_figure(pred, layout, height=360):
    """sigma_hat per joint of ``layout`` (x and y, in units of the crop) as bars."""
    s = pred["sigma_hat"]
    names = list(layout.keypoints)
    fig = go.Figure([go.Bar(name="σ̂ x", x=names, y=s[:, 0], marker_color="#d62728"),
                     go.Bar(name="σ̂ y", x=names, y=s[:, 1], marker_color="#ff9896")])
    fig.update_layout(barmode="group", height=height, yaxis_title="σ̂ (fraction of the crop)", margin=dict(t=10),
                      legend=dict(orientation="h", y=1.12), xaxis_tickangle=-45)
    return fig
