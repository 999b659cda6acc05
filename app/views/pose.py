"""Page "Pose and sigma": a picture in, joints and sigma_hat out, for each person box drawn with the mouse (plotly's
box selection), typed, annotated (the real samples), found by MediaPipe's pose detector (photos) or the whole
picture."""
import numpy as np
import streamlit as st

from common import (BOX_NOTE, choose_boxes, choose_image, load_model, model_caption, pick_checkpoint, pose_figure,
                    run_people, sigma_figure, trained_on, warn_if_unseen)
from rlelab.config import has_sigma, method
from rlelab.losses import LOSSES
from rlelab.tasks import TASKS


def render():
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
    if trained_on(*load_model(path)[1:3])[0]:  # a model of drawn figures: say where one of photos comes from
        st.sidebar.caption("This model has seen drawn figures only. For photos, `python -m rlelab download-weights "
                           "mmpose-res50-rle` puts mmpose's released COCO model (ResNet-50, 0.704 AP) in data/.")
    picture = choose_image("pose")
    if picture is None:
        return
    boxes, chart, how = choose_boxes(picture, "pose")
    preds, cfg, about = run_people(path, picture.image, boxes)
    if not preds:
        return
    warn_if_unseen(picture, {"": (cfg, about)})
    st.caption(model_caption(cfg, about))
    layout = TASKS[cfg.task].layout
    sigma = has_sigma(cfg)
    first = preds[0]
    tiles(preds, cfg, layout, sigma)
    left, right = st.columns([3, 2])
    truth = picture.truth if layout == picture.layout and how in ("annotated", "found") else []
    left.plotly_chart(pose_figure(picture.image, preds, layout, sigma, scale, truth=truth), width="stretch", key=chart,
                      on_select="rerun", selection_mode="box")
    conf = np.concatenate([p["confidence"] for p in preds])
    left.caption(BOX_NOTE[how].format(n=len(boxes)) + (f" Dot colours: c from {conf.min():.3f} (red) to {conf.max():.3f} "
                                                        "(green), this picture's range, not 0 to 1." if sigma else ""))
    if sigma:
        sigma_panel(right, preds, cfg, layout)
    else:
        right.info("This model was trained without σ̂ (L1/L2 ignore it, heatmaps have none): pick an RLE checkpoint to see it.")


def tiles(preds, cfg, layout, sigma):
    """The number tiles: the mean confidence (Eq. 9), the first person's least sure joint, the inference time."""
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


def sigma_panel(col, preds, cfg, layout):
    """The first person's sigma_hat per joint, and what it means for this model's loss."""
    first = preds[0]
    col.plotly_chart(sigma_figure(first, layout), width="stretch")
    std, loss = first["bar_mu_std"], LOSSES[cfg.loss]
    col.caption(("σ̂ of the first person, " if len(preds) > 1 else "σ̂ ") + "in units of the crop (the box enlarged by 1.25). "
                + ("Trained with the standardized RLE, σ̂ is the std of the predicted error itself, the ellipse. "
                   if loss.standardized(cfg) else
                   f"The flow's density of bar_mu has std {std[0]:.3f} (x), {std[1]:.3f} (y): trained by Eq. 8 without log s "
                   "(or DLE's Eq. 5), σ̂ and the flow trade scale (nothing pins bar_mu's), so only their product, the "
                   "ellipse, is the error in pixels. " if loss.trains_flow else
                   f"Its Q has std {std[0]:.3f}: the ellipse, σ̂ times it, is the error's std in pixels. ")
                + "Hover a joint for its numbers.")
