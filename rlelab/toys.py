"""Toy regression worlds whose label-noise law is known, and a small trainer for them.

A world draws x ~ U(-1, 1) and a label y = f(x) + s(x) * eps with a known mean function f,
a known heteroscedastic scale s(x) and noise eps from a known law. Because the truth is known,
a fitted model's conditional density p_hat(y | x) can be scored against it:
KL(true || learned) by Monte Carlo, and the RMSE of mu_hat(x) against f(x); or, the way COCO scores
pose, by the AP of mu_hat against fresh labels with sigma_hat ranking them (keypoint_ap). The oracle
fits the same network by MLE with the true law of eps.
"""
import functools
import math
from dataclasses import asdict, dataclass, field

import torch
from torch import distributions as D
from torch import nn
from tqdm.auto import tqdm

from .densities import location_scale_nll_joint
from .files import atomic_write, load_data
from .flows import make_flow
from .losses import LOSSES, Loss, LossOutput, confidence, sigma_hat_from_logits

EULER_GAMMA = 0.5772156649015329
LAWS = ("gaussian", "laplace", "student_t", "bimodal", "skewed_t", "gumbel", "flat", "correlated")
SCORING_GRID = {1: 4000, 2: 400}  # points per axis of the Riemann sums that normalize a learned density for scoring
ORACLE = "oracle"  # the name of the fit with the true law (``oracle``), beside the losses of LOSSES


def _two_modes(component):
    """A skewed two-mode mixture with mean 0: 0.7 component(-0.6, 0.45) + 0.3 component(1.4, 0.6).

    Most labels land near the joint, three in ten on a point to one side of it (a confused annotator):
    the mean, the median and the mode are three different places. ``bimodal`` has Gaussian components,
    ``skewed_t`` Student-t ones (nu = 3), which make it heavy-tailed too.
    """
    mix = D.Categorical(torch.tensor([0.7, 0.3]))
    return D.MixtureSameFamily(mix, component(torch.tensor([-0.6, 1.4]), torch.tensor([0.45, 0.6])))


class GeneralizedNormal(D.Distribution):
    """p(eps) = beta / (2 a Gamma(1 / beta)) exp(-|eps / a|^beta), a scaled to unit variance: beta = 2 is the Gaussian,
    1 the Laplace; ``flat`` takes beta = 8, a flat top and tails that fall like exp(-|eps|^8): almost all its mass
    within +-1.9 (bounded support in all but name; a truly bounded law would give the oracle's MLE an infinite loss
    on the first label outside its guess)."""

    arg_constraints = {}

    def __init__(self, beta, batch_shape=torch.Size()):
        super().__init__(batch_shape=torch.Size(batch_shape), validate_args=False)
        self.beta = beta
        self.a = math.exp(0.5 * (math.lgamma(1 / beta) - math.lgamma(3 / beta)))

    def expand(self, batch_shape, _instance=None):
        return GeneralizedNormal(self.beta, batch_shape)

    @property
    def mean(self):
        return torch.zeros(self.batch_shape)

    @property
    def variance(self):
        return torch.ones(self.batch_shape)

    def sample(self, sample_shape=torch.Size()):
        shape = tuple(sample_shape) + tuple(self.batch_shape)
        g = D.Gamma(1 / self.beta, 1.0).sample(shape)
        sign = torch.randint(0, 2, shape) * 2 - 1
        return sign * self.a * g ** (1 / self.beta)

    def log_prob(self, eps):
        return -(eps.abs() / self.a) ** self.beta + math.log(self.beta / (2 * self.a)) - math.lgamma(1 / self.beta)


class CorrelatedLaplace(D.Distribution):
    """eps = A u with u_1, u_2 iid unit-variance Laplace: a correlated (rho = 0.8), non-Gaussian 2-D law."""

    arg_constraints = {}
    A = torch.tensor([[1.0, 0.0], [0.8, 0.6]])

    def __init__(self):
        super().__init__(event_shape=torch.Size([2]), validate_args=False)
        self.u = D.Laplace(0.0, 1 / math.sqrt(2))

    def sample(self, sample_shape=torch.Size()):
        return self.u.sample(tuple(sample_shape) + (2,)) @ self.A.T

    @property
    def mean(self):
        return torch.zeros(2)

    @property
    def variance(self):
        return (self.A ** 2).sum(1)  # the diagonal of A A^T: u has unit variance

    def log_prob(self, eps):
        u = torch.linalg.solve(self.A, eps.unsqueeze(-1)).squeeze(-1)
        return self.u.log_prob(u).sum(-1) - torch.log(torch.linalg.det(self.A).abs())


