"""Page "Learned densities": fit a toy world live, or open a pose checkpoint, and see what RLE learned."""
import math
import threading

import plotly.graph_objects as go
import streamlit as st
import torch
from plotly.subplots import make_subplots

from common import DATA, load_model, model_caption, pick_checkpoint
from rlelab.config import method
from rlelab.densities import LOG_Q, Q_STD
from rlelab.losses import LOSSES
from rlelab.files import load_data
from rlelab.toys import LAWS, FitConfig, fit, fit_from_state

COLORS = {"truth": "#222222", "rle": "#d62728", "gaussian": "#1f77b4", "laplace": "#2ca02c", "dle": "#9467bd"}


FITS, SCORES = {}, {}  # one fit (and its KL) per setting for the whole server: the module lives as the process
FITS_LOCK = threading.Lock()  # two visitors asking for the same setting: one trains, the other waits and reads
TRAINED = []  # the settings trained live in this process (the default view's come from SHIPPED)
SHIPPED = DATA / "app_toy_fits.pt"  # the default view's three fits and scores: python docs/make_toy_fits.py


def toy_configs(law="correlated", loss="rle", q="laplace", steps=None, seed=0):
    """The page's three fits of a setting: the chosen loss, then the Gaussian and the Laplace of Eq. 1-2."""
    dim = 2 if law == "correlated" else 1
    steps = steps or (1500 if dim == 1 else 600)  # a 2-D flow is slower to train: fewer steps by default
    every = 0 if dim == 1 else max(1, steps // 5)  # in 2-D each KL estimate costs a 400 x 400 grid for s
    # in 2-D the paper's Eq. 8 without log s, which trains in a third of the time (log s is the toys' default)
    return [FitConfig(law=law, dim=dim, loss=loss, q=q, with_log_s=dim == 1, steps=steps, seed=seed, eval_every=every)] + [
        FitConfig(law=law, dim=dim, loss=name, steps=steps, seed=seed, eval_every=every) for name in ("gaussian", "laplace")]


def load_shipped():
    """The default view's fits, read once as data; a file that no longer fits rlelab.toys (its configs or networks
    changed) is ignored, and the page trains them."""
    if SHIPPED.exists() and not FITS:
        try:
            shipped = load_data(SHIPPED)
            fits = {key: fit_from_state(state) for key, state in shipped["fits"].items()}
        except Exception:  # noqa: BLE001 - any mismatch: train instead
            return
        FITS.update(fits)
        SCORES.update(shipped["scores"])


def train(config, label):
    """Fit with a live progress bar the first time a setting is asked for; after that (another visitor, a
    reload, a slider move) read it from FITS. st.cache_resource would replay the progress bar's messages."""
    key = str(config)
    with FITS_LOCK:
        load_shipped()
        if key not in FITS:
            bar = st.progress(0.0, text=f"training {label} ...")
            FITS[key] = fit(config, callback=lambda step, rec: bar.progress(
                step / config.steps, text=f"training {label}: step {step}/{config.steps}, KL {rec['kl']:.3f}"))
            TRAINED.append(key)
            bar.empty()
    return FITS[key]


def scored(config, result):
    """The fit's KL and RMSE over 50,000 fresh samples, once per setting for the whole server."""
    key = str(config)
    if key not in SCORES:
        SCORES[key] = result.evaluate(n=50_000)
    return SCORES[key]


def render():
    source = st.sidebar.radio("density of", ["a toy world", "a pose checkpoint"], horizontal=True)
    if source == "a toy world":
        render_toy()
    else:
        render_pose_density()


def render_toy():
    st.title("What does RLE learn?")
    st.markdown(
        "A toy world draws $x \\sim U(-1, 1)$ and a label $y = f(x) + s(x)\\,\\epsilon$ with noise $\\epsilon$ from a "
        "**known** law (2-D for the correlated law: $y$ has two coordinates whose errors are correlated, the case a "
        "joint's $x$ and $y$ are in). A small network predicts $\\hat\\mu(x), \\hat\\sigma(x)$ and is trained with the loss you pick; "
        "RLE (Eq. 8) also learns the shape of the noise with a normalizing flow $G_\\phi$. Because the truth is known, "
        "we can score each learned density $\\hat p(y\\mid x)$ by $\\mathrm{KL}(p \\,\\|\\, \\hat p)$."
    )

    with st.sidebar:
        st.header("Toy world")
        law = st.selectbox("noise law", LAWS, index=LAWS.index("correlated"), key="toy_law",
                           format_func=lambda l: "correlated (2-D)" if l == "correlated" else l,
                           help="correlated: a 2-D label whose two coordinates' errors are correlated Laplace")
        loss = st.selectbox("loss", ["rle", "dle"], help="RLE: Eq. 8, with Q below. DLE: Eq. 5, the flow alone.")
        q = st.radio("Q of RLE", ["laplace", "gaussian"], horizontal=True)
        dim = 2 if law == "correlated" else 1
        default = toy_configs(law)[0].steps
        steps = st.slider("training steps", 200, 3000, default, step=100, key=f"steps_{dim}d")
        seed = st.number_input("seed", 0, 10_000, 0)
        log_y = st.toggle("log-scale density", value=True, help="the tails are where the laws differ")

    configs = toy_configs(law, loss, q, steps, int(seed))
    fits = {c.loss: train(c, c.loss.upper() if i == 0 else c.loss) for i, c in enumerate(configs)}  # the chosen first
    result = fits[loss]
    scores = {c.loss: scored(c, fits[c.loss]) for c in configs}
    cols = st.columns(len(fits))
    for col, (name, score) in zip(cols, scores.items()):
        col.metric(f"KL(true || {name})", f"{score['kl']:.4f} nats", help="Monte Carlo over 50,000 fresh samples")
    said = lesson(law, loss, scores)
    if said:
        st.info(said)

    x0 = st.slider("input x at which to look at p(y | x)", -1.0, 1.0, 0.5, step=0.05)
    figure = curves if dim == 1 else contours
    st.plotly_chart(figure(result.world, fits, scores, x0, log_y), width="stretch")

    hist = go.Figure()
    for name, r in fits.items():
        hist.add_trace(go.Scatter(x=[h["step"] for h in r.history], y=[h["kl"] for h in r.history], name=name,
                                  line=dict(color=COLORS[name])))
    hist.update_layout(xaxis_title="training step", yaxis_title="KL(true || learned), nats", yaxis_type="log", height=340,
                       yaxis=dict(tickformat=".2~f", dtick="D2"), margin=dict(t=10), legend=dict(orientation="h", y=1.1))
    st.subheader("Learning curves")
    st.plotly_chart(hist, width="stretch")
    st.caption("The curves score 4,096 fresh samples at each point of training, the numbers at the top 50,000 other "
               "ones: on heavy tails the two estimates of one KL differ by the draws' noise. RMSE of mu_hat against "
               "f: " + ", ".join(f"{n} {s['rmse']:.4f}" for n, s in scores.items()))


def lesson(law, loss, scores):
    """What a student should take from a law, said on the page in the terms of the numbers it shows (or None)."""
    name, mine, laplace = loss.upper(), scores[loss]["kl"], scores["laplace"]["kl"]
    versus = (f"its KL is {laplace / mine:.1f}x below the Laplace's" if mine < laplace
              else f"its KL is {mine / laplace:.1f}x the Laplace's")
    if law == "correlated":
        return ("The lesson in one picture: the noise of the two coordinates is correlated, so the true contours are "
                "tilted. The Gaussian and the Laplace of Eq. 1-2 put an independent scale on each coordinate and "
                f"cannot tilt; {name}'s flow over (y1, y2) can learn the tilt: {versus}.")
    if law == "student_t":
        if mine >= laplace:
            return (f"Here {name} does not beat the plain Laplace ({versus}), and that is expected: Student-t noise is "
                    "already close to a Laplace, so the Laplace has almost nothing left to learn, while a flow pays for "
                    "being estimated from 4096 samples. The flow wins where the shape is far from both families: try "
                    "the correlated or the skewed laws.")
        return (f"Here {name} beats the plain Laplace only by a little ({versus}): Student-t noise is already close to "
                "a Laplace, so a flow has little left to learn. It wins by more where the shape is far from both "
                "families: try the correlated or the skewed laws.")
    if law == "gumbel":
        return ("One mode and a long tail to the right: the Gaussian and the Laplace are symmetric, so they spread mass "
                f"where no label falls and miss the tail. {name}'s flow can learn the skew: {versus}.")
    if law == "flat":
        return ("A flat top and almost no tails: the Laplace, peaked with heavy tails, fits it worst of the two "
                f"families. A flow must flatten it ({name} with a Laplace Q must also undo Q's kink): {versus}.")
    return None


def curves(world, fits, scores, x0, log_y):
    """1-D: the true and the learned p(y | x0) as curves."""
    x = torch.tensor([[x0]])
    center, scale = world.f(x)[0, 0].item(), world.s(x)[0, 0].item()
    ys = torch.linspace(center - 12 * scale, center + 12 * scale, 801)[:, None]
    xs = x.expand(len(ys), 1)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=ys[:, 0], y=world.log_prob(xs, ys).exp(), name="truth",
                             line=dict(color=COLORS["truth"], width=3, dash="dot")))
    for name, r in fits.items():
        fig.add_trace(go.Scatter(x=ys[:, 0], y=r.log_prob(xs, ys).exp(), name=f"{name} (KL {scores[name]['kl']:.3f})",
                                 line=dict(color=COLORS[name], width=2)))
    fig.update_layout(xaxis_title="label y", yaxis_title=f"density p(y | x = {x0:.2f})", height=480,
                      yaxis_type="log" if log_y else "linear", legend=dict(orientation="h", y=1.1), margin=dict(t=10))
    if log_y:  # three decades below the true peak: the tails that tell the laws apart, not the Gaussian's abyss
        top = math.log10(world.log_prob(xs, ys).exp().max().item())
        fig.update_yaxes(range=[top - 3, top + 0.3], exponentformat="power")
    return fig


