"""The regression losses of the paper, one family with one calling convention.

Every loss is called as ``loss(mu_hat, sigma_hat, target, weight=None, **options)``:

- ``mu_hat``, ``sigma_hat``, ``target``: tensors of shape (..., D), D coordinates per joint
  (D = 2 for a 2-D keypoint, 1 for a 1-D toy world). L1 and L2 ignore ``sigma_hat``.
- ``weight``: optional per-joint weight or visibility mask of shape (...) or (..., 1).

and returns a ``LossOutput`` with ``loss`` (the weighted mean over joints, a scalar) and
``per_joint`` (the unweighted per-joint terms, shape (...)). Inputs in fp16/bf16 are
computed in fp32. ``LOSSES`` maps each name to its ``Loss``: the function (called as above) and its properties
(whether it trains a flow, whether its sigma_hat means something, its options, the density it fits). A new loss
is a function and one ``Loss`` line here.
"""
import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import torch

from .densities import LOG_Q, LOG_SQRT_2PI, Q_ABS_MEAN, Q_STD, deviation, gaussian_nll, laplace_nll, location_scale_nll

SIGMA_EPS = 1e-9


def sigma_hat_from_logits(logits, eps=SIGMA_EPS):
    """sigma_hat = sigmoid(logits) + eps, in (0, 1) as in section 3.3."""
    return torch.sigmoid(logits) + eps


def confidence(sigma_hat):
    """c = 1 - sigma_hat, averaged over the coordinates of a joint (Eq. 9): shape (..., D) -> (...)."""
    return 1 - sigma_hat.mean(-1)


@dataclass
class LossOutput:
    loss: torch.Tensor  # scalar: weighted mean of per_joint
    per_joint: torch.Tensor  # shape (...): one term per joint, before weighting


def _prepare(name, mu_hat, sigma_hat, target, weight, needs_sigma=True):
    """Check shapes (one clear sentence on a mismatch) and upcast half precision to fp32."""
    if mu_hat.dim() == 0:
        raise ValueError(f"{name} loss: mu_hat must have shape (..., D), got a scalar.")
    if target.shape != mu_hat.shape:
        raise ValueError(
            f"{name} loss: target has shape {tuple(target.shape)} but mu_hat has shape "
            f"{tuple(mu_hat.shape)}; both must be (..., D) with the same shape."
        )
    if needs_sigma:
        if sigma_hat is None:
            raise ValueError(f"{name} loss needs sigma_hat (shape {tuple(mu_hat.shape)}), got None.")
        if sigma_hat.shape != mu_hat.shape:
            raise ValueError(
                f"{name} loss: sigma_hat has shape {tuple(sigma_hat.shape)} but mu_hat has shape "
                f"{tuple(mu_hat.shape)}; predict one sigma per coordinate."
            )
    joints = mu_hat.shape[:-1]
    if weight is not None:
        if weight.shape == joints + (1,):
            weight = weight[..., 0]
        if weight.shape != joints:
            raise ValueError(
                f"{name} loss: weight has shape {tuple(weight.shape)}; it must be per joint, "
                f"{tuple(joints)} or {tuple(joints) + (1,)}."
            )
    up = lambda t: t.float() if t is not None and t.dtype in (torch.float16, torch.bfloat16) else t
    sigma_hat = up(sigma_hat).clamp_min(SIGMA_EPS) if needs_sigma else None
    return up(mu_hat), sigma_hat, up(target), up(weight)


def _reduce(per_joint, weight):
    if weight is None:
        return LossOutput(per_joint.mean(), per_joint)
    weight = weight.to(per_joint.dtype)
    return LossOutput((per_joint * weight).sum() / weight.sum().clamp_min(1e-12), per_joint)


def l1_loss(mu_hat, sigma_hat, target, weight=None):
    """sum_d |mu_g - mu_hat|: the Laplace NLL with a constant sigma, up to constants (section 3.1)."""
    mu_hat, _, target, weight = _prepare("l1", mu_hat, sigma_hat, target, weight, needs_sigma=False)
    return _reduce((target - mu_hat).abs().sum(-1), weight)


