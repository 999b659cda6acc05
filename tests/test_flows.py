"""RealNVP and Monotone1D against autograd Jacobians, numeric integrals and Table 11."""
import pytest
import torch
from torch.autograd.functional import jacobian

from rlelab.flows import Monotone1D, RealNVP, count_parameters


def random_flow(dim, n_couplings=6, seed=0):
    """A RealNVP far from the identity, so that the checks below have something to check."""
    torch.manual_seed(seed)
    flow = RealNVP(dim, n_couplings=n_couplings).double()
    for layer in flow.modules():
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.normal_(layer.weight, std=0.25)
            torch.nn.init.normal_(layer.bias, std=0.2)
    return flow


@pytest.mark.parametrize("dim,n_couplings", [(2, 1), (2, 2), (2, 6), (3, 1), (3, 6)])
def test_log_det_equals_autograd_jacobian(dim, n_couplings):
    # n_couplings=1 and 2 check each coupling (both mask parities) on its own, 6 the whole flow
    flow = random_flow(dim, n_couplings)
    for point in torch.randn(5, dim, dtype=torch.float64):
        _, log_det = flow(point[None])
        j = jacobian(lambda z: flow(z[None])[0][0], point)
        assert log_det.item() == pytest.approx(torch.linalg.slogdet(j)[1].item(), abs=1e-7)
        _, inv_log_det = flow.inverse(point[None])
        j_inv = jacobian(lambda x: flow.inverse(x[None])[0][0], point)
        assert inv_log_det.item() == pytest.approx(torch.linalg.slogdet(j_inv)[1].item(), abs=1e-7)


def test_inverse_of_forward_is_identity():
    flow = random_flow(2).float()
    z = torch.randn(1000, 2)
    x, log_det = flow(z)
    z_back, inv_log_det = flow.inverse(x)
    assert torch.allclose(z_back, z, atol=1e-5)
    assert torch.allclose(log_det, -inv_log_det, atol=1e-5)


@pytest.mark.parametrize("dim,n", [(2, 600), (3, 100)])
def test_flow_density_integrates_to_one(dim, n):
    flow = random_flow(dim)
    samples = flow.sample(20000)
    lo, hi = samples.min(0).values - 3, samples.max(0).values + 3  # the grid covers all the mass
    xs = [torch.linspace(lo[d].item(), hi[d].item(), n, dtype=torch.float64) for d in range(dim)]
    grid = torch.cartesian_prod(*xs)
    with torch.no_grad():
        p = flow.log_prob(grid).exp().reshape([n] * dim)
    for d in reversed(range(dim)):
        p = torch.trapezoid(p, xs[d], dim=d)
    assert p.item() == pytest.approx(1.0, abs=0.01)


def test_sample_follows_log_prob():
    # the mean of samples equals the mean under exp(log_prob) computed on a grid
    flow = random_flow(2)
    samples = flow.sample(200000, generator=torch.Generator().manual_seed(0))
    xs = torch.linspace(-15, 15, 500, dtype=torch.float64)
    grid = torch.cartesian_prod(xs, xs)
    with torch.no_grad():
        p = flow.log_prob(grid).exp()
    mean = (p[:, None] * grid).sum(0) / p.sum()
    assert torch.allclose(samples.mean(0), mean, atol=0.02)


TABLE_11 = {(3, 64): 53.8, (3, 128): 205.8, (3, 256): 804.8, (5, 32): 40.0, (5, 64): 153.6}
EXACT = {(3, 64): 53_784, (3, 128): 205_848, (3, 256): 804_888, (5, 32): 39_960, (5, 64): 153_624}


@pytest.mark.parametrize("size", TABLE_11)
def test_parameter_counts_match_table_11(size):
    n_fc, n_neurons = size
    count = count_parameters(RealNVP(2, n_couplings=6, n_fc=n_fc, n_neurons=n_neurons))
    assert count == EXACT[size]
    # Table 11 prints thousands with one decimal; 804,888 is printed as 804.8K (truncated, not rounded)
    assert abs(count / 1000 - TABLE_11[size]) < 0.1


def test_realnvp_rejects_one_dimension():
    with pytest.raises(ValueError, match="Monotone1D"):
        RealNVP(1)


def test_monotone1d_density_derivative_and_inverse():
    torch.manual_seed(0)
    flow = Monotone1D().double()
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    x = torch.linspace(-8, 8, 101, dtype=torch.float64)[:, None].requires_grad_()
    z, log_det = flow.inverse(x)
    dz = torch.autograd.grad(z.sum(), x)[0][:, 0]
    assert torch.allclose(log_det, dz.log(), atol=1e-10)
    with torch.no_grad():
        assert torch.allclose(flow(z)[0], x, atol=1e-6)
        grid = torch.linspace(-400, 400, 400001, dtype=torch.float64)[:, None]
        assert torch.trapezoid(flow.log_prob(grid).exp(), grid[:, 0]).item() == pytest.approx(1.0, abs=0.01)
