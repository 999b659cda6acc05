"""Pages "Pose and sigma" and "Compare L1 vs RLE": a picture in, joints and sigma_hat out."""
import time

import numpy as np
import streamlit as st

from common import DATA, DISPLAY_SIDE, load_model, model_caption, pick_checkpoint, pose_figure, shrink, sigma_figure
from rlelab.config import has_sigma, method
from rlelab.inference import predict_image, read_image
from rlelab.tasks import TASKS

SAMPLES = sorted(DATA.glob("samples/*.jpg"))


def choose_image(key):
    """An uploaded or a shipped picture as an RGB array (None and a message if it cannot be read)."""
    source = st.radio("picture", ["sample", "upload"], horizontal=True, key=f"{key}_source")
    if source == "upload":
        upload = st.file_uploader("a JPEG or PNG with one person", type=["jpg", "jpeg", "png"], key=f"{key}_upload")
        if upload is None:
            st.info("Upload a picture, or switch to a sample.")
            return None
        data, name = upload.getvalue(), upload.name
    else:
        if not SAMPLES:
            st.warning("No sample pictures in data/samples/; upload one instead.")
            return None
        path = st.selectbox("sample", SAMPLES, format_func=lambda p: p.name, key=f"{key}_sample")
        data, name = path.read_bytes(), path.name
    try:
        image = read_image(data, name, max_side=DISPLAY_SIDE)
    except ValueError as e:
        st.error(str(e))
        return None
    image, factor = shrink(image)
    if factor < 1:
        st.caption(f"{name} is large: shown and processed at {image.shape[1]} x {image.shape[0]} pixels.")
    return image


def choose_box(image, key):
    h, w = image.shape[:2]
    size = f"{w}x{h}"  # a picture of another size starts from its own whole-picture box
    with st.expander("person box (default: the whole picture)"):
        c = st.columns(4)
        x = c[0].number_input("x", 0, w - 1, 0, key=f"{key}_x_{size}")
        y = c[1].number_input("y", 0, h - 1, 0, key=f"{key}_y_{size}")
        bw = c[2].number_input("width", 1, w, w, key=f"{key}_w_{size}")
        bh = c[3].number_input("height", 1, h, h, key=f"{key}_h_{size}")
    return [x, y, bw, bh]


def run(path, image, box):
    model, cfg, history, density = load_model(path)
    start = time.perf_counter()
    try:
        pred = predict_image(model, image, cfg.input_size, box=box, flip_pairs=TASKS[cfg.task].layout.flip_pairs)
    except ValueError as e:
        st.error(str(e))
        return None, cfg, history
    pred["seconds"] = time.perf_counter() - start
    if cfg.loss in ("rle", "dle") and pred["sigma_px"] is not None:  # mu_g = mu_hat + sigma_hat * bar_mu, bar_mu ~ P_phi
        pred["bar_mu_std"] = density[3].numpy()
        pred["error_px"] = pred["sigma_px"] * pred["bar_mu_std"]
    return pred, cfg, history


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
        scale = st.slider("ellipse size (x std)", 0.5, 3.0, 1.0, 0.5, help="one std of the predicted error by default")
    if path is None:
        return
    image = choose_image("pose")
    if image is None:
        return
    box = choose_box(image, "pose")
    pred, cfg, history = run(path, image, box)
    if pred is None:
        return
    st.caption(model_caption(cfg, history))
    sigma = has_sigma(cfg)
    cols = st.columns(3)
    if sigma:
        cols[0].metric("confidence c (Eq. 9)", f"{pred['confidence'].mean():.3f}", help="mean over joints of 1 - σ̂")
        worst = int(np.argmax(pred["sigma_hat"].mean(-1)))
        cols[1].metric("least sure joint", TASKS[cfg.task].layout.keypoints[worst], f"σ̂ {pred['sigma_hat'][worst].mean():.3f}", delta_color="off")
    else:
        cols[0].metric("confidence", "n/a", help=f"a {method(cfg)} model has no σ̂")
    cols[2].metric("inference", f"{pred['seconds'] * 1000:.0f} ms", help="crop, network with flip test, map back")
    left, right = st.columns([3, 2])
    left.plotly_chart(pose_figure(image, pred, TASKS[cfg.task].layout, sigma, scale), width="stretch")
    if sigma:
        right.plotly_chart(sigma_figure(pred, TASKS[cfg.task].layout), width="stretch")
        std = pred.get("bar_mu_std")
        right.caption("σ̂ is in units of the crop (the box enlarged by 1.25). "
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
    image = choose_image("cmp")
    if image is None:
        return
    box = choose_box(image, "cmp")
    for side, col, path in zip(("left", "right"), st.columns(2), (left_path, right_path)):
        pred, cfg, history = run(path, image, box)
        if pred is None:
            continue
        sigma = has_sigma(cfg)
        col.subheader(method(cfg).upper() if cfg.head == "regression" else "heatmap")
        col.caption(model_caption(cfg, history))
        col.metric("confidence c (Eq. 9)", f"{pred['confidence'].mean():.3f}" if sigma else "n/a")
        col.plotly_chart(pose_figure(image, pred, TASKS[cfg.task].layout, sigma, height=480), width="stretch", key=f"cmp_chart_{side}")
