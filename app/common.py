"""What the app's pages (``views/``) share, so that no page imports another: finding and caching checkpoints,
choosing a picture and its person boxes, running a model on them, drawing poses."""
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch
from PIL import Image

from rlelab import detect
from rlelab.checkpoints import load_checkpoint
from rlelab.config import method
from rlelab.files import SHIPPED
from rlelab.inference import predict_image, read_image
from rlelab.losses import LOSSES, density_grid
from rlelab.models import HEADS
from rlelab.tasks import TASKS
from rlelab.tasks.coco import LAYOUT as COCO_LAYOUT

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(SHIPPED)  # rlelab's data/, the one home of where the shipped files are
DEFAULTS = {"rle": DATA / "synthpose_lite0_rle.pt", "l1": DATA / "synthpose_lite0_l1.pt",
            "oct_rle": DATA / "synthoct_mnv3_rle.pt"}
DISPLAY_SIDE = 1600  # larger pictures are shown and processed at this long side
REPRODUCE = ("python -m rlelab synthpose --out data/synthpose_mixed --n-train 4000 --n-val 200 --style mixed\n"
             "python -m rlelab train --config configs/synthpose_lite0_cpu_rle.yaml  # about an hour on one core\n"
             "python -m rlelab export --checkpoint runs/synthpose_lite0_cpu_rle/last.pt --out data/synthpose_lite0_rle.pt")


POSE_TASKS = tuple(name for name, task in TASKS.items() if 0 in task.layout.flip_negates)  # joints with an x: not OCT's rows


@st.cache_data(show_spinner=False)
def task_of(path, mtime):
    """The task a checkpoint was trained on (``mtime``: read again when the file changes); None if unreadable."""
    from rlelab.checkpoints import read_checkpoint

    try:
        return read_checkpoint(path)["config"].get("task", "coco")
    except ValueError:
        return None


def checkpoints(tasks=POSE_TASKS):
    """Shipped checkpoints first, then whatever `rlelab train` wrote under runs/, then the .pt files of the folders
    in RLELAB_CHECKPOINTS (separated by the OS's path separator; e.g. imported released weights kept elsewhere):
    those trained on one of ``tasks``."""
    found = sorted(DATA.glob("*.pt")) + sorted((ROOT / "runs").glob("*/best.pt")) + sorted((ROOT / "runs").glob("*/last.pt"))
    for folder in filter(None, os.environ.get("RLELAB_CHECKPOINTS", "").split(os.pathsep)):
        found += sorted(Path(folder).expanduser().resolve().glob("*.pt"))
    found = [p for p in found if "lift" not in p.name]  # the lifting model (page "3-D lifting") takes 2-D joints
    found = [p for p in found if task_of(str(p), p.stat().st_mtime) in tasks]
    return [str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in found]


@st.cache_resource(show_spinner="loading the model ...")
def load_model(path):
    """(model, config, about, density): ``about`` holds the checkpoint's history, for imported weights its source
    (``rlelab.released``) and ``error_std``, what sigma_hat times is the predicted error's std (``Loss.moments``); for a model with a flow, ``density`` is its learned density of bar_mu as
    ``density_grid`` returns it (axis, density, mean, std): P_phi = Q G_phi s for RLE with log s or standardized, G_phi
    alone for DLE and for RLE without log s (``Loss.log_q``); None without a flow."""
    model, cfg, ckpt = load_checkpoint(str(ROOT / path))
    density = None
    if getattr(model, "flow", None) is not None:
        with torch.no_grad():
            loss = LOSSES[cfg.loss]  # Q G_phi s or G_phi alone, as the loss trained its flow
            density = density_grid(model.flow, loss.log_q(cfg, model.flow.dim), standardize=loss.standardized(cfg))
    with torch.no_grad():  # std(bar_mu) per axis under the density the loss fitted
        dim = min(TASKS[cfg.task].dim, 2)  # a 3-D model's page shows its (u, v)
        error_std = LOSSES[cfg.loss].moments(getattr(model, "flow", None), cfg, dim)[1].numpy()
    return model, cfg, {"history": ckpt.get("history", []), "source": ckpt.get("source"), "error_std": error_std}, density


def pick_checkpoint(label, default_kind, key, tasks=POSE_TASKS, reproduce=REPRODUCE):
    """A checkpoint of one of ``tasks`` chosen in a selectbox (``DEFAULTS[default_kind]`` first); None and the
    commands that make one (``reproduce``) where there is none."""
    options = checkpoints(tasks)
    if not options:
        st.info(f"No checkpoint of this page's tasks ({', '.join(tasks)}) yet. Make the shipped one with:\n\n```bash\n" + reproduce + "\n```")
        return None
    default = str(DEFAULTS[default_kind].relative_to(ROOT))
    index = options.index(default) if default in options else 0
    return st.selectbox(label, options, index=index, key=key, help="shipped in data/, written by `rlelab train` in "
                        "runs/, or in the folders of RLELAB_CHECKPOINTS (e.g. released weights imported with `rlelab import-weights`)")


RELEASED = {"official": "the authors' released RLE model", "mmpose": "mmpose's released RLE model"}


