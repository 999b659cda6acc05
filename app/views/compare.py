"""Page "Compare L1 vs RLE": two models on the same picture and person boxes, and on a photo MediaPipe's own joints
beside them as a reference, with the mean OKS to the annotated people where a real sample has them."""
import numpy as np
import streamlit as st

from common import (BOX_NOTE, choose_boxes, choose_image, found_people, model_caption, model_title, pick_checkpoint,
                    pose_figure, run_people, warn_if_unseen)
from rlelab import detect
from rlelab.config import has_sigma
from rlelab.tasks import TASKS
from rlelab.tasks.coco import matched_oks


def mean_oks(joints, picture, layout):
    """The mean over the picture's annotated people of COCO's ``matched_oks``; None without annotations or for
    joints of another ``layout`` than theirs."""
    if not picture.truth or layout != picture.layout:
        return None
    return float(np.mean(matched_oks(joints, picture.truth, picture.areas)))


OKS_HELP = ("COCO's object keypoint similarity to each annotated person (1: every joint on its label, about 0.5: "
            "off by a joint's typical annotation spread), each person's best match among the predicted people "
            "(0 if none), averaged over the annotated people")


def column_height(picture):
    """A chart's height in a column about 400 pixels wide: the picture's aspect, within 260-480 pixels."""
    h, w = picture.image.shape[:2]
    return int(np.clip(400 * h / w + 40, 260, 480))


def render_reference(col, picture, truth):
    """MediaPipe's BlazePose on the picture: a pose model trained on real photos, with its own person detector."""
    col.subheader("MediaPipe (reference)")
    col.caption("BlazePose (mediapipe 0.10.14, its full landmark model), trained by Google on photos of real "
                "people; 17 of its 33 landmarks are COCO's joints. It finds its own people, whatever the boxes.")
    if not detect.available():
        col.info(detect.INSTALL)
        return
    people = found_people(picture.image)
    if not people:
        col.info("MediaPipe found nobody on this picture.")
        return
    score = mean_oks([p.keypoints for p in people], picture, detect.LAYOUT)
    col.metric("mean OKS to the annotated people" if score is not None else "people found",
               f"{score:.2f}" if score is not None else len(people), help=OKS_HELP if score is not None else None)
    preds = [{"joints": p.keypoints[:, :2], "confidence": p.keypoints[:, 2], "sigma_px": None, "box": p.box} for p in people]
    figure = pose_figure(picture.image, preds, detect.LAYOUT, False, height=column_height(picture), truth=truth)
    figure.update_layout(dragmode="pan")
    col.plotly_chart(figure, width="stretch", key=f"cmp_reference_{picture.name}")


def render():
    st.title("L1 against RLE, same picture")
    st.markdown(
        "Both models share the backbone, the data and the training budget; only the loss differs. L1 is the "
        "Laplace likelihood with a fixed scale (section 3.1); RLE learns the scale per joint and the shape of the "
        "error distribution with a flow (Eq. 8). Table 1 of the paper: 58.1 AP against 70.5 on COCO. On a photo, "
        "a pose model trained on real people, MediaPipe's BlazePose, answers beside them: the reference for what "
        "the picture's joints are, and for how far a model of drawn figures is from them.")
    with st.sidebar:
        left_path = pick_checkpoint("left model", "l1", key="cmp_left")
        right_path = pick_checkpoint("right model", "rle", key="cmp_right")
        reference = st.checkbox("MediaPipe beside them, on photos", value=True, key="cmp_reference",
                                help="a pose model trained on real photos (BlazePose), offline: its weights ship in "
                                     "the mediapipe package")
    if left_path is None or right_path is None:
        return
    picture = choose_image("cmp")
    if picture is None:
        return
    boxes, chart, how = choose_boxes(picture, "cmp")
    truth = picture.truth if how in ("annotated", "found") else []
    runs = {side: run_people(path, picture.image, boxes) for side, path in (("left", left_path), ("right", right_path))}
    warn_if_unseen(picture, {side: (cfg, about) for side, (_, cfg, about) in runs.items()})
    columns = st.columns(3 if reference and picture.photo else 2)
    for (side, (preds, cfg, about)), col in zip(runs.items(), columns):
        if not preds:
            continue
        sigma = has_sigma(cfg)
        col.subheader(model_title(cfg))
        col.caption(model_caption(cfg, about))
        layout = TASKS[cfg.task].layout
        score = mean_oks([p["joints"] for p in preds], picture, layout)
        if score is not None:
            col.metric("mean OKS to the annotated people", f"{score:.2f}", help=OKS_HELP)
        col.metric("confidence c (Eq. 9)", f"{np.mean([p['confidence'].mean() for p in preds]):.3f}" if sigma else "n/a")
        figure = pose_figure(picture.image, preds, layout, sigma, height=column_height(picture),
                             truth=truth if layout == picture.layout else [])
        if side == "left":  # the boxes are drawn on the left picture
            col.plotly_chart(figure, width="stretch", key=chart, on_select="rerun", selection_mode="box")
        else:
            figure.update_layout(dragmode="pan")
            col.plotly_chart(figure, width="stretch", key=f"{chart}_right")
    if len(columns) == 3:
        render_reference(columns[2], picture, truth)
    st.caption(BOX_NOTE[how].format(n=len(boxes)).replace("on the picture", "on the left picture").replace(
        "on it", "on the left one"))
