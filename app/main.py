"""rlelab app: fit a toy world live and see what RLE learns against the truth, the Gaussian and the Laplace.

Run: streamlit run app/main.py
"""
import plotly.graph_objects as go
import streamlit as st
import torch

from rlelab.toys import LAWS, FitConfig, fit

st.set_page_config(page_title="rlelab: learned densities", layout="wide")
COLORS = {"truth": "#222222", "rle": "#d62728", "gaussian": "#1f77b4", "laplace": "#2ca02c", "dle": "#9467bd"}



def train(config, label):
    """Fit with a live progress bar; cached so a rerun (a slider move) does not train again."""
    key = f"fit::{config}"
    if key not in st.session_state:
        bar = st.progress(0.0, text=f"training {label} ...")
        result = fit(config, callback=lambda step, rec: bar.progress(
            step / config.steps, text=f"{label}: step {step}/{config.steps}, KL {rec['kl']:.3f}"))
        bar.empty()
        st.session_state[key] = result
    return st.session_state[key]


st.title("What does RLE learn?")
st.markdown(
    "A toy world draws $x \\sim U(-1, 1)$ and a label $y = f(x) + s(x)\\,\\epsilon$ with noise $\\epsilon$ from a "
    "**known** law. A small network predicts $\\hat\\mu(x), \\hat\\sigma(x)$ and is trained with the loss you pick; "
    "RLE (Eq. 8) also learns the shape of the noise with a normalizing flow $G_\\phi$. Because the truth is known, "
    "we can score each learned density $\\hat p(y\\mid x)$ by $\\mathrm{KL}(p \\,\\|\\, \\hat p)$."
)

with st.sidebar:
    st.header("Toy world")
    law = st.selectbox("noise law", [l for l in LAWS if l != "correlated"], index=LAWS.index("student_t"))
    loss = st.selectbox("loss", ["rle", "dle"], help="RLE: Eq. 8, with Q below. DLE: Eq. 5, the flow alone.")
    q = st.radio("Q of RLE", ["laplace", "gaussian"], horizontal=True)
    steps = st.slider("training steps", 200, 3000, 1500, step=100)
    seed = st.number_input("seed", 0, 10_000, 0)
    log_y = st.toggle("log-scale density", value=True, help="the tails are where the laws differ")

config = FitConfig(law=law, dim=1, loss=loss, q=q, steps=steps, seed=int(seed))
result = train(config, loss.upper())
baselines = {name: train(FitConfig(law=law, dim=1, loss=name, steps=steps, seed=int(seed)), name)
             for name in ("gaussian", "laplace")}
fits = {loss: result, **baselines}

scores = {name: r.evaluate(n=50_000) for name, r in fits.items()}
cols = st.columns(len(fits))
for col, (name, score) in zip(cols, scores.items()):
    col.metric(f"KL(true || {name})", f"{score['kl']:.4f} nats", help="Monte Carlo over 50,000 fresh samples")

x0 = st.slider("input x at which to look at p(y | x)", -1.0, 1.0, 0.5, step=0.05)
x = torch.tensor([[x0]])
center, scale = result.world.f(x)[0, 0].item(), result.world.s(x)[0, 0].item()
ys = torch.linspace(center - 12 * scale, center + 12 * scale, 801)[:, None]
xs = x.expand(len(ys), 1)
fig = go.Figure()
fig.add_trace(go.Scatter(x=ys[:, 0], y=result.world.log_prob(xs, ys).exp(), name="truth",
                         line=dict(color=COLORS["truth"], width=3, dash="dot")))
for name, r in fits.items():
    fig.add_trace(go.Scatter(x=ys[:, 0], y=r.log_prob(xs, ys).exp(), name=f"{name} (KL {scores[name]['kl']:.3f})",
                             line=dict(color=COLORS[name], width=2)))
fig.update_layout(xaxis_title="label y", yaxis_title=f"density p(y | x = {x0:.2f})", height=480,
                  yaxis_type="log" if log_y else "linear", legend=dict(orientation="h", y=1.1))
if log_y:
    fig.update_yaxes(range=[-4, None])
st.plotly_chart(fig, use_container_width=True)

hist = go.Figure()
for name, r in fits.items():
    hist.add_trace(go.Scatter(x=[h["step"] for h in r.history], y=[h["kl"] for h in r.history], name=name,
                              line=dict(color=COLORS[name])))
hist.update_layout(xaxis_title="training step", yaxis_title="KL(true || learned), nats", yaxis_type="log", height=340)
st.subheader("Learning curves")
st.plotly_chart(hist, use_container_width=True)
st.caption(f"RMSE of mu_hat against f: " + ", ".join(f"{n} {s['rmse']:.4f}" for n, s in scores.items()))
