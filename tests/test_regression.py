"""Regression with aleatoric and epistemic uncertainty: the split is the law of total
variance, exact on a conjugate model; the scores match their closed forms; calibrated
draws give uniform PIT; conformal intervals keep their guarantee; a heteroscedastic
network recovers an input-dependent noise, and saves and loads."""

import math

import numpy as np
import pytest
import torch
from conftest import conjugate_model
from torch import nn

import bayesnet as bn
from bayesnet.evaluate import regression as reg


def test_the_split_is_the_law_of_total_variance_by_hand():
    # a mixture of three draws for one input: means 1, 2, 4 and variances 0.5, 1, 1.5
    means = torch.tensor([1.0, 2.0, 4.0]).reshape(3, 1, 1)
    variances = torch.tensor([0.5, 1.0, 1.5]).reshape(3, 1, 1)
    split = reg.decompose(means, variances)
    assert split["mean"].item() == pytest.approx(7 / 3)
    assert split["aleatoric"].item() == pytest.approx(1.0)
    epistemic = ((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 3
    assert split["epistemic"].item() == pytest.approx(epistemic)
    # the total is the mixture's variance: E[y^2] - E[y]^2 over its components
    second = sum(v + m**2 for m, v in ((1, 0.5), (2, 1.0), (4, 1.5))) / 3
    assert split["total"].item() == pytest.approx(second - (7 / 3) ** 2)


def test_on_a_conjugate_regression_the_parts_are_the_noise_and_the_exact_variance(conjugate):
    """Exact posterior draws of Bayesian linear regression with known noise: the aleatoric
    part is the noise variance, the epistemic part x^T Sigma x, the closed form."""
    c = conjugate
    g = torch.Generator().manual_seed(0)
    chol = torch.linalg.cholesky(c["cov"])
    weights = c["mean"] + torch.randn(20000, 3, generator=g) @ chol.T
    model = conjugate_model(c)
    post = bn.Posterior(model, bn.posterior.DrawsSampler({"weight": weights[:, None, :]}))
    x = torch.randn(5, 3, generator=g)
    means, variances = post.predict_moments(x, num_samples=None)
    split = reg.decompose(means, variances)
    torch.testing.assert_close(split["aleatoric"], torch.full((5, 1), c["sigma"] ** 2))
    exact = ((x @ c["cov"]) * x).sum(1, keepdim=True)
    torch.testing.assert_close(split["epistemic"], exact, rtol=0.05, atol=1e-4)


def test_crps_of_one_gaussian_is_its_closed_form():
    """CRPS(N(mu, s^2), y) = s (z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi)), z = (y - mu)/s
    (Gneiting & Raftery 2007); a mixture of equal components is the component."""
    mu, s, y = 0.3, 1.7, 1.2
    z = (y - mu) / s
    phi = math.exp(-(z**2) / 2) / math.sqrt(2 * math.pi)
    big_phi = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    exact = s * (z * (2 * big_phi - 1) + 2 * phi - 1 / math.sqrt(math.pi))
    means, variances = torch.full((1, 1, 1), mu), torch.full((1, 1, 1), s**2)
    assert reg.crps(means, variances, torch.full((1, 1), y)) == pytest.approx(exact, rel=1e-5)
    same = reg.crps(means.expand(4, 1, 1), variances.expand(4, 1, 1), torch.full((1, 1), y))
    assert same == pytest.approx(exact, rel=1e-5)
    # and of a mixture, against a Monte Carlo estimate of E|X - y| - E|X - X'| / 2
    g = torch.Generator().manual_seed(0)
    m, v = torch.tensor([-1.0, 2.0]).reshape(2, 1, 1), torch.tensor([0.5, 2.0]).reshape(2, 1, 1)
    pick = torch.randint(2, (400000,), generator=g)
    draws = m.flatten()[pick] + v.flatten()[pick].sqrt() * torch.randn(400000, generator=g)
    other = draws.roll(1)
    mc = (draws - 0.4).abs().mean() - 0.5 * (draws - other).abs().mean()
    assert reg.crps(m, v, torch.full((1, 1), 0.4)) == pytest.approx(mc.item(), abs=0.01)


def test_pit_of_calibrated_draws_is_uniform_and_miscalibration_shows():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(1, 4000, 1, generator=g)
    var = torch.rand(1, 4000, 1, generator=g) + 0.5
    y = mu[0] + var[0].sqrt() * torch.randn(4000, 1, generator=g)
    values = reg.pit(mu, var, y)
    counts = torch.histc(values, bins=10, min=0, max=1)
    assert ((counts - 400).abs() < 4 * math.sqrt(400)).all()  # within 4 sd of uniform
    assert reg.calibration_error(values) < 1e-3
    overconfident = reg.pit(mu, var / 4, y)
    assert reg.calibration_error(overconfident) > 10 * reg.calibration_error(values)
    low, high = reg.intervals(mu, var, 0.9)
    covered, width = reg.coverage(low, high, y)
    assert covered == pytest.approx(0.9, abs=0.015)
    assert width == pytest.approx((2 * 1.6449 * var.sqrt()).mean().item(), rel=1e-3)


@pytest.mark.parametrize("score", ["residual", pytest.param("cqr", marks=pytest.mark.slow)])
def test_split_conformal_intervals_cover_within_their_finite_sample_bounds(score):
    """Over exchangeable splits, coverage is at least 1 - alpha and at most
    1 - alpha + 1 / (n + 1), whatever the (here wrong: overconfident) predictive."""
    alpha, n, trials = 0.1, 99, 300
    covered = []
    for t in range(trials):
        g = torch.Generator().manual_seed(t)
        mu = torch.randn(2, n + 200, 1, generator=g)
        var = torch.full_like(mu, 0.1)
        y = mu.mean(0) + 2.0 * torch.randn(n + 200, 1, generator=g)
        fitted = reg.ConformalIntervals.fit(mu[:, :n], var[:, :n], y[:n], alpha, score)
        low, high = fitted.intervals(mu[:, n:], var[:, n:])
        covered.append(reg.coverage(low, high, y[n:])[0])
    mean, error = np.mean(covered), 3 * np.std(covered) / np.sqrt(trials)
    assert 1 - alpha - error <= mean <= 1 - alpha + 1 / (n + 1) + error


def _noisy(n=800, seed=0):
    """y = sin(3x) + noise whose standard deviation grows with |x| (0.05 to 0.55)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, generator=g) * 2 - 1
    sd = 0.05 + 0.5 * x.abs()
    return x, torch.sin(3 * x) + sd * torch.randn(n, 1, generator=g), sd


def _mlp(outputs: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, outputs)
    )


@pytest.mark.parametrize(
    "fit",
    [
        lambda net, data: bn.baselines.point_estimate(
            net, data, epochs=150, lr=5e-3, task="heteroscedastic", progress=False, seed=0
        ),
        lambda net, data: bn.fit(
            net, data, epochs=150, lr=5e-3, task="heteroscedastic", progress=False, seed=0
        ),
    ],
    ids=["point_estimate", "bn.fit"],
)
def test_a_heteroscedastic_network_recovers_the_noise_and_saves(fit, tmp_path):
    x, y, sd = _noisy()
    post = fit(_mlp(2), (x, y))
    grid = torch.linspace(-0.9, 0.9, 19)[:, None]
    means, variances = post.predict_moments(grid, num_samples=20)
    split = reg.decompose(means, variances)
    truth = 0.05 + 0.5 * grid.abs()
    # the fitted noise within 25% of the truth across the range (0.05 to 0.5)
    assert ((split["aleatoric"].sqrt() / truth - 1).abs() < 0.25).double().mean() > 0.8
    torch.testing.assert_close(split["mean"], torch.sin(3 * grid), atol=0.15, rtol=0)
    post.save(tmp_path / "post.pt")
    model = bn.Regressor(_mlp(2), len(x), likelihood="heteroscedastic")
    loaded = bn.Posterior.load(tmp_path / "post.pt", model)
    torch.manual_seed(3)
    expected = post.predict_moments(grid, num_samples=5)
    torch.manual_seed(3)
    for a, b in zip(loaded.predict_moments(grid, num_samples=5), expected, strict=True):
        torch.testing.assert_close(a, b)


def test_likelihoods_say_what_they_need():
    with pytest.raises(ValueError, match="unknown likelihood 'poisson'"):
        bn.Regressor(nn.Linear(1, 1), 10, likelihood="poisson")
    with pytest.raises(ValueError, match="df > 2"):
        bn.Regressor(nn.Linear(1, 1), 10, likelihood="student_t", df=2.0)
    model = bn.Regressor(nn.Linear(1, 1), 10, likelihood="heteroscedastic")
    with pytest.raises(ValueError, match=r"a mean and a scale per target \(\[B, 2 D\]\)"):
        model.check_output(torch.zeros(4, 1), None)
    t = bn.Regressor(nn.Linear(1, 1), 10, noise=2.0, likelihood="student_t", df=5.0)
    mean, variance = t.moments(torch.zeros(3, 1))
    torch.testing.assert_close(variance, torch.full((3, 1), 4.0 * 5 / 3))
    het_t = bn.Regressor(nn.Linear(1, 2), 10, likelihood="heteroscedastic_t", df=5.0)
    raw = torch.tensor([[0.5, -1.0], [2.0, 0.3]])
    mean, variance = het_t.moments(raw)
    scale2 = torch.nn.functional.softplus(raw[:, 1:]).square() + 1e-6
    torch.testing.assert_close(mean, raw[:, :1])
    torch.testing.assert_close(variance, scale2 * 5 / 3)
    with pytest.raises(ValueError, match="df > 2"):
        bn.Regressor(nn.Linear(1, 2), 10, likelihood="heteroscedastic_t", df=1.5)
    with pytest.raises(ValueError, match="regressor's"):
        bn.Posterior(
            bn.Classifier(nn.Linear(1, 2), 4), bn.posterior.DrawsSampler({})
        ).predict_moments(torch.zeros(2, 1))


def _pyro_model(likelihood="heteroscedastic"):
    outputs = 2 if likelihood in bn.Regressor.INPUT_SCALED else 1
    net = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, outputs))
    torch.manual_seed(0)
    return bn.Regressor(
        bn.bayesianize(net, stochastic="all"), 200, likelihood=likelihood, noise=0.3
    )


@pytest.mark.parametrize(
    "fit",
    [
        lambda data: bn.fit_svi(_pyro_model(), data, epochs=30, progress=False, seed=0),
        lambda data: bn.fit_svi(_pyro_model("student_t"), data, epochs=30, progress=False, seed=0),
        lambda data: bn.fit_sgmcmc(_pyro_model(), data, epochs=8, cycles=2, progress=False, seed=0),
        pytest.param(
            lambda data: bn.fit_hmc(
                _pyro_model(),
                data,
                num_samples=20,
                warmup=100,
                max_tree_depth=5,
                progress=False,
                seed=0,
            ),
            marks=pytest.mark.slow,
        ),
        lambda data: bn.fit_ivon(
            _mlp(2), data, epochs=30, lr=0.05, task="heteroscedastic", progress=False, seed=0
        ),
        lambda data: bn.baselines.mc_dropout(
            _mlp(2), data, epochs=30, lr=5e-3, task="heteroscedastic", progress=False, seed=0
        ),
        lambda data: bn.baselines.deep_ensemble(
            _mlp(2), data, members=2, epochs=30, lr=5e-3, task="heteroscedastic", progress=False
        ),
        lambda data: bn.fit_svi(
            _pyro_model("heteroscedastic_t"), data, epochs=30, progress=False, seed=0
        ),
        lambda data: bn.fit_ivon(
            _mlp(2), data, epochs=30, lr=0.05, task="heteroscedastic_t", progress=False, seed=0
        ),
        lambda data: bn.baselines.mc_dropout(
            _mlp(2), data, epochs=30, lr=5e-3, task="heteroscedastic_t", progress=False, seed=0
        ),
    ],
    ids=[
        "svi",
        "svi student_t",
        "sgmcmc",
        "hmc",
        "ivon",
        "mc_dropout",
        "deep_ensemble",
        "svi heteroscedastic_t",
        "ivon heteroscedastic_t",
        "mc_dropout heteroscedastic_t",
    ],
)
def test_every_engine_fits_and_predicts_a_regression_likelihood(fit):
    x, y, _ = _noisy(200)
    post = fit((x, y))
    means, variances = post.predict_moments(x[:10], num_samples=6)
    assert means.shape[1:] == (10, 1) == variances.shape[1:] and (variances > 0).all()
    assert reg.rmse(means, y[:10]) < 0.8  # it learned the function, roughly


@pytest.mark.parametrize("fit", [bn.baselines.point_estimate, bn.fit], ids=["point", "bn.fit"])
def test_a_heteroscedastic_student_t_keeps_the_mean_on_the_function_under_outliers(fit):
    """Noise with heavy tails (Student-t, 1.5 degrees of freedom: outliers): the Student-t
    likelihood's mean stays nearer the function than the Gaussian one's, which the
    outliers pull (measured: 0.06-0.09 against 0.11-0.12 mean absolute error)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1000, 1, generator=g) * 2 - 1
    torch.manual_seed(0)
    y = torch.sin(3 * x) + 0.1 * torch.distributions.StudentT(1.5).sample((1000, 1))
    grid = torch.linspace(-0.9, 0.9, 19)[:, None]
    error = {}
    for task in ("heteroscedastic", "heteroscedastic_t"):
        post = fit(_mlp(2), (x, y), epochs=60, lr=5e-3, task=task, progress=False, seed=0)
        means, _ = post.predict_moments(grid, num_samples=10)
        error[task] = (means.mean(0) - torch.sin(3 * grid)).abs().mean().item()
    assert error["heteroscedastic_t"] < 0.8 * error["heteroscedastic"]
