"""Toy worlds against their closed forms, and the trainer against the paper's claims in small."""
import math

import numpy as np
import pytest
import torch
from torch import distributions as D

from rlelab.toys import LAWS, World, fit, keypoint_ap, load_fit, noise_law, save_fit


@pytest.mark.parametrize("law", ["gaussian", "laplace", "student_t", "bimodal", "skewed_t", "gumbel", "flat"])
def test_1d_noise_laws_integrate_to_one_with_mean_zero(law):
    x = torch.linspace(-400, 400, 800001, dtype=torch.float64)[:, None]
    p = noise_law(law, 1).log_prob(x.float()).double().exp()
    assert torch.trapezoid(p, x[:, 0]).item() == pytest.approx(1.0, abs=2e-3)
    assert torch.trapezoid(p * x[:, 0], x[:, 0]).item() == pytest.approx(0.0, abs=2e-3)


@pytest.mark.parametrize("law, variance", [("gumbel", math.pi**2 / 6), ("flat", 1.0)])
def test_new_laws_have_their_closed_form_variance_and_sample_it(law, variance):
    # the density's variance by quadrature, then 100,000 draws: mean and variance within 5 standard errors
    # (the variance's standard error from the fourth moment, sqrt((m4 - var^2) / n))
    x = torch.linspace(-60, 60, 1_200_001, dtype=torch.float64)[:, None]
    p = noise_law(law, 1).log_prob(x.float()).double().exp()
    assert torch.trapezoid(p * x[:, 0] ** 2, x[:, 0]).item() == pytest.approx(variance, abs=2e-3)
    m4 = torch.trapezoid(p * x[:, 0] ** 4, x[:, 0]).item()
    torch.manual_seed(0)
    draws = noise_law(law, 1).sample((100_000,)).double()[:, 0]
    assert abs(draws.mean().item()) < 5 * math.sqrt(variance / 1e5)
    assert abs(draws.var().item() - variance) < 5 * math.sqrt((m4 - variance**2) / 1e5)


@pytest.mark.float_sensitive
@pytest.mark.parametrize("q, where", [("laplace", "median"), ("gaussian", "mean")])
def test_under_eq8_mu_hat_sits_at_q_s_location_not_at_the_mode(q, where):
    """Without log s, -log Q(bar_mu) alone sets mu_hat: the -log G_phi term's gradient in mu_hat is the mean of
    G_phi's score, 0 once G_phi fits bar_mu's law. A Laplace Q's minimizer is bar_mu's median, a Gaussian Q's its
    mean. On the Gumbel world (mean 0, median -0.211, mode -0.577 in units of s) measured: -0.194 and -0.008.
    The tolerance, 0.07, is a third of the distance from the median to the mean, the nearest other place."""
    from rlelab.toys import EULER_GAMMA

    places = {"mean": 0.0, "median": -EULER_GAMMA - math.log(math.log(2)), "mode": -EULER_GAMMA}
    result = fit(law="gumbel", loss="rle", q=q, with_log_s=False, steps=1500, seed=0)
    x = torch.linspace(-1, 1, 201)[:, None]
    with torch.no_grad():
        offset = ((result.model(x)[0] - result.world.f(x)) / result.world.s(x)).median().item()
    assert abs(offset - places[where]) < 0.07, (offset, places)
    assert min(places, key=lambda p: abs(places[p] - offset)) == where


@pytest.mark.float_sensitive
@pytest.mark.parametrize("loss, with_log_s", [("rle", True), ("rle", False), ("dle", False)])
def test_mu_star_is_the_mean_of_the_learned_law(loss, with_log_s):
    # Fit.predict's mu* against the mean of p_hat(y | x) integrated on a fine y grid at a few inputs: they agree to
    # the grids' resolution (both are Riemann sums, cells of 1e-3 sigma_hat and finer), and mu_hat alone does not
    result = fit(law="gumbel", loss=loss, with_log_s=with_log_s, steps=300, seed=0)
    x = torch.tensor([[-0.5], [0.0], [0.7]])
    mu_hat, mu_star = result.predict(x)
    sigma_hat = result.model(x)[1].detach()
    for i in range(len(x)):
        y = mu_hat[i, 0] + sigma_hat[i, 0] * torch.linspace(-40, 40, 80001)[:, None]
        p = result.log_prob(x[i:i + 1].expand(len(y), 1), y).exp()
        mean = torch.trapezoid(p * y[:, 0], y[:, 0]) / torch.trapezoid(p, y[:, 0])
        assert mean.item() == pytest.approx(mu_star[i, 0].item(), abs=2e-3 * sigma_hat[i, 0].item())
    assert (mu_star - mu_hat).abs().max() > 0.05 * sigma_hat.min()  # the learned law is skewed: the two differ


def coco_ap_by_hand(oks, score):
    """COCO's AP for one ground truth per image: rank by score (ties in input order), TP at OKS >= t,
    precision made monotone, read at 101 recall points, averaged over t = 0.50:0.05:0.95."""
    order = np.argsort(-score, kind="mergesort")
    hits = oks[order]
    n = len(hits)
    aps = []
    for t in np.linspace(0.5, 0.95, 10):
        tp = np.cumsum(hits >= t)
        precision = np.maximum.accumulate((tp / np.arange(1, n + 1))[::-1])[::-1]
        idx = np.searchsorted(tp / n, np.linspace(0, 1, 101), side="left")
        aps.append(np.where(idx < n, precision[np.minimum(idx, n - 1)], 0).mean())
    return float(np.mean(aps))