def l2_loss(mu_hat, sigma_hat, target, weight=None):
    """sum_d (mu_g - mu_hat)^2: the Gaussian NLL with a constant sigma, up to constants (Eq. 2)."""
    mu_hat, _, target, weight = _prepare("l2", mu_hat, sigma_hat, target, weight, needs_sigma=False)
    return _reduce(((target - mu_hat) ** 2).sum(-1), weight)


def gaussian_loss(mu_hat, sigma_hat, target, weight=None):
    """sum_d [log sigma_d + r_d^2 / (2 sigma_d^2) + log sqrt(2 pi)]: Eq. 2 with learnable sigma."""
    mu_hat, sigma_hat, target, weight = _prepare("gaussian", mu_hat, sigma_hat, target, weight)
    return _reduce(gaussian_nll(mu_hat, sigma_hat, target).sum(-1), weight)


def laplace_loss(mu_hat, sigma_hat, target, weight=None):
    """sum_d [log(2 sigma_d) + |r_d| / sigma_d]: the Laplace NLL with learnable sigma."""
    mu_hat, sigma_hat, target, weight = _prepare("laplace", mu_hat, sigma_hat, target, weight)
    return _reduce(laplace_nll(mu_hat, sigma_hat, target).sum(-1), weight)


def _need_flow(name, flow, dim):
    if flow is None:
        raise ValueError(f"{name} loss needs flow=..., a flow over D={dim} coordinates (rlelab.flows.make_flow).")
    if flow.dim != dim:
        raise ValueError(f"{name} loss: the flow is over {flow.dim} coordinates but mu_hat has D={dim}.")


def flow_basic_loss(mu_hat, sigma_hat, target, weight=None, *, flow=None):
    """The basic design (Fig. 2a, Eq. 4): -log N(f^{-1}(mu_g); mu_hat, sigma_hat) - log|det d f^{-1}/d mu_g|.

    The flow sees the label mu_g itself, so it learns the spread of labels across all inputs,
    not the deviation of a label from its prediction: the flaw that reparameterization fixes.
    """
    mu_hat, sigma_hat, target, weight = _prepare("flow", mu_hat, sigma_hat, target, weight)
    _need_flow("flow", flow, mu_hat.shape[-1])
    z, log_det = flow.inverse(target)
    return _reduce(gaussian_nll(mu_hat, sigma_hat, z).sum(-1) - log_det, weight)


def dle_loss(mu_hat, sigma_hat, target, weight=None, *, flow=None):
    """Direct likelihood estimation (Fig. 2b, Eq. 5): -log P_phi(bar_mu) + sum_d log sigma_d."""
    mu_hat, sigma_hat, target, weight = _prepare("dle", mu_hat, sigma_hat, target, weight)
    _need_flow("dle", flow, mu_hat.shape[-1])
    bar_mu, log_sigma = deviation(mu_hat, sigma_hat, target)
    return _reduce(-flow.log_prob(bar_mu) + log_sigma, weight)


def _log_q_sum(q):
    """Q of a point (..., D) as the product over coordinates: q a name of LOG_Q or a per-coordinate function."""
    log_q = LOG_Q[q] if isinstance(q, str) else q
    return lambda points: log_q(points).sum(-1)


def log_s(flow, q="laplace", n=None, samples=None):
    """log s with s = 1 / int Q G_phi (Eq. 16, Appendix E), differentiable in the flow: the first value of
    ``p_phi_moments`` (a Riemann sum on a grid that follows the mass of Q G_phi, or ``samples`` draws from G_phi).

    A grid fixed in advance misreads a P_phi that training squeezes or moves (rlelab's first 2-D version summed 64 x 64
    points on [-5, 5]^2: for a P_phi of std 0.05 its log s was off by 0.35-0.55 nats, and 2-D fits with log s
    diverged). ``q``: a name of LOG_Q or a function giving log Q per coordinate.
    """
    return p_phi_moments(flow, q, n=n, samples=samples)[0]


