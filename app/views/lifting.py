"""Page "3-D lifting": a 2-D pose lifted to 3-D by the shipped lifting model (Table 8's two-stage model, trained
with RLE on Synth3D), with each joint's sigma_hat drawn as an ellipsoid along the camera's axes."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from common import DATA, ROOT, choose_boxes, choose_image, load_model, pick_checkpoint, run
from rlelab.camera import camera_to_pixel, world_to_camera
from rlelab.data.synth3d import Synth3DConfig, sample_sequence
from rlelab.data.synth3d import render as draw_frame
from rlelab.lifting import IMAGE_LAYOUT, error_scale, h36m_from_coco, lift_pose, load_lifting
from rlelab.losses import LOSSES
from rlelab.tasks import TASKS
from rlelab.tasks.h36m import LAYOUT as H36M
from rlelab.tasks.h36m import mpjpe, pa_mpjpe

LIFTING = DATA / "synth3d_lift_rle.pt"
REPRODUCE = ("python -m rlelab synth3d --out data/synth3d_poses --n-train 2000 --n-val 250 --no-images\n"
             "python -m rlelab lift --data data/synth3d_poses --loss rle --standardize --width 256 --epochs 20 \\\n"
             "    --out runs/lift_rle_std_w256\n"
             "cp runs/lift_rle_std_w256/lift.pt data/synth3d_lift_rle.pt")
LEFT = {11, 12, 13, 4, 5, 6}  # the bones ending at these joints are the person's left limbs
SIDE = {True: ("the person's left limbs", "#d62728"), False: ("right limbs, spine and head", "#1f77b4")}


@st.cache_resource(show_spinner="loading the lifting model ...")
def lifting_model():
    """(model, config, per-axis factor from sigma_hat to the predicted error's std: ``error_scale``)."""
    model, cfg = load_lifting(str(LIFTING))
    return model, cfg, error_scale(model, cfg)


def synth3d_person(seed, size=256):
    """One Synth3D person (``sample_sequence``, as ``rlelab synth3d`` draws them): its picture, 2-D joints, camera
    and clean 3-D joints (mm, camera frame)."""
    rng = np.random.default_rng([seed, 2])
    worlds, cam = sample_sequence(rng, 1, size)
    joint_cam = world_to_camera(worlds[0], cam["R"], cam["t"])
    pix = camera_to_pixel(joint_cam, cam["f"], cam["c"])
    image, _ = draw_frame(rng, joint_cam, pix, cam["f"][0], Synth3DConfig(size=size, occluder_prob=0.0))
    return np.asarray(image), pix, cam, joint_cam


def ellipsoid(centre, radii, n=10):
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, n), np.linspace(0, np.pi, n))
    return [centre[d] + radii[d] * f for d, f in enumerate((np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v)))]


def skeleton_3d(mu, sigma, truth=None, scale=1.0, height=560):
    """Plotly 3-D figure in the camera's axes (x right, y up, z the depth), metres relative to the root."""
    show = lambda p: (p[:, 0], p[:, 2], -p[:, 1])  # plotly's z is up: (x, depth, -y)
    fig = go.Figure()
    if truth is not None:
        for k, (a, b) in enumerate(H36M.skeleton):
            x, y, z = show(truth[[a, b]])
            fig.add_trace(go.Scatter3d(x=x, y=y, z=z, mode="lines", name="truth", legendgroup="truth",
                                       showlegend=k == 0, line=dict(width=6, dash="dot", color="#7f7f7f")))
    shown = set()
    for a, b in H36M.skeleton:
        x, y, z = show(mu[[a, b]])
        name, color = SIDE[b in LEFT]
        fig.add_trace(go.Scatter3d(x=x, y=y, z=z, mode="lines", name=f"lifted μ̂: {name}", legendgroup=name,
                                   showlegend=name not in shown, line=dict(width=6, color=color)))
        shown.add(name)
    for j in range(1, 17):
        x, y, z = ellipsoid(mu[j], scale * sigma[j])
        fig.add_trace(go.Surface(x=x, y=z, z=-y, opacity=0.25, showscale=False, colorscale=[[0, "#ff7f0e"], [1, "#ff7f0e"]],
                                 hovertext=f"{H36M.keypoints[j]}: error std x {sigma[j, 0] * 1000:.0f}, "
                                           f"y {sigma[j, 1] * 1000:.0f}, depth {sigma[j, 2] * 1000:.0f} mm",
                                 hoverinfo="text", showlegend=False))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h"),
                      scene=dict(aspectmode="data", xaxis_title="x (m)", yaxis_title="depth z (m)", zaxis_title="up (m)",
                                 camera=dict(eye=dict(x=1.9, y=-1.9, z=1.0))))  # far enough that no title is clipped
    return fig


def pose_from_picture():
    """(picture, its 2-D joints in Human3.6M's layout, assumed f and c, the chart's key, how the box was chosen) of
    the 2-D model on a picture's first person box; None (with a word) where there is none."""
    with st.sidebar:
        path = pick_checkpoint("2-D model", "rle", key="lift_model")
    picture = choose_image("lift") if path else None
    if picture is None:
        return None
    _, cfg2d, _, _ = load_model(path)
    if TASKS[cfg2d.task].layout != IMAGE_LAYOUT:
        st.warning(f"This 2-D model predicts {cfg2d.task}'s joints; pick a model of {IMAGE_LAYOUT.name}'s joints to "
                   "feed the lifting model.")
        return None
    boxes, chart, how = choose_boxes(picture, "lift")
    pred, _, _ = run(path, picture.image, boxes[0])
    if pred is None:
        return None
    h, w = picture.image.shape[:2]
    st.caption("The camera of an uploaded picture is unknown: assumed Human3.6M-like, f = 1.145 x the width, "
               "the principal point at the centre. COCO's joints become Human3.6M's by rlelab.lifting.h36m_from_coco "
               "(pelvis, spine, thorax and head are built from hips, shoulders and eyes).")
    return picture.image, h36m_from_coco(pred["joints"]), np.full(2, 1.145 * w), np.array([w / 2, h / 2]), chart, how


