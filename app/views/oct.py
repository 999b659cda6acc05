"""Page "Retina boundaries": RLE beyond pose (the paper's Appendix H, Table 18). A retina OCT scan with the 8
boundaries a model places on it, each with its sigma_hat band, on a fresh SynthOCT scan (with its truth and its
hidden columns) or on an uploaded grayscale scan."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from common import DISPLAY_SIDE, load_model, model_title, pick_checkpoint
from rlelab.inference import read_image
from rlelab.data.synthoct import SynthOCTConfig, at_columns, render_scan
from rlelab.evaluate import mean_abs_bar_mu
from rlelab.tasks.oct import BOUNDARIES, column_positions, predict_scan

COLORS = ("#e6194b", "#f58231", "#ffe119", "#3cb44b", "#42d4f4", "#4363d8", "#911eb4", "#f032e6")
REPRODUCE = ("python -m rlelab synthoct --out data/synthoct --n-train 2000 --n-val 200\n"
             "python -m rlelab train --config configs/synthoct_mnv3_rle.yaml\n"
             "python -m rlelab export --checkpoint runs/synthoct_mnv3_rle/last.pt --out data/synthoct_mnv3_rle.pt")


@st.cache_data(show_spinner=False)
def fresh_scan(seed):
    """A SynthOCT scan never trained on (seed 1000 + n), its truth rows (8, 16) at the labelled columns and hidden flags."""
    cfg = SynthOCTConfig()
    image, rows, hidden = render_scan(np.random.default_rng([1000 + seed]), cfg)
    return (image,) + at_columns(rows, hidden, cfg.width)


@st.cache_data(show_spinner=False)
def abs_mean(path):
    """E|bar_mu| of a checkpoint's loss (a grid of its flow's density for RLE): sigma_hat times it is the predicted
    |error|; once per model, not on every rerun."""
    model, cfg, _, _ = load_model(path)
    return float(mean_abs_bar_mu(model, cfg)[0])


def read_scan(data, name):
    """An uploaded picture as a grayscale (H, W) uint8 scan: ``read_image``'s RGB (16-bit, palette, EXIF and broken
    files handled there, one sentence for what is not a picture), weighted to luminance."""
    rgb = read_image(data, name, max_side=DISPLAY_SIDE)
    return (rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).round().astype(np.uint8)


def scan_figure(scan, rows, band, truth=None, hidden=None, height=520, banded=BOUNDARIES):
    """The scan with each boundary's rows at the labelled columns and, for those in ``banded``, a band of +-``band``
    rows around them."""
    xs = column_positions(scan.shape[1])
    fig = go.Figure(go.Image(z=np.repeat(scan[..., None], 3, -1)))
    for b, name in enumerate(BOUNDARIES):
        color = COLORS[b]
        if band is not None and name in banded:
            fig.add_trace(go.Scatter(x=np.r_[xs, xs[::-1]], y=np.r_[rows[b] - band[b], (rows[b] + band[b])[::-1]],
                                     fill="toself", fillcolor=color, opacity=0.3, line=dict(width=0), hoverinfo="skip",
                                     name=f"{name} band", showlegend=False))
        fig.add_trace(go.Scatter(x=xs, y=rows[b], mode="lines", line=dict(color=color, width=1.5), name=name))
        if truth is not None:
            fig.add_trace(go.Scatter(x=xs, y=truth[b], mode="markers", marker=dict(color=color, size=4, symbol="x"),
                                     name=f"{name} truth", showlegend=False))
    if hidden is not None and hidden.any():
        b, c = np.nonzero(hidden)
        fig.add_trace(go.Scatter(x=xs[c], y=truth[b, c], mode="markers", name="hidden (truth)",
                                 marker=dict(color="white", size=9, symbol="circle-open")))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=10, b=0), legend=dict(font=dict(size=10)))
    return fig


def render():
    st.title("Retina boundaries")
    st.markdown(
        "RLE is not about people. The paper ends with retina OCT scans (Appendix H, Table 18): the 8 boundaries "
        "between the retina's layers, regressed per column by an FC layer. Fluid pockets and the shadows of vessels "
        "hide a boundary, and annotators then disagree more: a model trained with RLE says so with a wider "
        "$\\hat\\sigma$. Each band is $\\pm\\hat\\sigma\\,\\mathrm{std}(\\bar\\mu)$, the predicted error's standard "
        "deviation, in the scan's pixels.")
    with st.sidebar:
        path = pick_checkpoint("model", "oct_rle", key="oct_model", tasks=("oct",), reproduce=REPRODUCE)
    if path is None:
        return
    model, cfg, about, _ = load_model(path)
    source = st.radio("scan", ["a fresh SynthOCT scan", "upload"], horizontal=True, key="oct_source")
    truth = hidden = None
    if source == "upload":
        upload = st.file_uploader("a grayscale B-scan (PNG or JPEG), the retina across it", type=["png", "jpg", "jpeg"],
                                  key="oct_upload")
        if upload is None:
            st.info("Upload a scan, or switch to a fresh SynthOCT scan.")
            return
        try:
            scan = read_scan(upload.getvalue(), upload.name)
        except ValueError as e:
            st.error(str(e))
            return
    else:
        seed = st.number_input("scan number", 0, 10_000, 3, key="oct_seed",
                               help="each number draws another scan; none of them was trained on")
        scan, truth, hidden = fresh_scan(int(seed))
    rows, sigma = predict_scan(model, cfg, scan)
    shown = st.selectbox("σ̂ band of", ("every boundary",) + BOUNDARIES, key="oct_band",
                         help="the bands of neighbouring boundaries overlap where σ̂ is wide; pick one to see it alone")
    band = None if sigma is None else sigma * float(about["error_std"][0])
    st.subheader(model_title(cfg))
    banded = BOUNDARIES if shown == "every boundary" else (shown,)
    st.plotly_chart(scan_figure(scan, rows, band, truth, hidden, banded=banded), width="stretch", key="oct_chart")
    table = {"boundary": list(BOUNDARIES)}
    predicted = None if sigma is None else sigma * abs_mean(path)
    if predicted is not None:
        table["predicted |error| (px)"] = [f"{v:.2f}" for v in predicted.mean(1)]
    if truth is not None:
        err = np.abs(rows - truth)
        table["|error| vs truth (px)"] = [f"{v:.2f}" for v in err.mean(1)]
        if predicted is not None and hidden.any():
            st.caption(f"On this scan the predicted |error| (σ̂ E|bar_mu|) is {predicted[hidden].mean():.2f} px where a "
                       f"boundary is hidden (white circles), {predicted[~hidden].mean():.2f} px where it is seen; the "
                       f"|error| against the truth {err[hidden].mean():.2f} and {err[~hidden].mean():.2f} px. σ̂ was "
                       "trained against annotators' rows, whose own noise (4x wider where hidden) it predicts too: "
                       "against the truth the error is smaller.")
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption("Lab 10 explains it; `python benchmarks/synthoct_table.py` measures L1, Laplace, DLE and RLE over 200 "
               f"fresh scans. A scan is resized to the model's input ({cfg.input_size[0]}x{cfg.input_size[1]}); the "
               "fresh SynthOCT scans here are drawn at SynthOCT's default 96x128.")