def rle_log_density(flow, bar_mu, q="laplace", n=None):
    """log P_phi(bar_mu) = log Q(bar_mu) + log G_phi(bar_mu) + log s (Eq. 7): the density RLE learned, normalized by
    a Riemann sum (Eq. 16) on n points per axis where its mass is (``p_phi_moments``), for plotting and scoring."""
    return _log_q_sum(q)(bar_mu) + flow.log_prob(bar_mu) + log_s(flow, q, n)


def p_phi_moments(flow, q="laplace", n=None, samples=None):
    """(log s, mean, std) of P_phi = Q G_phi s (Eq. 7; q=None: G_phi alone), mean and std per coordinate.

    By default Riemann sums (Eq. 16) on a grid fitted to the mass: a first pass on [-6, 6]^D finds it (no
    gradient), the second pass of n points per axis on mean +- 8 std measures it (default n: 1000 in 1-D, 64 in
    2-D, 16 in 3-D), its cells aligned so that 0, where a Laplace Q has its kink, is a cell edge (the midpoint rule
    then keeps its h^2 error; a kink inside a cell costs h^2 / 4 of that cell's mass). ``samples=N`` instead draws
    N points from G_phi and weighs them by Q (importance sampling: s = 1 / E_G[Q], bounded weights), fresh each
    call: what training uses in 2-D and 3-D, since a flow trained against a fixed grid learns to put mass between
    its points. Both are differentiable in the flow's parameters.
    """
    device = next(flow.parameters()).device
    log_p = lambda g: flow.log_prob(g) + (_log_q_sum(q)(g) if q is not None else 0.0)

    def moments(points, log_w, log_cell):
        mass = torch.softmax(log_w, 0)[:, None]
        mean = (mass * points).sum(0)
        return -(torch.logsumexp(log_w, 0) + log_cell), mean, ((mass * (points - mean) ** 2).sum(0) + 1e-12).sqrt()

    if samples:
        points = flow.sample(samples)
        log_g = flow.log_prob(points)  # its value cancels; its gradient is the score of the proposal G_phi
        log_w = (_log_q_sum(q)(points) if q is not None else 0.0) + log_g - log_g.detach()
        return moments(points, log_w, -math.log(samples))

    n = n or {1: 1000, 2: 64}.get(flow.dim, 16)

    def grid(lo, hi, n):
        step = (hi - lo) / n
        lo = torch.floor(lo / step) * step  # 0 on a cell edge; n + 1 cells still cover [lo, hi]
        axes = [lo[d] + step[d] * (torch.arange(n + 1, device=device) + 0.5) for d in range(flow.dim)]  # midpoints
        points = torch.cartesian_prod(*axes).reshape(-1, flow.dim)
        return points, log_p(points), torch.log(step).sum()

    with torch.no_grad():  # fine enough to see a P_phi squeezed to std 0.05 (0.05 apart in 1-D and 2-D)
        bound = torch.full((flow.dim,), 6.0, device=device)
        _, mean, std = moments(*grid(-bound, bound, {1: 2000, 2: 256}.get(flow.dim, n)))
    return moments(*grid(mean - 8 * std, mean + 8 * std, n))