def noise_law(law, dim):
    """The law of eps as a torch distribution with event shape (dim,)."""
    if law not in LAWS:
        raise ValueError(f"unknown law {law!r}; choose one of {', '.join(LAWS)}.")
    if dim not in (1, 2):
        raise ValueError(f"toy worlds are 1-D or 2-D, got dim={dim}.")
    if law == "correlated":
        if dim != 2:
            raise ValueError("the 'correlated' law is 2-D: use dim=2.")
        return CorrelatedLaplace()
    one = {
        "gaussian": lambda: D.Normal(0.0, 1.0),
        "laplace": lambda: D.Laplace(0.0, 1.0),
        "student_t": lambda: D.StudentT(3.0),
        "bimodal": lambda: _two_modes(D.Normal),
        "skewed_t": lambda: _two_modes(lambda loc, scale: D.StudentT(3.0, loc, scale)),
        "gumbel": lambda: D.Gumbel(-EULER_GAMMA, 1.0),  # skewed, one mode: mean 0, mode -0.58, a long right tail
        "flat": lambda: GeneralizedNormal(8.0),
    }[law]()
    return D.Independent(one.expand((dim,)), 1)


@dataclass
class World:
    """y = f(x) + s(x) * eps, x ~ U(-1, 1), eps from ``law`` (see ``noise_law``)."""

    law: str = "student_t"
    dim: int = 1

    def __post_init__(self):
        self.noise = noise_law(self.law, self.dim)

    def f(self, x):
        parts = [torch.sin(3 * x) + 0.5 * x, torch.cos(2 * x) - 0.5 * x][: self.dim]
        return torch.cat(parts, -1)

    def s(self, x):
        return 0.15 * (1.5 + torch.sin(2.5 * x))

    def sample(self, n, seed=0):
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            x = torch.rand(n, 1) * 2 - 1
            eps = self.noise.sample((n,))
        return x, self.f(x) + self.s(x) * eps

    def log_prob(self, x, y):
        """The true log p(y | x) = log p_eps((y - f) / s) - D log s."""
        s = self.s(x)
        return self.noise.log_prob((y - self.f(x)) / s) - self.dim * torch.log(s[:, 0])


class ToyRegressor(nn.Module):
    """An MLP from x to (mu_hat, sigma_hat), sigma_hat from a sigmoid (section 3.3)."""

    def __init__(self, dim, hidden=64):
        super().__init__()
        self.dim = dim
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 2 * dim))

    def forward(self, x):
        out = self.net(x)
        return out[:, : self.dim], sigma_hat_from_logits(out[:, self.dim:])


@dataclass
class FitConfig:
    law: str = "student_t"
    dim: int = 1
    loss: str = "rle"
    q: str = "laplace"
    variant: str = "paper"
    with_log_s: bool | None = None  # None: on for the paper's variant unless standardize (see the note in fit())
    standardize: bool = False  # RLE with bar_mu standardized (rle_loss): sigma_hat is the std of the error
    steps: int = 2000
    n_train: int = 4096
    batch_size: int = 512
    lr: float = 3e-3
    flow_lr: float = 1e-2
    seed: int = 0
    n_eval: int = 8192
    eval_every: int = 0  # 0: 20 points along training
    outliers: float = 0.0  # share of training labels made wrong annotations: f(x) + U(-3, 3), whatever the noise