@pytest.mark.parametrize("dim", [1, 2])
def test_keypoint_ap_is_cocos_ap_of_a_gaussian_oks_with_tolerance_tau(dim):
    g = torch.Generator().manual_seed(dim)
    y = torch.randn(400, dim, generator=g)
    mu_hat = y + 0.15 * torch.randn(400, dim, generator=g)
    for score, tau in [(torch.rand(400, generator=g), 0.15), (torch.ones(400), 0.25)]:
        oks = np.exp(-((y - mu_hat) ** 2).sum(1).numpy() / (2 * tau**2))
        assert keypoint_ap(y, mu_hat, score, tau)["AP"] == pytest.approx(coco_ap_by_hand(oks, score.numpy()), abs=1e-9)
    assert keypoint_ap(y, y, torch.rand(400, generator=g))["AP"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="one shape"):
        keypoint_ap(y, mu_hat[:10], torch.ones(400))
    with pytest.raises(ValueError, match="tau must be positive"):
        keypoint_ap(y, mu_hat, torch.ones(400), tau=0)


@pytest.mark.float_sensitive
def test_learned_sigma_ranks_people_better_than_equal_scores():
    result = fit(law="skewed_t", loss="laplace", steps=400, n_train=2048)
    assert result.keypoint_ap(n=1500)["AP"] > result.keypoint_ap(n=1500, ranked=False)["AP"] + 0.05


def test_correlated_law_density_and_correlation():
    law = noise_law("correlated", 2)
    xs = torch.linspace(-12, 12, 801)
    p = law.log_prob(torch.cartesian_prod(xs, xs)).exp().reshape(801, 801)
    assert torch.trapezoid(torch.trapezoid(p, xs, dim=1), xs).item() == pytest.approx(1.0, abs=5e-3)
    torch.manual_seed(0)
    eps = law.sample((200000,))
    assert torch.corrcoef(eps.T)[0, 1].item() == pytest.approx(0.8, abs=0.01)


def test_world_log_prob_is_the_true_conditional_density():
    world = World("gaussian", 2)
    x, y = world.sample(1000, seed=3)
    expected = D.Normal(world.f(x), world.s(x)).log_prob(y).sum(-1)
    assert torch.allclose(world.log_prob(x, y), expected, atol=1e-4)
    x2, y2 = world.sample(1000, seed=3)
    assert torch.equal(y, y2)  # seeded


def test_bad_world_is_one_clear_sentence():
    with pytest.raises(ValueError, match="unknown law 'cauchy'"):
        World("cauchy")
    with pytest.raises(ValueError, match="'correlated' law is 2-D"):
        World("correlated", 1)
    with pytest.raises(ValueError, match="unknown loss"):
        fit(loss="huber", steps=1)


@pytest.mark.float_sensitive
def test_oracle_with_true_law_has_near_zero_kl():
    result = fit(law="laplace", loss="oracle", steps=600, n_train=2048)
    assert 0 <= result.evaluate(n=50000)["kl"] < 0.01


def test_l2_fit_implies_gaussian_with_its_mle_sigma():
    result = fit(law="gaussian", loss="l2", steps=600, n_train=2048)
    x, y = result.world.sample(2048, seed=0)
    r = y - result.model(x)[0].detach()
    assert torch.allclose(result.const_sigma, r.pow(2).mean(0).sqrt())
    lp = result.log_prob(x, y)
    expected = D.Normal(result.model(x)[0].detach(), result.const_sigma).log_prob(y).sum(-1)
    assert torch.allclose(lp, expected, atol=1e-5)


@pytest.mark.float_sensitive
def test_rle_learns_student_t_better_than_gaussian_and_laplace():
    """The paper's Fig. 4 claim in small: the learned density beats both fixed families on a heavy-tailed law."""
    kl = {loss: fit(law="student_t", loss=loss, steps=2000, seed=0).evaluate(n=100000)["kl"]
          for loss in ("rle", "gaussian", "laplace")}
    assert kl["rle"] < kl["laplace"] < kl["gaussian"], kl


def test_rle_density_is_normalized_and_history_recorded(tmp_path):
    result = fit(law="bimodal", loss="rle", steps=200)
    bar = torch.linspace(-60, 60, 24001)[:, None]
    assert torch.trapezoid(result.noise_density(bar), bar[:, 0]).item() == pytest.approx(1.0, abs=1e-3)
    assert [h["step"] for h in result.history] == list(range(10, 201, 10))
    assert all(math.isfinite(h["kl"]) and math.isfinite(h["rmse"]) for h in result.history)
    path = tmp_path / "fit.pt"
    save_fit(result, path)
    loaded = load_fit(path)
    assert loaded.evaluate(n=2000) == result.evaluate(n=2000)
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a toy fit written by rlelab"):
        load_fit(bad)


def test_every_law_and_loss_runs_in_its_dimension():
    for law in LAWS:
        dim = 2 if law == "correlated" else 1
        for loss in ("l1", "flow", "dle"):
            out = fit(law=law, dim=dim, loss=loss, steps=5, n_eval=256)
            assert math.isfinite(out.history[-1]["loss"])


def test_outliers_make_that_share_of_the_training_labels_wrong():
    """20 % of labels drawn as f(x) + U(-3, 3) (variance 3) lift the training residuals' rms from about
    rms s(x) = 0.24 to about sqrt(0.8 * 0.058 + 0.2 * 3) = 0.80: L2's MLE sigma more than doubles."""
    clean, wrong = (fit(law="gaussian", loss="l2", steps=300, n_train=2048, outliers=p).const_sigma for p in (0, 0.2))
    assert (wrong > 2 * clean).all()
    with pytest.raises(ValueError, match="outliers is a share of the training labels"):
        fit(outliers=1.0, steps=1)