def density_grid(flow, q="laplace", n=201, standardize=False, samples=200_000):
    """The learned density of bar_mu where its mass is: (axis, density, mean, std per coordinate).

    P_phi = Q G_phi s (Eq. 7) for RLE with log s, G_phi alone (q=None) for DLE (Eq. 5) and RLE without log s,
    normalized by s of ``p_phi_moments``. Eq. 8 without log s pushes sigma_hat up, so a trained flow may hold a
    density of bar_mu far narrower than Q's unit scale. The error the model predicts for a joint then has std
    sigma_hat * std, per coordinate. ``standardize``: the density a standardized RLE (``rle_loss(...,
    standardize=True)``) uses, P_phi moved and scaled to mean 0 and std 1, over [-6, 6]^D.

    In 1-D and 2-D the density is on an n^D grid; in 3-D and above it is the D marginals (D, n), histograms of
    ``samples`` draws from G_phi weighted by Q (a 201^3 grid would run the flow 8 million times).
    """
    log_norm, mean, std = p_phi_moments(flow, q)
    if standardize:
        bound, log_jac = 6.0, torch.log(std).sum()
        to_bar_mu = lambda g: mean + std * g
        out_mean, out_std = torch.zeros_like(mean), torch.ones_like(std)
    else:
        bound, log_jac = min(6.0, 8 * std.max().item()), 0.0
        to_bar_mu = lambda g: g
        out_mean, out_std = mean, std
    axis = torch.linspace(-bound, bound, n, device=mean.device)
    if flow.dim > 2:
        points = flow.sample(samples)
        weight = torch.softmax(_log_q_sum(q)(points), 0) if q is not None else torch.full((samples,), 1 / samples)
        g = (points - mean) / std if standardize else points
        step = (axis[1] - axis[0]).item()
        bins = ((g + bound) / step + 0.5).floor().long()  # the nearest grid point
        inside = (bins >= 0) & (bins < n)
        marginals = torch.zeros(flow.dim, n, device=mean.device)
        for d in range(flow.dim):
            marginals[d].index_add_(0, bins[inside[:, d], d], weight[inside[:, d]])
        return axis, marginals / step, out_mean, out_std
    grid = torch.cartesian_prod(*[axis] * flow.dim).reshape(-1, flow.dim)
    points = to_bar_mu(grid)
    log_p = flow.log_prob(points) + (_log_q_sum(q)(points) if q is not None else 0.0) + log_norm + log_jac
    return axis, log_p.exp().reshape([n] * flow.dim), out_mean, out_std


RLE_VARIANTS = ("paper", "official", "mmpose")
STANDARDIZE_SAMPLES = 4096  # draws from G_phi per step for the moments of P_phi in 2-D and 3-D


def rle_loss(mu_hat, sigma_hat, target, weight=None, *, flow=None, q="laplace", with_log_s=False, variant="paper",
             standardize=False):
    """Residual log-likelihood estimation (Fig. 2c, Eq. 8), per joint with bar_mu = (mu_g - mu_hat) / sigma_hat.

    variant="paper" (default), Eq. 8 exactly, the flow over all D coordinates of a joint:
        -log Q(bar_mu) - log G_phi(bar_mu) - log s + sum_d log sigma_d
      with Q the product of standard Gaussians (q="gaussian") or unit Laplaces (q="laplace",
      the paper's default) and the log s term only when with_log_s=True (Appendix E, Eq. 16;
      the paper drops it, Table 17).
    variant="official" (the authors' rlepose/models/criterion.py), per joint:
        sum_d [log sigma_d - log G_phi(bar_mu)] + sum_d [log(sqrt(2 pi) sigma_d) + |bar_mu_d| / sqrt(2)]
      log sigma and the flow term are counted once per coordinate (twice per joint in 2-D), and
      a Gaussian normalizer is paired with an L1 exponent (q and with_log_s are not used).
    variant="mmpose" (mmpose's RLELoss), per joint:
        sum_d [log sigma_d - log G_phi(bar_mu)] + sum_d [-log Q(bar_mu_d) + log sigma_d]
      a true unit Laplace (log(2 sigma_d) + |bar_mu_d|) or Gaussian Q, the flow term broadcast
      over the coordinates.
    All three share the gradient shortcut: the Q term reaches mu_hat without passing the flow. The references also
    write bar_mu = (prediction - label) / sigma (their flows are mirror images of rlelab's), divide the summed loss by
    the batch size (rlelab: by the visible joints' weight) and, in the official 2-D code, weight the flow term by the x
    coordinate's visibility (equal to the joint's in their data). ``effective_log_q`` reads each as Eq. 8.

    standardize=True (with variant="paper"; not in the paper): bar_mu is read as the *standardized* deviation,
    of the density P_phi (normalized by s) moved and scaled to mean 0 and std 1 per coordinate. Eq. 8 leaves the
    location and scale of bar_mu free (a P_phi squeezed by c and a sigma_hat grown by c give the same law of
    mu_g, and without log s the Q term rewards the squeeze, so sigma_hat climbs to the sigmoid's ceiling);
    standardized, sigma_hat is the std of the error mu_g - mu_hat and mu_hat its mean. With (m, a) the moments
    of P_phi (``p_phi_moments``: 4096 draws from G_phi per call in 2-D and 3-D, a 1000-point grid in 1-D) and
    y = m + a * bar_mu:
        -log Q(y) - log G_phi(y) - log s - sum_d log a_d + sum_d log sigma_d
    """
    problem = RLEOptions(q, variant, with_log_s, standardize).problem()
    if problem:
        raise ValueError(f"rle loss: {problem}")
    mu_hat, sigma_hat, target, weight = _prepare("rle", mu_hat, sigma_hat, target, weight)
    dim = mu_hat.shape[-1]
    _need_flow("rle", flow, dim)
    bar_mu, log_sigma = deviation(mu_hat, sigma_hat, target)  # Fig. 2c; log|det d bar_mu / d mu_g|^-1, Eq. 5
    log_g = None if standardize else flow.log_prob(bar_mu)  # log G_phi(bar_mu), Eq. 7
    if standardize:
        log_norm, m, a = p_phi_moments(flow, q, samples=STANDARDIZE_SAMPLES if dim > 1 else None)  # 1-D: a fine grid
        y = m + a * bar_mu
        per_joint = -LOG_Q[q](y).sum(-1) - flow.log_prob(y) - log_norm - torch.log(a).sum() + log_sigma
    elif variant == "paper":
        per_joint = -LOG_Q[q](bar_mu).sum(-1) - log_g + log_sigma  # Eq. 8
        if with_log_s:  # 2-D and 3-D: fresh draws from G_phi each step, which no flow can exploit (see log_s)
            per_joint = per_joint - log_s(flow, q, samples=STANDARDIZE_SAMPLES if dim > 1 else None)
    elif variant == "official":
        per_joint = dim * -log_g + 2 * log_sigma + (LOG_SQRT_2PI + bar_mu.abs() / math.sqrt(2)).sum(-1)
    else:
        per_joint = dim * -log_g + 2 * log_sigma - LOG_Q[q](bar_mu).sum(-1)
    return _reduce(per_joint, weight)


