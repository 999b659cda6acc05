"""Page "Eq. 8 term by term": move a prediction, its sigma_hat and the label, and watch the three terms of RLE's
loss and their gradients, with a trained model's flow G_phi."""
import plotly.graph_objects as go
from plotly.subplots import make_subplots
import streamlit as st
import torch

from common import load_model, pick_checkpoint
from rlelab.densities import LOG_Q, deviation
from rlelab.losses import LOSSES, rle_loss

TERMS = ("-log Q(bar_mu)", "-log G_phi(bar_mu)", "sum_d log sigma_hat_d")
COLORS = {"-log Q(bar_mu)": "#2ca02c", "-log G_phi(bar_mu)": "#9467bd", "sum_d log sigma_hat_d": "#1f77b4", "Eq. 8": "#d62728"}
PATH = {"-log Q(bar_mu)": "directly, in closed form: the shortcut of Fig. 2c (no flow on the way)",
        "-log G_phi(bar_mu)": "through the flow G_phi (its Jacobian)",
        "sum_d log sigma_hat_d": "none: it depends on sigma_hat alone"}


def terms(flow, q, mu_hat, sigma_hat, label):
    """Eq. 8's three terms, from the pieces that have their home in rlelab (deviation, Q, the flow)."""
    bar_mu, log_sigma = deviation(mu_hat, sigma_hat, label)
    return dict(zip(TERMS, (-LOG_Q[q](bar_mu).sum(-1), -flow.log_prob(bar_mu), log_sigma)))


def render():
    st.title("Eq. 8, term by term")
    st.markdown(
        "RLE's loss for one joint (Eq. 8) is $-\\log Q(\\bar\\mu) - \\log G_\\phi(\\bar\\mu) + \\sum_d \\log\\hat\\sigma_d$ with "
        "$\\bar\\mu = (\\mu_g - \\hat\\mu)/\\hat\\sigma$. Move the prediction, its $\\hat\\sigma$ and the label: the number tiles are the "
        "three terms for this model's trained flow $G_\\phi$, the curves the same terms as the prediction sweeps across "
        "the crop (the $Q$ term on its own axis: the flow's term is far larger). The table says how each term's gradient reaches $\\hat\\mu$: the $Q$ term needs no flow (Fig. 2c), "
        "so the regression model learns even while $G_\\phi$ is still the identity.")
    with st.sidebar:
        path = pick_checkpoint("RLE model (its flow)", "rle", key="eq8_model")
    if path is None:
        return
    model, cfg, _, density = load_model(path)
    if getattr(model, "flow", None) is None or not LOSSES[cfg.loss].eq8:
        st.info("This checkpoint has no RLE flow: pick an RLE one.")
        return
    q = cfg.q
    c = st.columns(3)
    label = c[0].slider("label μ_g (x, crop units)", -0.5, 0.5, 0.0, 0.01, key="eq8_label")
    mu = c[1].slider("prediction μ̂ (x)", -0.5, 0.5, 0.1, 0.01, key="eq8_mu")
    sigma = c[2].slider("σ̂ (both coordinates)", 0.01, 1.0, 0.2, 0.01, key="eq8_sigma")
    mu_hat = torch.tensor([[mu, 0.0]], requires_grad=True)  # y: prediction and label agree
    sigma_hat = torch.tensor([[sigma, sigma]], requires_grad=True)
    target = torch.tensor([[label, 0.0]])
    parts = terms(model.flow, q, mu_hat, sigma_hat, target)
    eq8 = rle_loss(mu_hat, sigma_hat, target, flow=model.flow, q=q).per_joint  # its one home: rlelab.losses
    rows = []
    for name, value in parts.items():
        d_mu, d_sigma = torch.autograd.grad(value.sum(), (mu_hat, sigma_hat), retain_graph=True, allow_unused=True)
        rows.append({"term": name, "value": round(value.item(), 4),
                     "∂/∂μ̂ x": round(d_mu[0, 0].item(), 4) if d_mu is not None else 0.0,
                     "∂/∂σ̂": round(d_sigma.sum().item(), 4) if d_sigma is not None else 0.0,
                     "reaches μ̂": PATH[name]})
    cols = st.columns(4)
    for col, row in zip(cols, rows):
        col.metric(row["term"], f"{row['value']:.3f}")
    cols[3].metric("Eq. 8 (their sum)", f"{eq8.item():.3f}", help="rlelab.losses.rle_loss, variant paper, without log s")
    st.dataframe(rows, hide_index=True, width="stretch")
    st.plotly_chart(sweep(model.flow, q, label, sigma, mu), width="stretch")
    bar_mu = (label - mu) / sigma
    st.caption(f"bar_mu = (μ_g - μ̂) / σ̂ = {bar_mu:.2f} along x. With this model's Q ({q}) and flow, "
               + (f"the flow was trained by Eq. 8 without log s, so the density of bar_mu it holds, G_phi, is squeezed "
                  f"(its std {density[3][0]:.3f} along x): the -log G term is far below 0 near bar_mu = 0 and climbs steeply away from it, and the "
                  "scale of σ̂ drifts upward, nothing pinning it (docs/results/sigma-meaning.md)." if not cfg.standardize else
                  "the model was trained with the standardized RLE (rlelab's design: Eq. 8 with log s and bar_mu "
                  "standardized, a different loss); the terms here are Eq. 8's without log s, as the paper trains it, with the same flow."))


def sweep(flow, q, label, sigma, mu, n=201):
    """Each term and their sum as the prediction sweeps [-0.5, 0.5], the current prediction marked: the Q term
    (with log sigma_hat, a constant here) on its own axis above, so that the flow's much larger -log G term below
    does not flatten the shortcut (Fig. 2c) the page is about."""
    grid = torch.linspace(-0.5, 0.5, n)
    mu_hat = torch.stack([grid, torch.zeros(n)], 1)
    with torch.no_grad():
        parts = terms(flow, q, mu_hat, torch.full((n, 2), sigma), torch.tensor([[label, 0.0]]).expand(n, 2))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, subplot_titles=(
        "-log Q: reaches μ̂ with no flow (Fig. 2c's shortcut)", "-log G_φ, through the flow, and Eq. 8, the sum"))
    for name, value in parts.items():
        row = 2 if name == "-log G_phi(bar_mu)" else 1
        fig.add_trace(go.Scatter(x=grid, y=value, name=name, line=dict(color=COLORS[name], width=2)), row=row, col=1)
    fig.add_trace(go.Scatter(x=grid, y=sum(parts.values()), name="Eq. 8", line=dict(color=COLORS["Eq. 8"], width=3)),
                  row=2, col=1)
    for row in (1, 2):
        words = dict(annotation_text="μ̂") if row == 1 else {}
        fig.add_vline(x=mu, line=dict(color="black", dash="dash"), row=row, col=1, **words)
        words = dict(annotation_text="μ_g") if row == 1 else {}
        fig.add_vline(x=label, line=dict(color="grey", dash="dot"), row=row, col=1, **words)
    fig.update_xaxes(title_text="prediction μ̂ (x)", row=2, col=1)
    fig.update_yaxes(title_text="loss term")  # both rows
    fig.update_layout(height=560, margin=dict(t=60), legend=dict(orientation="h", y=1.14))
    return fig
