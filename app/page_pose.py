"""Pages "Pose and sigma" and "Compare L1 vs RLE": a picture in, joints and sigma_hat out, for each person box
drawn with the mouse (plotly's box selection), typed, annotated (the real samples) or, by default, the whole picture."""
import json
import time
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from common import (DATA, DISPLAY_SIDE, ROOT, boxes_from_selection, load_model, model_caption, pick_checkpoint,
                    pose_figure, shrink, sigma_figure, trained_on)
from rlelab.config import has_sigma, method
from rlelab.inference import predict_image, read_image
from rlelab.tasks import TASKS

SAMPLES = sorted(DATA.glob("samples/*.jpg"))
REAL_COCO = ROOT.parent / "shared" / "data" / "real-samples" / "coco"  # photos with COCO's annotations, where present


@dataclass
class Picture:
    image: np.ndarray  # RGB, at most DISPLAY_SIDE on the long side
    name: str
    photo: bool  # a photograph (an upload, a real sample), not one of SynthPose's drawn figures
    truth: list = field(default_factory=list)  # annotated people: COCO keypoints (17, 3) in the picture's pixels
    boxes: list = field(default_factory=list)  # their boxes [x, y, w, h]


@st.cache_data(show_spinner=False)
def real_samples():
    """{file name: [(box, keypoints (17, 3)), ...]} of the real COCO samples with a labelled joint ({} without ../shared)."""
    try:
        data = json.loads((REAL_COCO / "test_coco.json").read_text())
    except (OSError, ValueError):
        return {}
    names = {im["id"]: im["file_name"] for im in data["images"]}
    people = {}
    for ann in data["annotations"]:
        if ann.get("num_keypoints", 0) > 0 and (REAL_COCO / names[ann["image_id"]]).exists():
            people.setdefault(names[ann["image_id"]], []).append((ann["bbox"], np.reshape(ann["keypoints"], (17, 3))))
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
    scaled = [(np.asarray(box) * factor, keypoints * [factor, factor, 1]) for box, keypoints in truth]
    return Picture(image, name, photo, [k for _, k in scaled], [b.tolist() for b, _ in scaled])


def choose_boxes(picture, key):
    """(person boxes, the chart's key, how they were chosen): the rectangles dragged on the picture, else a typed
    box, else the annotated people's boxes, else the whole picture."""
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
    if dragged:
        return dragged, chart, "drawn"
    if typed_key in st.session_state:
        return [st.session_state[typed_key]], chart, "typed"
    if picture.boxes:
        return picture.boxes, chart, "annotated"
    return [[0, 0, w, h]], chart, "whole"


BOX_NOTE = {"drawn": "Person boxes drawn on the picture: {n}. Drag again to change them, double-click to clear.",
            "typed": "The typed box; drag a box on the picture to change it.",
            "annotated": "The boxes of the annotated people ({n}; dotted green: their annotated joints); drag a box to choose another.",
            "whole": "No person box yet, so the model sees the whole picture: drag a box around each person on it "
                     "(the picture is in box-select mode)."}


def run(path, image, box):
    model, cfg, about, density = load_model(path)
    start = time.perf_counter()
    try:
        pred = predict_image(model, image, cfg.input_size, box=box, flip_pairs=TASKS[cfg.task].layout.flip_pairs)
    except ValueError as e:
        st.error(str(e))
        return None, cfg, about
    pred["seconds"] = time.perf_counter() - start
    if cfg.loss in ("rle", "dle") and pred["sigma_px"] is not None:  # mu_g = mu_hat + sigma_hat * bar_mu, bar_mu ~ P_phi
        pred["bar_mu_std"] = density[3].numpy()
        pred["error_px"] = pred["sigma_px"] * pred["bar_mu_std"]
    return pred, cfg, about


def run_people(path, image, boxes):
    """(the predictions of the boxes that could be read, config, about) of one model on a picture."""
    results = [run(path, image, box) for box in boxes]
    return [pred for pred, _, _ in results if pred is not None], results[0][1], results[0][2]


def warn_if_unseen(cfg, about, picture):
    """Say it before anything is read into the joints: a model of drawn figures meeting a photograph."""
    synthetic, what = trained_on(cfg, about)
    if synthetic and picture.photo:
        st.warning(f"**This model has never seen a photograph** ({what}). On this picture its joints and σ̂ say "
                   "how a model of drawn people answers a photo, not where this person's joints are; σ̂ is not "
                   "calibrated here either. For real pictures import the released COCO model (README, \"Released "
                   "weights\").", icon="⚠️")


