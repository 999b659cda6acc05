"""Normalizing flows G_phi: RealNVP as in Appendix A, and a 1-D monotone flow for toy worlds.

Direction convention (Eq. 3, 10, 11): ``forward`` is the generative map x = f_phi(z) from the
standard normal base z to the data x; ``inverse`` is z = f_phi^{-1}(x). Both return the
log|det| of their own Jacobian, so ``log_prob(x) = log N(z) + log|det d f^{-1} / dx|``.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

from .densities import log_q_gaussian


def mlp(d_in, d_out, n_fc, n_neurons, out_activation=None):
    """Lfc fully connected layers of Nn neurons with LeakyReLU between them (Appendix A)."""
    sizes = [d_in] + [n_neurons] * (n_fc - 1) + [d_out]
    layers = []
    for i in range(n_fc):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < n_fc - 1:
            layers.append(nn.LeakyReLU())
    if out_activation is not None:
        layers.append(out_activation)
    return nn.Sequential(*layers)


class RealNVP(nn.Module):
    """RealNVP with K affine couplings and alternating masks (Appendix A, Eq. 12), over D >= 2 coordinates.

    Coupling k keeps the coordinates where mask_k = 1 and transforms the others:
        f_k(z) = m * z + (1 - m) * (z * exp(g_k(m * z)) + h_k(m * z))            (Eq. 12)
    g_k (log-scale) and h_k (shift) are each an MLP of n_fc layers of n_neurons with LeakyReLU.
    As in the reference code, g_k ends in tanh so that one coupling scales by at most e; the
    parameter count is unchanged by it and equals Table 11 for dim = 2.
    """

    def __init__(self, dim, n_couplings=6, n_fc=3, n_neurons=64):
        super().__init__()
        if dim < 2:
            raise ValueError(
                f"RealNVP needs dim >= 2 (got dim={dim}): a coupling conditions one part of the "
                "vector on the other. Use Monotone1D (or make_flow(1)) for 1-D densities."
            )
        if n_fc < 1 or n_neurons < 1 or n_couplings < 1:
            raise ValueError("RealNVP needs n_couplings, n_fc and n_neurons of at least 1.")
        self.dim = dim
        # the coordinates coupling k keeps: the last floor(D/2), then the others, alternating ([0, 1], [1, 0] in
        # 2-D; [0, 0, 1], [1, 1, 0] in 3-D, the reference code's masks for both)
        first = (torch.arange(dim) >= dim - dim // 2).float()
        masks = torch.stack([first if k % 2 == 0 else 1 - first for k in range(n_couplings)])
        self.register_buffer("masks", masks)
        self.g = nn.ModuleList(mlp(dim, dim, n_fc, n_neurons, nn.Tanh()) for _ in range(n_couplings))
        self.h = nn.ModuleList(mlp(dim, dim, n_fc, n_neurons) for _ in range(n_couplings))
        # start close to the identity map: Xavier with gain 0.01 and zero biases (the official repo defines this init,
        # RealNVP._init, but never calls it; mmpose applies the Xavier gain and keeps PyTorch's default biases)
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight, gain=0.01)
                nn.init.zeros_(layer.bias)

    def _coupling(self, k, x):
        m = self.masks[k]
        xm = x * m
        return m, (1 - m) * self.g[k](xm), (1 - m) * self.h[k](xm)

    def forward(self, z):
        """x = f_K o ... o f_1(z); returns (x, log|det dx/dz|)."""
        steps = self.trajectory(z)
        return steps[-1][0], sum(log_det for _, log_det in steps[1:])

    def trajectory(self, z):
        """[(z_0, 0), (z_1, log|det f_1|), ..., (z_K, log|det f_K|)]: the points after each coupling (Eq. 11)."""
        steps = [(z, z.new_zeros(z.shape[:-1]))]
        for k in range(len(self.g)):
            x = steps[-1][0]
            m, g, h = self._coupling(k, x)
            steps.append((m * x + (1 - m) * (x * torch.exp(g) + h), g.sum(-1)))  # Eq. 12
        return steps

    def inverse(self, x):
        """z = f_1^{-1} o ... o f_K^{-1}(x); returns (z, log|det dz/dx|) (Eq. 11)."""
        log_det = x.new_zeros(x.shape[:-1])
        z = x
        for k in reversed(range(len(self.g))):
            m, g, h = self._coupling(k, z)
            z = m * z + (1 - m) * (z - h) * torch.exp(-g)
            log_det = log_det - g.sum(-1)
        return z, log_det

    def log_prob(self, x):
        """log G_phi(x) = log N(f^{-1}(x); 0, I) + log|det d f^{-1} / dx| (Eq. 10)."""
        z, log_det = self.inverse(x)
        return log_q_gaussian(z).sum(-1) + log_det

    @torch.no_grad()
    def sample(self, n, generator=None):
        z = torch.randn(n, self.dim, generator=generator, device=self.masks.device)
        return self.forward(z)[0]


class Monotone1D(nn.Module):
    """A 1-D flow for the 1-D toy worlds, where a coupling has nothing to condition on.

    The inverse map is strictly increasing:
        z = f^{-1}(x) = a x + b + sum_i u_i asinh(w_i x + c_i),   a >= 0, u_i > 0, w_i > 0,
    so log|det| = log(a + sum_i u_i w_i / sqrt(1 + (w_i x + c_i)^2)) is exact. asinh grows like
    log|x|, which lets the density keep tails heavier than the Gaussian base. ``forward``
    (sampling) inverts by bisection.
    """

    def __init__(self, n_units=16):
        super().__init__()
        self.dim = 1
        self.raw_a = nn.Parameter(torch.tensor(math.log(math.e - 1)))  # softplus -> a = 1
        self.b = nn.Parameter(torch.zeros(()))
        self.raw_u = nn.Parameter(torch.full((n_units,), -4.0))  # u ~ 0.02: starts near identity
        self.raw_w = nn.Parameter(torch.zeros(n_units))
        self.c = nn.Parameter(torch.linspace(-3, 3, n_units))

    def inverse(self, x):
        a, u, w = F.softplus(self.raw_a), F.softplus(self.raw_u), F.softplus(self.raw_w) + 1e-3
        t = w * x + self.c  # x: (..., 1) broadcasts against the units
        z = a * x[..., :1] + self.b + (u * torch.asinh(t)).sum(-1, keepdim=True)
        dz = a + (u * w / torch.sqrt(1 + t**2)).sum(-1)
        return z, torch.log(dz)

    @torch.no_grad()
    def forward(self, z, iters=100):
        lo, hi = torch.full_like(z, -1e6), torch.full_like(z, 1e6)
        for _ in range(iters):
            mid = (lo + hi) / 2
            below = self.inverse(mid)[0] < z
            lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
        x = (lo + hi) / 2
        return x, -self.inverse(x)[1]

    def log_prob(self, x):
        z, log_det = self.inverse(x)
        return log_q_gaussian(z).sum(-1) + log_det

    @torch.no_grad()
    def sample(self, n, generator=None):
        z = torch.randn(n, 1, generator=generator, device=self.b.device)
        return self.forward(z)[0]


def make_flow(dim, **kwargs):
    """RealNVP for dim >= 2 (the paper's flow), Monotone1D for dim = 1."""
    return Monotone1D() if dim == 1 else RealNVP(dim, **kwargs)


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())
