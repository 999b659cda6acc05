"""Standardized densities Q and the location-scale negative log-likelihood (Eq. 2).

Everything here works per element: a tensor of standardized residuals bar_mu of
any shape gives log-densities of the same shape. Sum over the last axis for the
density of a D-dimensional vector with independent coordinates.
"""
import math

import torch

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
LOG_2 = math.log(2.0)


def log_q_gaussian(bar_mu):
    """log N(bar_mu; 0, 1) per element: the Gaussian Q of Eq. 6-8."""
    return -0.5 * bar_mu**2 - LOG_SQRT_2PI


def log_q_laplace(bar_mu):
    """log Laplace(bar_mu; 0, 1) = -log 2 - |bar_mu| per element: the paper's default Q (section 3.3).

    Unit scale b = 1, so sigma_hat is the mean absolute deviation of the residual.
    """
    return -bar_mu.abs() - LOG_2


LOG_Q = {"gaussian": log_q_gaussian, "laplace": log_q_laplace}
Q_STD = {"gaussian": 1.0, "laplace": math.sqrt(2)}  # the std of each unit Q
Q_ABS_MEAN = {"gaussian": math.sqrt(2 / math.pi), "laplace": 1.0}  # E|bar_mu| under each unit Q


def deviation(mu_hat, sigma_hat, target):
    """(bar_mu, log sigma): the deviation bar_mu = (mu_g - mu_hat) / sigma_hat of a label from its prediction
    (Fig. 2c) and sum_d log sigma_hat_d, so that log P(mu_g) = log P_phi(bar_mu) - log sigma (Eq. 5)."""
    return (target - mu_hat) / sigma_hat, torch.log(sigma_hat).sum(-1)


def location_scale_nll(log_q, mu_hat, sigma_hat, target):
    """-log P(target) for P(x) = Q((x - mu_hat) / sigma_hat) / sigma_hat, per element (Eq. 2).

    With log_q = log_q_gaussian this is log sigma_hat + (target - mu_hat)^2 / (2 sigma_hat^2)
    + log sqrt(2 pi), Eq. 2 with its constant; with log_q_laplace, log(2 sigma_hat) + |r| / sigma_hat.
    """
    bar_mu = (target - mu_hat) / sigma_hat
    return -log_q(bar_mu) + torch.log(sigma_hat)


def location_scale_nll_joint(log_p, mu_hat, sigma_hat, target):
    """The same for a joint log-density log_p over the last axis: -log_p(bar_mu) + sum_d log sigma_hat_d."""
    bar_mu, log_sigma = deviation(mu_hat, sigma_hat, target)
    return -log_p(bar_mu) + log_sigma


def gaussian_nll(mu_hat, sigma_hat, target):
    """Gaussian NLL with learnable sigma, per element (Eq. 2)."""
    return location_scale_nll(log_q_gaussian, mu_hat, sigma_hat, target)


def laplace_nll(mu_hat, sigma_hat, target):
    """Laplace NLL with learnable sigma (scale b = sigma_hat), per element."""
    return location_scale_nll(log_q_laplace, mu_hat, sigma_hat, target)