def trained_on(cfg, about):
    """(whether the model has seen drawn people only, a sentence on what it was trained on)."""
    source = about.get("source")
    if source:
        return False, f"{RELEASED.get(source['format'], source['format'])} ({source['file']}), trained on {TASKS[cfg.task].photos} photos"
    synthetic = "synth" in Path(cfg.data).name.lower()  # SynthPose / Synth3D folders, as their commands name them
    return synthetic, f"trained here on {cfg.data}" + (": drawn figures, not one photo" if synthetic else "")


def model_title(cfg):
    """A model's name over its column: its loss in capitals ("RLE", "INTEGRAL L1"), or "heatmap"."""
    return method(cfg).upper() if HEADS[cfg.head].coordinates else method(cfg)


def model_caption(cfg, about):
    metric = TASKS[cfg.task].metric
    value = next((row[metric] for row in reversed(about["history"]) if metric in row), None)
    what = f"{cfg.head}" + (f", loss {cfg.loss}" if HEADS[cfg.head].coordinates else "")
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
                       colorbar=dict(title=dict(text="c", side="right"), orientation="h", thickness=10, tickformat=".3f", len=0.7,
                                     y=0, yanchor="top")) if show_sigma else dict(color="white"))
        traces.append(go.Scatter(x=joints[:, 0], y=joints[:, 1], mode="markers", hovertext=text, hoverinfo="text",
                                 marker=dict(size=9, line=dict(color="black", width=1), **marker), showlegend=False))
        x, y, w, h = pred["box"]
        shapes.append(dict(type="rect", x0=x, y0=y, x1=x + w, y1=y + h, line=dict(color="rgba(31,119,180,0.9)", dash="dash")))
    h, w = image.shape[:2]  # the picture fills the plot; ellipses reaching outside it are clipped
    fig = go.Figure(traces)
    # the colour bar lies under the picture, in a strip every figure keeps, so that pictures side by side (Compare)
    # are drawn the same size whether or not their model has a confidence to colour
    fig.update_layout(shapes=shapes, height=height, margin=dict(l=0, r=0, t=10, b=44), xaxis=dict(visible=False, range=[-0.5, w - 0.5]),
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


SAMPLES = sorted(DATA.glob("samples/*.jpg"))
REAL_COCO = ROOT.parent / "shared" / "data" / "real-samples" / "coco"  # photos with COCO's annotations, where present


@dataclass
class Picture:
    image: np.ndarray  # RGB, at most DISPLAY_SIDE on the long side
    name: str
    photo: bool  # a photograph (an upload, a real sample), not one of SynthPose's drawn figures
    truth: list = field(default_factory=list)  # annotated people: keypoints (K, 3) of ``layout`` in the picture's pixels
    boxes: list = field(default_factory=list)  # their boxes [x, y, w, h]
    areas: list = field(default_factory=list)  # their areas in pixels (OKS's scale)
    layout: object = COCO_LAYOUT  # the joints of ``truth`` (the real samples are COCO's)


@st.cache_data(show_spinner=False)
def real_samples():
    """{file name: [(box, keypoints (17, 3), area), ...]} of the real COCO samples' people with a labelled joint ({}
    without ../shared)."""
    try:
        data = json.loads((REAL_COCO / "test_coco.json").read_text())
    except (OSError, ValueError):
        return {}
    names = {im["id"]: im["file_name"] for im in data["images"]}
    people = {}
    for ann in data["annotations"]:
        if ann.get("num_keypoints", 0) > 0 and (REAL_COCO / names[ann["image_id"]]).exists():
            people.setdefault(names[ann["image_id"]], []).append((ann["bbox"], np.reshape(ann["keypoints"], (17, 3)),
                                                                  ann["area"]))
    return people


def choose_image(key):
    """The picture: an upload, a shipped SynthPose sample or a real COCO sample with its annotations (None and a
    message if it cannot be read)."""
    source = st.radio("picture", ["sample", "upload"], horizontal=True, key=f"{key}_source")
    truth = []
    if source == "upload":
        upload = st.file_uploader("a JPEG or PNG; drag a box around each person on it", type=["jpg", "jpeg", "png"],
                                  key=f"{key}_upload")
        if upload is None:
            st.info("Upload a picture, or switch to a sample.")
            return None
        data, name, photo = upload.getvalue(), upload.name, True
    else:
        real = real_samples()
        options = [(p.name, "SynthPose, drawn") for p in SAMPLES] + [(n, "COCO val2017, a real photo") for n in sorted(real)]
        if not options:
            st.warning("No sample pictures in data/samples/; upload one instead.")
            return None
        name, _ = st.selectbox("sample", options, format_func=lambda o: f"{o[0]} ({o[1]})", key=f"{key}_sample")
        photo = name in real
        data = (REAL_COCO / name if photo else DATA / "samples" / name).read_bytes()
        truth = real.get(name, []) if photo else []
    try:
        image = read_image(data, name, max_side=DISPLAY_SIDE)
    except ValueError as e:
        st.error(str(e))
        return None
    image, factor = shrink(image)
    if factor < 1:
        st.caption(f"{name} is large: shown and processed at {image.shape[1]} x {image.shape[0]} pixels.")
    return Picture(image, name, photo, [k * [factor, factor, 1] for _, k, _ in truth],
                   [(np.asarray(b) * factor).tolist() for b, _, _ in truth], [a * factor ** 2 for _, _, a in truth])


@st.cache_data(show_spinner="finding the people (MediaPipe) ...", max_entries=16)
def found_people(image):
    """MediaPipe's people on a picture (``rlelab.detect.find_people``), once per picture."""
    return detect.find_people(image)


BOX_SOURCES = {"annotated": "the annotations", "found": "MediaPipe's detector", "whole": "the whole picture"}


def choose_boxes(picture, key):
    """(person boxes, the chart's key, how they were chosen): the rectangles dragged on the picture, else a typed
    box, else the source picked: the annotated people's boxes (real samples), the people MediaPipe finds (photos)
    or the whole picture (SynthPose's samples, already cropped around their person)."""
    h, w = picture.image.shape[:2]
    chart = f"{key}_chart_{picture.name}_{w}x{h}"  # another picture starts without a selection
    state = st.session_state.get(chart)
    dragged = boxes_from_selection(state["selection"] if state else None, w, h)
    typed_key = f"{key}_typed_{picture.name}_{w}x{h}"
    with st.expander("type a person box instead"):
        with st.form(f"{key}_form_{w}x{h}", border=False):
            c = st.columns(4)
            x = c[0].number_input("x", 0, w - 1, 0)
            y = c[1].number_input("y", 0, h - 1, 0)
            bw = c[2].number_input("width", 1, w, w)
            bh = c[3].number_input("height", 1, h, h)
            if st.form_submit_button("use this box", key=f"{key}_use_box"):
                st.session_state[typed_key] = [x, y, bw, bh]
    sources = (["annotated"] if picture.boxes else []) + (["found"] if picture.photo else []) + ["whole"]
    source = sources[0] if len(sources) == 1 else st.radio(
        "person boxes from", sources, format_func=BOX_SOURCES.get, horizontal=True, key=f"{key}_boxes_{picture.name}")
    if dragged:
        return dragged, chart, "drawn"
    if typed_key in st.session_state:
        return [st.session_state[typed_key]], chart, "typed"
    if source == "annotated":
        return picture.boxes, chart, "annotated"
    if source == "found":
        if not detect.available():
            st.info(detect.INSTALL)
        elif people := found_people(picture.image):
            return [p.box for p in people], chart, "found"
        else:
            st.info("MediaPipe found nobody on this picture: drag a box around each person on it.")
    return [[0, 0, w, h]], chart, "whole"


BOX_NOTE = {"drawn": "Person boxes drawn on the picture: {n}. Drag again to change them, double-click to clear.",
            "typed": "The typed box; drag a box on the picture to change it.",
            "annotated": "The boxes of the annotated people ({n}; dotted green: their annotated joints); drag a box to choose another.",
            "found": "People found by MediaPipe's pose detector: {n} (the box of its landmarks grown by 10 % on each "
                     "side); drag a box to choose another.",
            "whole": "No person box yet, so the model sees the whole picture: drag a box around each person on it "
                     "(the picture is in box-select mode)."}


def run(path, image, box):
    model, cfg, about, _ = load_model(path)
    start = time.perf_counter()
    try:
        pred = predict_image(model, image, cfg.input_size, box=box, flip_pairs=TASKS[cfg.task].layout.flip_pairs)
    except ValueError as e:
        st.error(str(e))
        return None, cfg, about
    pred["seconds"] = time.perf_counter() - start
    if pred["sigma_px"] is not None:  # mu_g = mu_hat + sigma_hat * bar_mu: the error's std is sigma_hat * std(bar_mu)
        pred["bar_mu_std"] = about["error_std"]
        pred["error_px"] = pred["sigma_px"] * pred["bar_mu_std"]
    return pred, cfg, about


def run_people(path, image, boxes):
    """(the predictions of the boxes that could be read, config, about) of one model on a picture."""
    results = [run(path, image, box) for box in boxes]
    return [pred for pred, _, _ in results if pred is not None], results[0][1], results[0][2]


def warn_if_unseen(picture, models):
    """Say it once, before anything is read into the joints: the models of drawn figures among ``models`` ({label:
    (config, about)}) meeting a photograph."""
    unseen = [label for label, (cfg, about) in models.items() if trained_on(cfg, about)[0]]
    if not unseen or not picture.photo:
        return
    what = trained_on(*models[unseen[0]])[1]
    who = ("This model has never" if len(models) == 1 else "Neither model has ever" if len(unseen) == len(models)
           else f"The {unseen[0]} model has never")
    st.warning(f"**{who} seen a photograph** ({what}). On this picture {'their' if len(unseen) > 1 else 'its'} "
               "joints and σ̂ say how a model of drawn people answers a photo, not where this person's joints are; "
               "σ̂ is not calibrated here either. For real pictures, `python -m rlelab download-weights "
               "mmpose-res50-rle` puts mmpose's released COCO model (ResNet-50, 0.704 AP) in data/, where this page "
               "lists it.", icon="⚠️")