@dataclass
class Fit:
    config: FitConfig
    world: World
    model: ToyRegressor
    flow: nn.Module | None
    const_sigma: torch.Tensor | None = None  # L1 / L2: the MLE constant sigma of the training residuals
    history: list = field(default_factory=list)

    @property
    def spec(self):
        """The ``Loss`` this fit trains with: one of rlelab.losses.LOSSES, or the oracle's MLE with the true law."""
        known = LOSSES.get(self.config.loss)
        return known if known is not None else oracle(self.world.noise)

    def loss(self, mu_hat, sigma_hat, y):
        return self.spec(mu_hat, sigma_hat, y, **self.spec.kwargs(self.config, self.flow)).loss

    @torch.no_grad()
    def log_prob(self, x, y):
        """The learned conditional log p_hat(y | x) (L1 / L2: Laplace / Gaussian with a constant sigma)."""
        mu_hat, sigma_hat = self.model(x)
        if not self.spec.has_sigma:  # L1 / L2
            sigma_hat = self.const_sigma.expand_as(mu_hat)
        return self.spec.log_likelihood(mu_hat, sigma_hat, y, self.flow, self.config, n=SCORING_GRID[self.config.dim])

    @torch.no_grad()
    def residual_mean(self):
        """E_P[bar_mu], the mean of the learned density of bar_mu: 0 for a symmetric Q (L1, L2, Gaussian, Laplace),
        the oracle (every law has mean 0) and a standardized RLE; P_phi's mean for RLE and DLE. The basic design
        (``flow``) has no residual density; its 0 leaves mu* = mu_hat."""
        return self.spec.moments(self.flow, self.config, self.config.dim, n=SCORING_GRID[self.config.dim])[0]

    @torch.no_grad()
    def predict(self, x):
        """(mu_hat, mu*) at x: mu* = mu_hat + sigma_hat E_P[bar_mu] is the mean of the learned law of y, the point the
        model predicts. With log s (or in DLE) nothing pins bar_mu's location: a shift of P_phi by delta and of mu_hat
        by -delta sigma_hat leaves the law of y unchanged, so mu_hat alone may sit far from the labels' mean."""
        mu_hat, sigma_hat = self.model(x)
        if not self.spec.has_sigma:
            return mu_hat, mu_hat
        return mu_hat, mu_hat + sigma_hat * self.residual_mean()

    @torch.no_grad()
    def evaluate(self, n=None, seed=10_000):
        """KL(true || learned) by Monte Carlo, and the RMSE of mu_hat and of mu* (``predict``) against f, the true
        mean, on fresh samples."""
        x, y = self.world.sample(n or self.config.n_eval, seed=seed)
        kl = (self.world.log_prob(x, y) - self.log_prob(x, y)).mean().item()
        f = self.world.f(x)
        rmse, rmse_star = (((p - f) ** 2).mean().sqrt().item() for p in self.predict(x))
        return {"kl": kl, "rmse": rmse, "rmse_star": rmse_star}

    @torch.no_grad()
    def keypoint_ap(self, tau=0.2, ranked=True, n=4096, seed=10_000):
        """COCO AP of mu_hat against fresh labels, each sample a one-joint person (see ``keypoint_ap``).

        Persons are ranked by the confidence c = 1 - sigma_hat (Eq. 9) where sigma_hat is learned; L1 and L2
        have none and score every person 1, as does ``ranked=False``.
        """
        x, y = self.world.sample(n, seed=seed)
        mu_hat, sigma_hat = self.model(x)
        learned = ranked and self.spec.has_sigma
        score = confidence(sigma_hat) if learned else torch.ones(n)
        return keypoint_ap(y, mu_hat, score, tau)

    @torch.no_grad()
    def noise_density(self, bar):
        """The learned density of the standardized residual bar_mu, the thing Fig. 4 plots (``Loss.log_density``).

        DLE and RLE: the flow's P_phi; the oracle: the true law; the other losses: their fixed Q.
        """
        return self.spec.log_density(bar, self.flow, self.config, n=SCORING_GRID[self.config.dim]).exp()


def oracle_loss(mu_hat, sigma_hat, target, weight=None, *, law):
    """The MLE with the world's true law of eps: -log p_eps(bar_mu) + sum_d log sigma_d (unweighted mean)."""
    per_joint = location_scale_nll_joint(law.log_prob, mu_hat, sigma_hat, target)
    return LossOutput(per_joint.mean(), per_joint)


def oracle(law):
    """The oracle as a ``Loss``: it knows the law of bar_mu, so its density is that law."""
    return Loss(ORACLE, functools.partial(oracle_loss, law=law), has_sigma=True, law=law)