def effective_log_q(variant="paper", q="laplace", dim=1):
    """log Q per coordinate of the density P = Q_eff G_phi s whose negative log-likelihood a variant's loss is, up to
    a constant and a factor. The official and mmpose per-joint losses are D (-log G) + 2 sum_d log sigma_d +
    sum_d l(bar_mu_d) (``rle_loss``): divided by D, Eq. 8 with Q_eff = exp(-l / D) per coordinate, so the official
    code's l = |b| / sqrt 2 is a Laplace of scale D sqrt 2 and mmpose's l = -log Q is Q^(1/D) (in 2-D a Laplace of
    scale 2, a Gaussian of std sqrt 2). The paper's is Q. For the toys' scores and the app's drawings."""
    if variant == "official":
        return lambda bar_mu: -bar_mu.abs() / (dim * math.sqrt(2))
    if variant == "mmpose":
        return lambda bar_mu: LOG_Q[q](bar_mu) / dim
    return LOG_Q[q]


@dataclass(frozen=True)
class RLEOptions:
    """RLE's keyword options (``rle_loss``), read from any config with fields of the same names."""

    q: str = "laplace"  # Q of Eq. 6-8: "laplace" (the paper's default) or "gaussian"
    variant: str = "paper"  # paper | official | mmpose (``rle_loss``)
    with_log_s: bool = False  # the log s term of Appendix E (Eq. 16)
    standardize: bool = False  # bar_mu read as the standardized deviation (not in the paper)

    def problem(self):
        """The one sentence that says what is wrong with these options, or None."""
        if self.q not in LOG_Q:
            return f"unknown q {self.q!r}; choose one of {', '.join(LOG_Q)}."
        if self.variant not in RLE_VARIANTS:
            return f"unknown variant {self.variant!r}; choose one of {', '.join(RLE_VARIANTS)}."
        if self.standardize and (self.variant != "paper" or self.with_log_s):
            return (f"standardize reads Eq. 8 with its normalizer s built in (variant 'paper', no with_log_s); for "
                    f"variant {self.variant!r} or with_log_s: true, as the paper or its "
                    "code wrote them, set standardize: false.")
        if self.with_log_s and self.variant != "paper":
            return (f"with_log_s adds Eq. 16's log s to the paper's Eq. 8; variant {self.variant!r} has no such term "
                    "(nor does its code): set with_log_s: false, or variant: paper.")
        return None

    def density_log_q(self, dim):
        """log Q per coordinate of the density of bar_mu a model trained with these options holds, P = Q G_phi s, or
        None when it is G_phi alone.

        With log s (or standardized) the flow learns through the normalized Q G_phi s, so that product is the fitted
        density (Q the variant's effective Q, ``effective_log_q``). Without it, Q does not depend on phi: the flow's
        only gradient is that of -log G_phi(bar_mu), so G_phi is the plain maximum-likelihood fit of bar_mu's law
        and Q G_phi s is not the density the fit found (it is what the loss equals, not what it learned)."""
        if not (self.with_log_s or self.standardize):
            return None
        return effective_log_q(self.variant, self.q, dim)


