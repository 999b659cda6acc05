"""Pages "Pose and sigma" and "Compare L1 vs RLE": a picture in, joints and sigma_hat out, for each person box
drawn with the mouse (plotly's box selection), typed, annotated (the real samples), found by MediaPipe's pose
detector (photos) or the whole picture; on Compare, MediaPipe's own joints beside the two models as a reference."""
import json
import time
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from common import (DATA, DISPLAY_SIDE, ROOT, boxes_from_selection, load_model, model_caption, pick_checkpoint,
                    pose_figure, shrink, sigma_figure, trained_on)
from rlelab import detect
from rlelab.config import has_sigma, method
from rlelab.evaluate import matched_oks
from rlelab.inference import predict_image, read_image
from rlelab.losses import LOSSES
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
    areas: list = field(default_factory=list)  # their areas in pixels (OKS's scale)


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
               "σ̂ is not calibrated here either. For real pictures import the released COCO model (README, "
               "\"Released weights\").", icon="⚠️")


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
    warn_if_unseen(picture, {"": (cfg, about)})
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
    truth = picture.truth if cfg.task == "coco" and how in ("annotated", "found") else []
    left.plotly_chart(pose_figure(picture.image, preds, layout, sigma, scale, truth=truth), width="stretch", key=chart,
                      on_select="rerun", selection_mode="box")
    conf = np.concatenate([p["confidence"] for p in preds])
    left.caption(BOX_NOTE[how].format(n=len(boxes)) + (f" Dot colours: c from {conf.min():.3f} (red) to {conf.max():.3f} "
                                                        "(green), this picture's range, not 0 to 1." if sigma else ""))
    if sigma:
        right.plotly_chart(sigma_figure(first, layout), width="stretch")
        std, loss = first["bar_mu_std"], LOSSES[cfg.loss]
        right.caption(("σ̂ of the first person, " if len(preds) > 1 else "σ̂ ") + "in units of the crop (the box enlarged by 1.25). "
                      + ("Trained with the standardized RLE, σ̂ is the std of the predicted error itself, the ellipse. "
                         if loss.standardized(cfg) else
                         f"The flow's density of bar_mu has std {std[0]:.3f} (x), {std[1]:.3f} (y): trained by Eq. 8 without log s "
                         "(or DLE's Eq. 5), σ̂ and the flow trade scale (nothing pins bar_mu's), so only their product, the "
                         "ellipse, is the error in pixels. " if loss.trains_flow else
                         f"Its Q has std {std[0]:.3f}: the ellipse, σ̂ times it, is the error's std in pixels. ")
                      + "Hover a joint for its numbers.")
    else:
        right.info("This model was trained without σ̂ (L1/L2 ignore it, heatmaps have none): pick an RLE checkpoint to see it.")


def mean_oks(joints, picture, task):
    """The mean over the picture's annotated people of ``rlelab.evaluate.matched_oks``; None without annotations
    or for another joint layout than COCO's."""
    if not picture.truth or task != "coco":
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
    score = mean_oks([p.keypoints for p in people], picture, "coco")
    col.metric("mean OKS to the annotated people" if score is not None else "people found",
               f"{score:.2f}" if score is not None else len(people), help=OKS_HELP if score is not None else None)
    preds = [{"joints": p.keypoints[:, :2], "confidence": p.keypoints[:, 2], "sigma_px": None, "box": p.box} for p in people]
    figure = pose_figure(picture.image, preds, TASKS["coco"].layout, False, height=column_height(picture), truth=truth)
    figure.update_layout(dragmode="pan")
    col.plotly_chart(figure, width="stretch", key=f"cmp_reference_{picture.name}")


def render_compare():
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
        col.subheader(method(cfg).upper() if cfg.head == "regression" else "heatmap")
        col.caption(model_caption(cfg, about))
        score = mean_oks([p["joints"] for p in preds], picture, cfg.task)
        if score is not None:
            col.metric("mean OKS to the annotated people", f"{score:.2f}", help=OKS_HELP)
        col.metric("confidence c (Eq. 9)", f"{np.mean([p['confidence'].mean() for p in preds]):.3f}" if sigma else "n/a")
        figure = pose_figure(picture.image, preds, TASKS[cfg.task].layout, sigma, height=column_height(picture),
                             truth=truth if cfg.task == "coco" else [])
        if side == "left":  # the boxes are drawn on the left picture
            col.plotly_chart(figure, width="stretch", key=chart, on_select="rerun", selection_mode="box")
        else:
            figure.update_layout(dragmode="pan")
            col.plotly_chart(figure, width="stretch", key=f"{chart}_right")
    if len(columns) == 3:
        render_reference(columns[2], picture, truth)
    st.caption(BOX_NOTE[how].format(n=len(boxes)).replace("on the picture", "on the left picture").replace(
        "on it", "on the left one"))