def render_single():
    st.title("Pose and per-joint sigma")
    st.markdown(
        "The regression model predicts, for each of the 17 joints, a location $\\hat\\mu$ and a scale $\\hat\\sigma$ "
        "(section 3.3); the flow learned the shape $P_\\phi$ of the normalized error $\\bar\\mu$, so the label is "
        "$\\mu_g = \\hat\\mu + \\hat\\sigma\\,\\bar\\mu$. Each red ellipse has half-axes $\\hat\\sigma \\cdot \\mathrm{std}(P_\\phi)$, the "
        "predicted error's std: where the model is unsure (an occluded wrist, a blurred ankle) it is wide. "
        "The confidence of a joint is $c = 1 - \\hat\\sigma$ (Eq. 9).")
    with st.sidebar:
        path = pick_checkpoint("model", "rle", key="pose_model")
        scale = st.slider("ellipse size, in stds of the predicted error", 0.5, 3.0, 1.0, 0.5,
                          help="1: the half-axes are one std of the predicted error")
    if path is None:
        return
    picture = choose_image("pose")
    if picture is None:
        return
    boxes, chart, how = choose_boxes(picture, "pose")
    preds, cfg, about = run_people(path, picture.image, boxes)
    if not preds:
        return
    warn_if_unseen(cfg, about, picture)
    st.caption(model_caption(cfg, about))
    layout = TASKS[cfg.task].layout
    sigma = has_sigma(cfg)
    first = preds[0]
    cols = st.columns(3)
    if sigma:
        cols[0].metric("confidence c (Eq. 9)", f"{np.mean([p['confidence'].mean() for p in preds]):.3f}",
                       help="mean over joints (and people) of 1 - σ̂")
        worst = int(np.argmax(first["sigma_hat"].mean(-1)))
        cols[1].metric(f"least sure joint (σ̂ {first['sigma_hat'][worst].mean():.3f})", layout.keypoints[worst],
                       help="the joint of the first person with the largest σ̂, mean of x and y")
    else:
        cols[0].metric("confidence", "n/a", help=f"a {method(cfg)} model has no σ̂")
    cols[2].metric("inference", f"{sum(p['seconds'] for p in preds) * 1000:.0f} ms",
                   help="crop, network with flip test, map back; all people")
    left, right = st.columns([3, 2])
    truth = picture.truth if cfg.task == "coco" and how == "annotated" else []
    left.plotly_chart(pose_figure(picture.image, preds, layout, sigma, scale, truth=truth), width="stretch", key=chart,
                      on_select="rerun", selection_mode="box")
    conf = np.concatenate([p["confidence"] for p in preds])
    left.caption(BOX_NOTE[how].format(n=len(boxes)) + (f" Dot colours: c from {conf.min():.3f} (red) to {conf.max():.3f} "
                                                        "(green), this picture's range, not 0 to 1." if sigma else ""))
    if sigma:
        right.plotly_chart(sigma_figure(first, layout), width="stretch")
        std = first.get("bar_mu_std")
        right.caption(("σ̂ of the first person, " if len(preds) > 1 else "σ̂ ") + "in units of the crop (the box enlarged by 1.25). "
                      + ("Trained with the standardized RLE, σ̂ is the std of the predicted error itself, the ellipse. "
                         "Hover a joint for its numbers." if cfg.standardize else
                         f"The flow's P_phi has std {std[0]:.3f} (x), {std[1]:.3f} (y): trained by Eq. 8 without log s, "
                         "σ̂ grows while G_phi shrinks (the scale of bar_mu is free), so only their product, the ellipse, "
                         "is the error in pixels. Hover a joint for its numbers." if std is not None else ""))
    else:
        right.info("This model was trained without σ̂ (L1/L2 ignore it, heatmaps have none): pick an RLE checkpoint to see it.")


def render_compare():
    st.title("L1 against RLE, same picture")
    st.markdown(
        "Both models share the backbone, the data and the training budget; only the loss differs. L1 is the "
        "Laplace likelihood with a fixed scale (section 3.1); RLE learns the scale per joint and the shape of the "
        "error distribution with a flow (Eq. 8). Table 1 of the paper: 58.1 AP against 70.5 on COCO.")
    with st.sidebar:
        left_path = pick_checkpoint("left model", "l1", key="cmp_left")
        right_path = pick_checkpoint("right model", "rle", key="cmp_right")
    if left_path is None or right_path is None:
        return
    picture = choose_image("cmp")
    if picture is None:
        return
    boxes, chart, how = choose_boxes(picture, "cmp")
    for side, col, path in zip(("left", "right"), st.columns(2), (left_path, right_path)):
        preds, cfg, about = run_people(path, picture.image, boxes)
        if not preds:
            continue
        sigma = has_sigma(cfg)
        with col:
            warn_if_unseen(cfg, about, picture)
        col.subheader(method(cfg).upper() if cfg.head == "regression" else "heatmap")
        col.caption(model_caption(cfg, about))
        col.metric("confidence c (Eq. 9)", f"{np.mean([p['confidence'].mean() for p in preds]):.3f}" if sigma else "n/a")
        figure = pose_figure(picture.image, preds, TASKS[cfg.task].layout, sigma, height=480)
        if side == "left":  # the boxes are drawn on the left picture
            col.plotly_chart(figure, width="stretch", key=chart, on_select="rerun", selection_mode="box")
        else:
            figure.update_layout(dragmode="pan")
            col.plotly_chart(figure, width="stretch", key=f"{chart}_right")
    st.caption(BOX_NOTE[how].format(n=len(boxes)).replace("on the picture", "on the left picture").replace(
        "on it", "on the left one"))
