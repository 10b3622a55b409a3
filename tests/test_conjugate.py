"""Conjugate Bayesian linear regression pins SVI against the exact posterior."""

import pytest
import torch
from conftest import conjugate_model, loader_of

import bayesnet as bn
from bayesnet.infer import elbo_terms, make_guide


def _fit(c, guide, batch, epochs):
    model = conjugate_model(c)
    loader = loader_of(c["x"], c["y"], batch)
    family = {"full_rank": bn.infer.FullRank, "mean_field": bn.infer.MeanField}[guide]
    post = bn.fit_svi(
        model,
        loader,
        epochs=epochs,
        guide=family(init_scale=0.1),
        init="point_estimate",  # exact Bayes: no warm start, no tempering
        temperature=1.0,
        lr=5e-2,
        lr_decay=0.01,
        progress=False,
        seed=0,
    )
    draws = post.sample_params(20000)["weight"].reshape(20000, -1)
    return draws.mean(0), torch.cov(draws.T)


@pytest.mark.slow
def test_full_rank_recovers_exact_mean_and_covariance(conjugate):
    mean, cov = _fit(conjugate, "full_rank", batch=40, epochs=1000)
    sd = conjugate["cov"].diag().sqrt()
    assert ((mean - conjugate["mean"]).abs() / sd).max() < 0.15
    assert torch.allclose(cov, conjugate["cov"], rtol=0.2, atol=0.1 * conjugate["cov"].diag().min())


def test_mean_field_recovers_mean_and_mean_field_variances(conjugate):
    mean, cov = _fit(conjugate, "mean_field", batch=40, epochs=1000)
    sd = conjugate["cov"].diag().sqrt()
    assert ((mean - conjugate["mean"]).abs() / sd).max() < 0.15
    # The mean-field optimum is 1 / diag(precision), smaller than the true marginals.
    expected = 1 / conjugate["precision"].diag()
    assert torch.allclose(cov.diag(), expected, rtol=0.15)
    assert (expected < conjugate["cov"].diag()).all()


def test_minibatch_training_agrees_with_full_batch(conjugate):
    full_mean, full_cov = _fit(conjugate, "mean_field", batch=40, epochs=1000)
    mini_mean, mini_cov = _fit(conjugate, "mean_field", batch=10, epochs=250)
    sd = conjugate["cov"].diag().sqrt()
    assert ((mini_mean - full_mean).abs() / sd).max() < 0.25
    # Wrong N/B scaling would move the variances by a factor of 4.
    assert torch.allclose(mini_cov.diag(), full_cov.diag(), rtol=0.25)


def test_minibatch_data_term_is_unbiased_exactly(conjugate):
    """Averaged over a partition into minibatches, the scaled data term is the full one."""
    model = conjugate_model(conjugate)
    guide = make_guide(model, "delta")
    x, y = conjugate["x"], conjugate["y"]
    guide(x, y)
    full = elbo_terms(model, guide, x, y)
    parts = [
        elbo_terms(model, guide, xb, yb) for xb, yb in zip(x.split(8), y.split(8), strict=True)
    ]
    mean_data = torch.stack([p.data for p in parts]).mean()
    assert torch.allclose(mean_data, full.data, rtol=1e-5)
    # The prior term is counted once per minibatch, never scaled by N/B.
    assert torch.allclose(torch.stack([p.kl for p in parts]), full.kl.expand(5), rtol=1e-5)