def joints_figure(image, pix):
    """The picture with the 2-D joints the lifting model sees, the axes wide enough for joints outside it (a head
    built above the eyes of a tightly cropped person)."""
    fig = go.Figure(go.Image(z=image))
    shown = set()
    for a, b in H36M.skeleton:
        name, color = SIDE[b in LEFT]
        fig.add_trace(go.Scatter(x=pix[[a, b], 0], y=pix[[a, b], 1], mode="lines+markers", name=name,
                                 showlegend=name not in shown, line=dict(color=color, width=3)))
        shown.add(name)
    h, w = image.shape[:2]
    pad = 0.03 * max(h, w)
    (x0, y0), (x1, y1) = np.minimum(pix.min(0), 0) - pad, np.maximum(pix.max(0), (w, h)) + pad
    fig.update_layout(height=420, margin=dict(l=0, r=0, t=10, b=0), legend=dict(orientation="h", y=-0.02),
                      xaxis=dict(visible=False, range=[x0, x1]), yaxis=dict(visible=False, range=[y1, y0]))
    return fig


def error_tiles(mu, sigma, truth):
    """The predicted error's std along the depth and in the image plane, and with a truth its MPJPE, PA-MPJPE."""
    cols = st.columns(4)
    cols[0].metric("error std along the depth", f"{sigma[1:, 2].mean() * 1000:.0f} mm",
                   help="σ̂ x std(P_phi) along the depth, mean over the 16 joints")
    cols[1].metric("error std in the image plane", f"{sigma[1:, :2].mean() * 1000:.0f} mm", help="σ̂ x std(P_phi) along x and y")
    if truth is not None:
        cols[2].metric("MPJPE", f"{mpjpe(mu[None] * 1000, truth[None] * 1000)[0]:.0f} mm")
        cols[3].metric("PA-MPJPE", f"{pa_mpjpe(mu[None] * 1000, truth[None] * 1000)[0]:.0f} mm")


def render():
    st.title("3-D lifting and sigma along the depth")
    st.markdown(
        "The two-stage model of Table 8 lifts 17 2-D joints to 3-D (Martinez et al.'s fully connected network, "
        "trained with RLE on Synth3D). For each joint it predicts $\\hat\\mu$ and $\\hat\\sigma$ per camera axis; the "
        "orange ellipsoids have half-axes $\\hat\\sigma\\cdot\\mathrm{std}(P_\\phi)$, the predicted error's std. A picture "
        "keeps $x/z$ and $y/z$ and loses the depth, so the ellipsoids are long along the depth, where a limb can point "
        "towards the camera or away from it with the same pixels (lab 05, section 2).")
    if not LIFTING.exists():
        st.info("No lifting model in data/. Make the shipped one with:\n\n```bash\n" + REPRODUCE + "\n```")
        return
    model, cfg, to_error = lifting_model()
    st.caption(("This model was trained with the standardized RLE (rlelab's design: Eq. 8 with log s and bar_mu "
                "standardized), so std(P_phi) is 1 and σ̂ is the error's std itself." if LOSSES[cfg.loss].standardized(cfg)
                else f"Its loss leaves the scale of bar_mu to the flow, so σ̂ alone is not the error's std: std(P_phi) "
                     f"is {', '.join(f'{v:.2f}' for v in to_error)} along x, y and the depth."))
    with st.sidebar:
        source = st.radio("2-D pose from", ["a Synth3D person", "a picture (the 2-D model)"], key="lift_from")
        scale = st.slider("ellipsoid size (x error std)", 0.5, 3.0, 1.0, 0.5, key="lift_scale")
    truth = chart = how = None
    if source == "a Synth3D person":
        seed = st.sidebar.number_input("person (seed)", 0, 10_000, 0, key="lift_seed")
        image, pix, cam, joint_cam = synth3d_person(int(seed))
        f, c = cam["f"], cam["c"]
        truth = (joint_cam - joint_cam[0]) / 1000
    else:
        found = pose_from_picture()
        if found is None:
            return
        image, pix, f, c, chart, how = found
    mu, sigma_hat = lift_pose(model, pix, f, c)
    sigma = sigma_hat * to_error  # the predicted error's std per axis
    error_tiles(mu, sigma, truth)
    left, right = st.columns([2, 3])
    fig = joints_figure(image, pix)
    if chart is None:
        left.plotly_chart(fig, width="stretch")
        left.caption("the 2-D joints the lifting model sees")
    else:  # a picture: drag a box around the person on it
        fig.update_layout(dragmode="select")
        left.plotly_chart(fig, width="stretch", key=chart, on_select="rerun", selection_mode="box")
        left.caption("the 2-D joints the lifting model sees, of the first person box: "
                     + ("drag a box around the person." if how == "whole" else "drag another box to change it."))
    right.plotly_chart(skeleton_3d(mu, sigma, truth, scale), width="stretch")
    right.caption(f"lifted by {LIFTING.relative_to(ROOT)} ({cfg.loss}, width {cfg.width}); drag to turn it. "
                  + ("Dotted grey: the truth. " if truth is not None else
                     "The lifting model learned from Synth3D's exact joints seen by known cameras; here the 2-D model's "
                     "joints (their spine and head built, not predicted), an assumed camera and a person unlike "
                     "Synth3D's meet it, so a bent or twisted lifted pose says that, not how this person stands."))