def contours(world, fits, scores, x0, log_y, n=121):
    """2-D: the true and the learned p(y | x0) as density maps on one colour scale (log10 if log_y); heatmaps, not
    contours: a browser draws four contour maps in seconds on a 2-core machine, heatmaps at once."""
    x = torch.tensor([[x0]])
    center, scale = world.f(x)[0], world.s(x)[0, 0].item()
    axes = [center[i].item() + torch.linspace(-5, 5, n) * scale for i in range(2)]
    ys = torch.cartesian_prod(*axes)  # y1 slow, y2 fast
    xs = x.expand(len(ys), 1)
    panels = {"truth": world.log_prob(xs, ys), **{name: r.log_prob(xs, ys) for name, r in fits.items()}}
    titles = ["truth"] + [f"{name} (KL {scores[name]['kl']:.3f})" for name in fits]
    fig = make_subplots(1, len(panels), subplot_titles=titles, shared_yaxes=True, horizontal_spacing=0.02)
    top = panels["truth"].max()  # all panels share the truth's colour range, 4 decades deep on a log scale
    lo, hi = ((top / math.log(10) - 4).item(), (top / math.log(10)).item()) if log_y else (0.0, top.exp().item())
    for i, log_p in enumerate(panels.values(), 1):
        z = (log_p / math.log(10)).clamp_min(lo) if log_y else log_p.exp()
        fig.add_trace(go.Heatmap(x=axes[0], y=axes[1], z=z.reshape(n, n).T, zmin=lo, zmax=hi, colorscale="Reds",
                                 showscale=i == 1, zsmooth="best", hoverinfo="skip",
                                 colorbar=dict(title="log10 p" if log_y else "p")), row=1, col=i)  # drawn at once
        fig.update_xaxes(title_text="y1", row=1, col=i)
    fig.update_yaxes(title_text=f"y2   (x = {x0:.2f})", row=1, col=1)
    fig.update_layout(height=380, margin=dict(t=40))
    return fig