def keypoint_ap(y, mu_hat, score, tau=0.2):
    """COCO keypoint AP (pycocotools) of toy predictions, each sample an image with one person of one joint.

    The joint is annotated at the label y (noise included, as on COCO) and predicted at mu_hat, both of shape
    (n, dim); the person's area is set so that OKS = exp(-|y - mu_hat|^2 / (2 tau^2)): tau is the tolerance
    in label units (COCO's k_i * s). ``score`` (n,) ranks the persons. Returns the dict of ``coco_ap``.
    """
    from .tasks.coco import COCO_KEYPOINTS, OKS_SIGMAS, PERSON_CATEGORY, coco_ap

    y, mu_hat = (torch.as_tensor(t, dtype=torch.float64).reshape(len(t), -1) for t in (y, mu_hat))
    if y.shape != mu_hat.shape or y.shape[1] > 2 or len(score) != len(y):
        raise ValueError(f"keypoint_ap needs labels and predictions of one shape (n, 1 or 2) and n scores, "
                         f"got {tuple(y.shape)}, {tuple(mu_hat.shape)} and {len(score)}.")
    if not tau > 0:
        raise ValueError(f"keypoint_ap's tolerance tau must be positive, got {tau}.")
    px = 100.0  # label units to pixels
    area = (px * tau / (2 * OKS_SIGMAS[0])) ** 2  # joint 0's OKS constant k_0 = 2 * 0.026

    def joint(point, visibility):
        xy = (px * point).tolist() + [0.0] * (2 - len(point))
        return xy + [visibility] + [0.0] * 3 * (len(COCO_KEYPOINTS) - 1)  # the other joints unlabelled

    images, annotations, results = [], [], []
    for i in range(len(y)):
        images.append({"id": i + 1, "width": 1, "height": 1})
        annotations.append({"id": i + 1, "image_id": i + 1, "category_id": 1, "keypoints": joint(y[i], 2),
                            "num_keypoints": 1, "area": area, "bbox": [0, 0, 1, 1], "iscrowd": 0})
        results.append({"image_id": i + 1, "category_id": 1, "keypoints": joint(mu_hat[i], 1),
                        "score": float(score[i])})
    dataset = {"images": images, "annotations": annotations, "categories": [PERSON_CATEGORY]}
    return coco_ap(dataset, results)


def check_config(c):
    if c.loss not in (*LOSSES, ORACLE):
        raise ValueError(f"unknown loss {c.loss!r}; choose one of {', '.join((*LOSSES, ORACLE))}.")
    if c.steps < 1 or c.n_train < 1 or c.batch_size < 1:
        raise ValueError("steps, n_train and batch_size must be at least 1.")
    if not 0 <= c.outliers < 1:
        raise ValueError(f"outliers is a share of the training labels, in [0, 1); got {c.outliers!r}.")
    for name in ("lr", "flow_lr"):
        if not 0 < getattr(c, name) <= 1:  # also refuses nan
            raise ValueError(f"{name} must be in (0, 1], got {getattr(c, name)!r}; Adam diverges far above 1e-2.")
    loss = LOSSES.get(c.loss)
    if loss is not None:
        if c.standardize and "standardize" not in loss.option_names():
            raise ValueError(f"standardize is a reading of RLE's Eq. 8: use loss rle, got {c.loss!r}.")
        if loss.problem(c):
            raise ValueError(loss.problem(c))
    noise_law(c.law, c.dim)