@dataclass(frozen=True)
class Loss:
    """What a loss of the family is: its function and everything the rest of rlelab asks of it (the trainers, the
    toys, the evaluation, the app, the benchmarks ask these, never the name).

    The density of bar_mu a loss fits (for scoring, drawing and reading sigma_hat as an error) is Q alone for a
    fixed-Q loss, G_phi for DLE (Eq. 5) and for RLE without log s, Q_eff G_phi s for RLE with log s (Eq. 7,
    ``RLEOptions.density_log_q``), standardized where the options say so; ``law`` is a known law instead (the
    toys' oracle). The basic design (``flow_on_label``) has none: its flow is over the label.
    """

    name: str
    fn: Callable  # fn(mu_hat, sigma_hat, target, weight=None, **kwargs) -> LossOutput
    trains_flow: bool = False  # a RealNVP trains beside the model and is passed as flow=
    has_sigma: bool = False  # sigma_hat means something (L1 and L2 ignore it)
    q: str | None = None  # the fixed Q of bar_mu (a name of LOG_Q); None: a flow's density, or the options' Q
    options: type | None = None  # the dataclass of its keyword options; a config's fields of those names fill it
    eq8: bool = False  # its terms are Eq. 8's: -log Q(bar_mu), -log G_phi(bar_mu), sum_d log sigma_d
    flow_on_label: bool = False  # the basic design (Eq. 4): the flow sees mu_g, there is no density of bar_mu
    law: object = None  # a known law of bar_mu (torch Distribution, event shape (D,)): the toys' oracle

    def __post_init__(self):
        if not self.trains_flow and self.law is None and self.q not in LOG_Q:
            raise ValueError(f"Loss {self.name!r}: a loss without a flow names its Q, a key of rlelab.densities.LOG_Q "
                             f"(the density of bar_mu it fits; got q={self.q!r}): add the Q there first.")

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def read_options(self, cfg):
        """Its options from the fields of ``cfg`` with their names (None for a loss without options)."""
        if self.options is None:
            return None
        return self.options(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(self.options)})

    def option_names(self):
        return tuple(f.name for f in dataclasses.fields(self.options)) if self.options else ()

    def problem(self, cfg):
        """The sentence that says what is wrong with the options ``cfg`` gives this loss, or None."""
        options = self.read_options(cfg)
        return options.problem() if options is not None else None

    def kwargs(self, cfg, flow=None):
        """The keyword arguments of ``fn`` beyond (mu_hat, sigma_hat, target): the flow, the options of ``cfg``."""
        options = self.read_options(cfg)
        return {**({"flow": flow} if self.trains_flow else {}), **(dataclasses.asdict(options) if options else {})}

    def standardized(self, cfg):
        """Whether it reads bar_mu standardized (sigma_hat is then the error's std, mu_hat its mean)."""
        return bool(getattr(self.read_options(cfg), "standardize", False))

    def log_q(self, cfg, dim):
        """log Q per coordinate of the density P = Q G_phi s it fits: the fixed Q of a Laplace or Gaussian loss, None
        for a flow alone (DLE, and RLE without log s), the variant's effective Q for RLE with log s or standardized
        (``RLEOptions.density_log_q``)."""
        if self.eq8:
            return self.read_options(cfg).density_log_q(dim)
        if self.trains_flow and not self.flow_on_label:
            return None
        return LOG_Q[self.q] if self.q else None

    def _has_density(self):
        return self.trains_flow and not self.flow_on_label

    def log_density(self, bar_mu, flow, cfg, n=None):
        """log P(bar_mu), (..., D) -> (...): the density of bar_mu the loss fitted, normalized (Eq. 7, Eq. 16 with
        a Riemann sum of n points per axis where its mass is; ``p_phi_moments``)."""
        if self.law is not None:
            return self.law.log_prob(bar_mu)
        log_q = self.log_q(cfg, bar_mu.shape[-1])
        if not self._has_density():
            return log_q(bar_mu).sum(-1)
        q_sum = (lambda b: log_q(b).sum(-1)) if log_q is not None else (lambda b: 0.0)
        if self.standardized(cfg):  # P_phi moved and scaled to mean 0 and std 1, as the loss read it
            log_norm, m, a = p_phi_moments(flow, log_q, n=n)
            y = m + a * bar_mu
            return q_sum(y) + flow.log_prob(y) + log_norm + torch.log(a).sum()
        if log_q is None:  # DLE, RLE without log s: G_phi is a normalized density
            return flow.log_prob(bar_mu)
        return rle_log_density(flow, bar_mu, log_q, n)

    def log_likelihood(self, mu_hat, sigma_hat, target, flow, cfg, n=None):
        """log p(mu_g | x) of a prediction under the fitted density: log P(bar_mu) - sum_d log sigma_d (Eq. 5), or
        the basic design's Eq. 4."""
        if self.flow_on_label:
            z, log_det = flow.inverse(target)
            return -location_scale_nll(LOG_Q[self.q], mu_hat, sigma_hat, z).sum(-1) + log_det
        bar_mu, log_sigma = deviation(mu_hat, sigma_hat, target)
        return self.log_density(bar_mu, flow, cfg, n) - log_sigma

    def moments(self, flow, cfg, dim, n=None):
        """(mean, std) per coordinate (D,) of bar_mu under the fitted density: mu_hat + sigma_hat * mean is the
        predicted point mu*, sigma_hat * std the predicted error's std (Eq. 8 leaves bar_mu's scale free)."""
        if self.law is not None:
            return self.law.mean.float(), self.law.stddev.float()
        if self._has_density() and not self.standardized(cfg):
            return tuple(p_phi_moments(flow, self.log_q(cfg, dim), n=n)[1:])
        std = Q_STD[self.q] if self.q and not self._has_density() else 1.0
        return torch.zeros(dim), torch.full((dim,), std)

    def abs_mean(self, flow, cfg, dim=2):
        """E|bar_mu| per coordinate (D,) under the fitted density: sigma_hat times it is a coordinate's predicted
        |error| (closed forms for a fixed Q; a grid of the flow's density in 1-D and 2-D)."""
        if not self._has_density():
            return torch.full((dim,), Q_ABS_MEAN[self.q])
        if dim > 2:
            raise ValueError(f"{self.name}: E|bar_mu| is summed on a grid in 1-D and 2-D, not D={dim}.")
        axis, density, _, _ = density_grid(flow, self.log_q(cfg, dim), standardize=self.standardized(cfg))
        step = axis[1] - axis[0]
        if dim == 1:
            return ((density * axis.abs()).sum() * step)[None]
        cell = step ** 2
        return torch.stack([(density * axis[:, None].abs()).sum() * cell, (density * axis[None, :].abs()).sum() * cell])


LOSSES = {loss.name: loss for loss in (
    Loss("l1", l1_loss, q="laplace"),
    Loss("l2", l2_loss, q="gaussian"),
    Loss("gaussian", gaussian_loss, has_sigma=True, q="gaussian"),
    Loss("laplace", laplace_loss, has_sigma=True, q="laplace"),
    Loss("flow", flow_basic_loss, trains_flow=True, has_sigma=True, q="gaussian", flow_on_label=True),
    Loss("dle", dle_loss, trains_flow=True, has_sigma=True),
    Loss("rle", rle_loss, trains_flow=True, has_sigma=True, options=RLEOptions, eq8=True),
)}