def render_pose_density():
    st.title("The error density a pose model learned")
    st.markdown(
        "An RLE model's flow learns the density of the normalized error $\\bar\\mu = (\\mu_g - \\hat\\mu) / \\hat\\sigma$ "
        "of every joint. Trained with $\\log s$ or standardized, it is $P_\\phi(\\bar\\mu) = Q(\\bar\\mu)\\, G_\\phi(\\bar\\mu)\\, s$ "
        "(Eq. 7, $s$ by a Riemann sum, Eq. 16). Trained by Eq. 8 without $\\log s$ (the paper's pose models), $Q$ has no "
        "parameter of the flow in it, so the flow's only gradient is $-\\log G_\\phi$'s: $G_\\phi$ alone is the fitted "
        "density, and that is what is drawn. Fig. 4 of the paper: sharper than a Gaussian at the peak, heavier tails.")
    with st.sidebar:
        path = pick_checkpoint("pose checkpoint", "rle", key="density_model")
        log_y = st.toggle("log-scale density", value=True, key="density_log")
    if path is None:
        return
    _, cfg, about, density = load_model(path)
    st.caption(model_caption(cfg, about))
    if density is None:
        st.info(f"This checkpoint has no flow (loss {method(cfg)}): pick an RLE or DLE one.")
        return
    axis, p, _, std = density  # DLE: the flow is the density itself (Eq. 5)
    step = (axis[1] - axis[0]).item()
    left, right = st.columns(2)
    contour = go.Figure(go.Contour(x=axis, y=axis, z=p.T, colorscale="Reds", contours=dict(coloring="heatmap"),
                                   colorbar=dict(title="density")))
    contour.update_layout(xaxis_title="bar_mu x", yaxis_title="bar_mu y", height=460, yaxis=dict(scaleanchor="x"))
    left.subheader("The learned density of bar_mu, both coordinates")
    left.plotly_chart(contour, width="stretch")
    marginals = go.Figure()
    for dim, name in ((0, "x"), (1, "y")):
        marginals.add_trace(go.Scatter(x=axis, y=p.sum(1 - dim) * step, name=f"learned, {name}",
                                       line=dict(color=COLORS["rle"], width=2, dash="solid" if dim == 0 else "dash")))
    scale = std.mean().item()  # the two families with the learned std: a comparison of shapes, as Fig. 4
    for name, unit_std in Q_STD.items():
        b = scale / unit_std
        marginals.add_trace(go.Scatter(x=axis, y=(LOG_Q[name](axis[:, None] / b)[:, 0]).exp() / b,
                                       name=f"{name}, same std", line=dict(color=COLORS[name])))
    marginals.update_layout(xaxis_title="bar_mu", yaxis_title="density", height=460, yaxis_type="log" if log_y else "linear",
                            legend=dict(orientation="h", y=1.12))
    if log_y:
        marginals.update_yaxes(range=[-3, None], exponentformat="power")
    right.subheader("Marginals against a Gaussian and a Laplace of the same std")
    right.plotly_chart(marginals, width="stretch")
    st.caption("Standardized RLE: P_phi moved and scaled to mean 0 and std 1, so sigma_hat is the error's std; compare "
               "shapes. Grid: [-6, 6]^2." if LOSSES[cfg.loss].standardized(cfg) else
               f"std of the learned density: {std[0]:.4f} (x), {std[1]:.4f} (y). Eq. 8 without log s pushes sigma_hat up "
               "(the drift), so bar_mu = error / sigma_hat is small and its density narrow: compare shapes, not widths; "
               "the app's pose page draws sigma_hat * std. Grid: the square where the mass is, normalized on it.")