def fit(config=None, progress=False, callback=None, **overrides):
    """Train a ToyRegressor (and a flow for flow, dle, rle) on a fixed, seeded training set.

    Returns a ``Fit`` whose ``history`` lists dicts of step, loss, kl, rmse and rmse_star (``Fit.evaluate``).

    Toy RLE fits keep the log s term (Appendix E) by default. Without it the scale of bar_mu is not
    pinned: sigma_hat * c with G_phi squeezed by c leaves -log G + log sigma unchanged while
    -log Q(bar_mu / c) keeps falling, so sigma_hat creeps up to the sigmoid's ceiling and the
    heteroscedastic scale is lost. Pose AP barely notices (Table 17); a density scored against the truth
    does. ``with_log_s=False`` (the paper's Eq. 8) shows it. In 2-D log s comes from 4096 fresh draws of
    G_phi per step (``rlelab.losses.log_s``), about 3x the time of a step without it; with a grid fixed in
    advance (rlelab's first version) the 2-D fits diverged.
    ``callback(step, record)``, if given, sees every history record (the app's live progress).
    """
    c = FitConfig(**{**(asdict(config) if config else {}), **overrides})
    if c.with_log_s is None:
        c.with_log_s = not c.standardize and c.variant == "paper"  # standardized: s built in; the references: none
    check_config(c)
    world = World(c.law, c.dim)
    x, y = world.sample(c.n_train, seed=c.seed)
    if c.outliers:  # wrong annotations (a swapped or misplaced joint); the scores stay against the clean world
        wrong = torch.Generator().manual_seed(c.seed + 2)
        pick = torch.rand(c.n_train, generator=wrong) < c.outliers
        y[pick] = world.f(x[pick]) + 6 * torch.rand(int(pick.sum()), c.dim, generator=wrong) - 3
    torch.manual_seed(c.seed)
    model = ToyRegressor(c.dim)
    result = Fit(c, world, model, None)
    result.flow = flow = make_flow(c.dim) if result.spec.trains_flow else None
    groups = [{"params": model.parameters(), "lr": c.lr}]
    if flow is not None:
        groups.append({"params": flow.parameters(), "lr": c.flow_lr})
    opt = torch.optim.Adam(groups)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, c.steps)
    every = c.eval_every or max(1, c.steps // 20)
    gen = torch.Generator().manual_seed(c.seed + 1)
    bar = tqdm(range(1, c.steps + 1), desc=f"{c.loss} on {c.law}", disable=not progress)
    # The toys keep their own ten-line loop (not rlelab.train's): it is the lesson, read in lab 01 as written,
    # with a flow learning rate of its own and a cosine schedule; nothing here has images, batches or checkpoints.
    for step in bar:
        idx = torch.randint(0, c.n_train, (c.batch_size,), generator=gen)
        loss = result.loss(*model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % every == 0 or step == c.steps:
            result.const_sigma = _constant_sigma(result.spec, model, x, y)
            record = {"step": step, "loss": loss.item(), **result.evaluate(n=min(c.n_eval, 4096))}
            result.history.append(record)
            bar.set_postfix(kl=f"{record['kl']:.3f}", rmse=f"{record['rmse']:.4f}")
            if callback:
                callback(step, record)
    return result


@torch.no_grad()
def _constant_sigma(loss, model, x, y):
    """L1 / L2: the MLE constant sigma of the training residuals under their Q (Laplace: mean |r|, Gaussian: RMS)."""
    if loss.has_sigma:
        return None
    r = y - model(x)[0]
    return r.abs().mean(0) if loss.q == "laplace" else r.pow(2).mean(0).sqrt()


def fit_state(result):
    """A fit as plain data (config, state dicts, tensors, history): what ``save_fit`` writes."""
    return {
        "config": asdict(result.config),
        "model": result.model.state_dict(),
        "flow": result.flow.state_dict() if result.flow is not None else None,
        "const_sigma": result.const_sigma,
        "history": result.history,
    }


def save_fit(result, path):
    """Write the fitted model atomically (a temp file, then rename)."""
    atomic_write(path, lambda f: torch.save(fit_state(result), f))


def load_fit(path):
    """A fit written by ``save_fit``, read as data (``files.load_data``); one sentence for anything else."""
    try:
        return fit_from_state(load_data(path))
    except Exception as e:  # noqa: BLE001 - one sentence for any unreadable file
        raise ValueError(f"{path}: not a toy fit written by rlelab ({type(e).__name__}: {e}).") from None


def fit_from_state(state):
    """The ``Fit`` of a ``fit_state`` dict."""
    c = FitConfig(**state["config"])
    model = ToyRegressor(c.dim)
    model.load_state_dict(state["model"])
    flow = None
    if state["flow"] is not None:
        flow = make_flow(c.dim)
        flow.load_state_dict(state["flow"])
    return Fit(c, World(c.law, c.dim), model, flow, state["const_sigma"], state["history"])


def two_moons(n, seed=0, noise=0.08):
    """Samples of the classic two interleaved half circles, shape (n, 2)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(n, generator=g) * math.pi
    upper = torch.rand(n, generator=g) < 0.5
    x = torch.where(upper, torch.cos(t), 1 - torch.cos(t))
    y = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t))
    return torch.stack([x - 0.5, y - 0.25], 1) * 2 + noise * 2 * torch.randn(n, 2, generator=g)


def ring(n, seed=0, radius=2.0, width=0.15):
    """Samples of a thin ring of the given radius, shape (n, 2)."""
    g = torch.Generator().manual_seed(seed)
    angle = torch.rand(n, generator=g) * 2 * math.pi
    r = radius + width * torch.randn(n, generator=g)
    return torch.stack([r * torch.cos(angle), r * torch.sin(angle)], 1)


def fit_flow(samples, flow=None, steps=1500, lr=3e-3, batch_size=512, seed=0):
    """Fit a flow to samples by maximum likelihood (Eq. 10); returns (flow, per-step NLL list)."""
    torch.manual_seed(seed)
    flow = flow if flow is not None else make_flow(samples.shape[1])
    opt = torch.optim.Adam(flow.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        batch = samples[torch.randint(0, len(samples), (batch_size,), generator=g)]
        loss = -flow.log_prob(batch).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return flow, losses
