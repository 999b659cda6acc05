"""Page "Cover a joint": a grey square over one joint of a person (the paper's occlusion test, Appendix C, Tables 15
and 16), and what two models then predict for every joint, with sigma_hat where they have one."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from common import (boxes_from_selection, choose_image, model_caption, model_title, pick_checkpoint, pose_figure, run,
                    warn_if_unseen)
from rlelab.config import has_sigma
from rlelab.occlusion import GREY
from rlelab.tasks import TASKS


def render():
    st.title("Cover a joint")
    st.markdown(
        "The paper covers a joint with a grey square and measures the error of every other joint (Appendix C, "
        "Tables 15 and 16): a regression model predicts the whole body at once, so it still places the covered "
        "joint from the rest of the person, and $\\hat\\sigma$ may say it is less sure there. Pick the joint to cover "
        "(or drag the square on the left picture); each model is run on the covered picture and on the clean one.")
    with st.sidebar:
        left_path = pick_checkpoint("model", "rle", key="cover_left")
        right_path = pick_checkpoint("beside it", "l1", key="cover_right")
        side = st.slider("square side, a fraction of the box height", 0.05, 0.5, 0.2, 0.05,
                         help="the paper does not say its square's size; 0.2 of the box is about a forearm")
    if left_path is None:
        return
    picture = choose_image("cover")
    if picture is None:
        return
    h, w = picture.image.shape[:2]
    box = picture.boxes[0] if picture.boxes else [0, 0, w, h]
    clean = {path: run(path, picture.image, box) for path in dict.fromkeys([left_path, right_path])}
    first, cfg, _ = clean[left_path]
    if first is None:
        return
    layout = TASKS[cfg.task].layout
    names = list(layout.keypoints)
    joint = st.selectbox("joint to cover", names, index=names.index("left_wrist") if "left_wrist" in names else 0,
                         key="cover_joint")
    chart = f"cover_chart_{picture.name}_{w}x{h}"
    state = st.session_state.get(chart)
    dragged = boxes_from_selection(state["selection"] if state else None, w, h)
    if dragged:
        square = dragged[0]
    else:  # centred where the first model puts the joint on the clean picture
        half = side * box[3] / 2
        x, y = first["joints"][names.index(joint)]
        square = [x - half, y - half, 2 * half, 2 * half]
    covered = paint(picture.image, square)
    warn_if_unseen(picture, {label: clean[p][1:] for label, p in (("left", left_path), ("right", right_path))})
    moved, tables = {}, []
    for col, path, key in zip(st.columns(2), (left_path, right_path), (chart, f"{chart}_right")):
        before, cfg, about = clean[path]
        after, _, _ = run(path, covered, box)
        if before is None or after is None:
            continue
        sigma = has_sigma(cfg)
        col.subheader(model_title(cfg))
        col.caption(model_caption(cfg, about))
        figure = pose_figure(covered, [after], layout, sigma, height=520)
        x0, y0, sw, sh = square
        figure.add_shape(type="rect", x0=x0, y0=y0, x1=x0 + sw, y1=y0 + sh, line=dict(color="black", width=1))
        if key == chart:
            col.plotly_chart(figure, width="stretch", key=key, on_select="rerun", selection_mode="box")
        else:
            figure.update_layout(dragmode="pan")
            col.plotly_chart(figure, width="stretch", key=key)
        rows = changes(before, after, names, sigma)
        moved[model_title(cfg)] = rows["moved (px)"]
        tables.append(rows)
    st.plotly_chart(moved_figure(moved, names, joint), width="stretch")
    for col, rows in zip(st.columns(2), tables):
        with col.expander("per joint: moved, and σ̂ clean and covered", expanded=False):
            st.dataframe(rows, hide_index=True, width="stretch")
    st.caption("The tables and the bars: how far each joint moved when the square was drawn, and its σ̂ (mean of x and y, in units of "
               "the crop) on the clean and on the covered picture. Drag on the left picture to place the square "
               "yourself; double-click to go back to the chosen joint. `python benchmarks/occlusion.py` measures it "
               "over a whole set, as the paper's tables do.")


def paint(image, square):
    """The picture with a grey square [x, y, w, h] (pixels) drawn over it."""
    out = image.copy()
    x, y, w, h = square
    out[max(int(round(y)), 0):max(int(round(y + h)), 0), max(int(round(x)), 0):max(int(round(x + w)), 0)] = round(GREY * 255)
    return out


def changes(before, after, names, sigma):
    """Per joint: pixels moved, and sigma_hat clean -> covered (a model with sigma_hat)."""
    rows = {"joint": names, "moved (px)": np.round(np.linalg.norm(after["joints"] - before["joints"], axis=1), 1)}
    if sigma:
        rows["σ̂ clean"] = np.round(before["sigma_hat"].mean(-1), 3)
        rows["σ̂ covered"] = np.round(after["sigma_hat"].mean(-1), 3)
    return rows


def moved_figure(moved, names, covered):
    """How far each joint moved under the square, one bar per model, the covered joint named in the title."""
    fig = go.Figure([go.Bar(x=names, y=values, name=label) for label, values in moved.items()])
    fig.update_layout(barmode="group", height=320, margin=dict(l=0, r=0, t=40, b=80), yaxis_title="moved (px)",
                      title=f"how far each joint moved when the {covered} was covered",
                      legend=dict(orientation="h", y=1.12, x=1, xanchor="right"))
    return fig
