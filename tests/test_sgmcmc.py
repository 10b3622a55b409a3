"""Stochastic-gradient MCMC: the exact conjugate posterior, minibatch scaling, the cyclical
schedule, checkpoints and resume, save/load and ArviZ export."""

import math
import warnings

import arviz as az
import numpy as np
import pytest
import torch
from conftest import conjugate_model, loader_of
from torch import nn

import bayesnet as bn
from bayesnet.infer.mcmc.logjoint import LogJoint


def within_monte_carlo_error(c, post, chains=1):
    """Posterior mean and variances within 4 Monte Carlo standard errors (from the ESS)."""
    draws = post.sample_params(None)["weight"].reshape(chains, -1, 3).numpy()
    ess = az.ess(az.convert_to_dataset(draws))["x"].values
    flat = draws.reshape(-1, 3)
    sd, var = c["cov"].diag().sqrt().numpy(), c["cov"].diag().numpy()
    assert (np.abs(flat.mean(0) - c["mean"].numpy()) < 4 * sd / np.sqrt(ess)).all()
    assert (np.abs(flat.var(0) - var) < 4 * var * np.sqrt(2 / ess)).all()
    return ess


@pytest.mark.parametrize(("method", "lr"), [("sgld", 2e-2), ("sghmc", 2e-2)])
def test_full_batch_constant_step_reproduces_the_conjugate_posterior(conjugate, method, lr):
    c = conjugate
    post = bn.fit_sgmcmc(
        conjugate_model(c),
        loader_of(c["x"], c["y"], len(c["x"])),
        method=method,
        schedule="constant",
        epochs=2500,
        lr=lr,
        burn_in=100,
        thin=1,
        progress=False,
        seed=0,
    )
    assert post.info["schedule"] == "constant" and post.sampler.num_draws == 2400
    ess = within_monte_carlo_error(c, post)
    assert ess.min() > 50  # enough draws for the bounds to bite


@pytest.mark.slow  # 9 s
def test_minibatch_log_posterior_is_unbiased_and_samples_the_posterior(conjugate):
    c = conjugate
    model = conjugate_model(c)
    joint = LogJoint(model)
    params = {"weight": torch.randn(1, 3, requires_grad=True)}
    full = joint(params, c["x"], c["y"])
    (g_full,) = torch.autograd.grad(full, params["weight"])
    parts = [
        joint(params, xb, yb, 40 / 10)
        for xb, yb in zip(c["x"].split(10), c["y"].split(10), strict=True)
    ]
    mean = torch.stack(parts).mean()
    (g_mean,) = torch.autograd.grad(mean, params["weight"])
    # the num_data / batch scale: the mean of the four batch estimates is the full one
    assert torch.allclose(mean, full, rtol=1e-5) and torch.allclose(g_mean, g_full, rtol=1e-5)
    post = bn.fit_sgmcmc(
        model,
        loader_of(c["x"], c["y"], 10),
        schedule="constant",
        epochs=1500,
        lr=5e-3,
        burn_in=50,
        thin=1,
        progress=False,
        seed=0,
    )
    within_monte_carlo_error(c, post)


def test_cyclical_step_size_is_zhang_et_als_cosine():
    assert bn.infer.cyclical_lr(0.4, 0, 10) == pytest.approx(0.4)
    assert bn.infer.cyclical_lr(0.4, 5, 10) == pytest.approx(0.2)
    assert bn.infer.cyclical_lr(0.4, 10, 10) == pytest.approx(0.4)  # the next cycle
    assert bn.infer.cyclical_lr(0.4, 9, 10) == pytest.approx(0.2 * (math.cos(0.9 * math.pi) + 1))


def small_classifier(n):
    net = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
    )
    return bn.Classifier(bn.bayesianize(net), num_data=n)


def test_cyclical_sghmc_learns_the_digits_and_keeps_draws_in_each_cycle(digits):
    train, test = digits
    x, y = train.tensors[0][:500], train.tensors[1][:500]
    loader = loader_of(x, y, 50)
    post = bn.fit_sgmcmc(
        small_classifier(500),
        loader,
        epochs=12,
        cycles=3,
        exploration=0.5,
        thin=10,
        progress=False,
        seed=0,
    )
    # 4 epochs of 10 steps per cycle, the last 2 sampling, a draw at the end of each
    assert post.sampler.chains == 3 and post.info["draws_per_chain"] == 2
    assert [e for chain in post.sampler.stats["epoch"] for e in chain] == [3, 4, 7, 8, 11, 12]
    sizes = post.sampler.stats["step_size"]
    assert all(s < 0.1 / 2 for chain in sizes for s in chain)  # the small-step half
    probs = post.predict(test.tensors[0])
    assert bn.evaluate.metrics.accuracy(probs, test.tensors[1]) > 0.9
    members = probs.argmax(-1)  # draws from different cycles disagree somewhere
    assert (members[0] != members[-1]).any()


def test_checkpoint_resume_continues_the_same_run(digits, tmp_path):
    train, _ = digits
    x, y = train.tensors[0][:200], train.tensors[1][:200]
    options = dict(epochs=6, cycles=2, exploration=0.5, thin=2, progress=False)
    torch.manual_seed(0)
    whole = bn.fit_sgmcmc(small_classifier(200), loader_of(x, y, 50), seed=0, **options)
    torch.manual_seed(0)
    first = small_classifier(200)  # the same starting network
    stop = [lambda epoch, stats, draws: epoch == 4]
    part = bn.fit_sgmcmc(
        first,
        loader_of(x, y, 50),
        run=bn.Run(seed=0, checkpoint_dir=tmp_path, callbacks=stop),
        **options,
    )
    assert part.info["history"][-1]["epoch"] == 4
    with pytest.raises(FileExistsError, match="resume=True"):
        bn.fit_sgmcmc(first, loader_of(x, y, 50), run=bn.Run(checkpoint_dir=tmp_path), **options)
    resumed = bn.fit_sgmcmc(
        first, loader_of(x, y, 50), run=bn.Run(checkpoint_dir=tmp_path, resume=True), **options
    )
    for site, value in whole.sample_params(None).items():
        assert torch.allclose(resumed.sample_params(None)[site], value, atol=1e-6)
    with pytest.raises(ValueError, match="was written with"):
        bn.fit_sgmcmc(
            first,
            loader_of(x, y, 50),
            run=bn.Run(checkpoint_dir=tmp_path, resume=True),
            **{**options, "lr": 1},
        )


def test_save_load_and_arviz(digits, tmp_path):
    train, test = digits
    x, y = train.tensors[0][:200], train.tensors[1][:200]
    model = small_classifier(200)
    post = bn.fit_sgmcmc(model, loader_of(x, y, 50), epochs=8, cycles=2, thin=1, progress=False)
    post.save(tmp_path / "sg.pt")
    loaded = bn.Posterior.load(tmp_path / "sg.pt", small_classifier(200))
    xt, yt = test.tensors[0][:64], test.tensors[1][:64]
    assert torch.allclose(loaded.predict(xt), post.predict(xt))
    assert loaded.info["method"] == "sghmc" and loaded.info["integrator"] == "baoa"
    idata = post.to_arviz(xt, yt)
    assert idata.posterior.sizes["chain"] == 2
    assert idata.posterior.sizes["draw"] == post.info["draws_per_chain"]
    assert set(idata.sample_stats.data_vars) == {"step_size", "lp", "epoch", "cycle"}
    table = bn.diagnostics.summary(idata)
    assert list(table.chains["chain"]) == [0, 1] and "divergences" not in table.chains


def test_batchnorm_draws_predict_with_their_own_statistics(digits):
    train, _ = digits
    x, y = train.tensors[0][:200], train.tensors[1][:200]
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(256, 10),
    )
    model = bn.Classifier(bn.bayesianize(net, stochastic="all"), num_data=200)
    post = bn.fit_sgmcmc(model, loader_of(x, y, 50), epochs=4, cycles=1, progress=False, seed=0)
    # thin=None: about DEFAULT_DRAWS draws over the 4 sampling steps of 16, so every one
    assert post.info["thin"] == 1 and post.sampler.num_draws == 4
    assert post.normalization is not None and len(post.normalization) == 200
    draws = post.sample_params(None)
    conv = torch.nn.functional.conv2d(
        post.normalization, draws["0.weight"][0], draws["0.bias"][0], padding=1
    )
    assert torch.allclose(draws["1.running_mean"][0], conv.mean((0, 2, 3)), atol=1e-5)


def test_refuses_what_it_cannot_sample(conjugate):
    c = conjugate
    loader = loader_of(c["x"], c["y"], 10)
    net = bn.nn.BayesLinear(3, 1, prior=bn.priors.Hierarchical())
    with pytest.raises(ValueError, match="fixed priors"):
        bn.fit_sgmcmc(bn.Regressor(net, num_data=40, noise=0.5), loader)
    with pytest.raises(ValueError, match="burn_in"):
        bn.fit_sgmcmc(conjugate_model(c), loader, epochs=5, burn_in=5)
    with pytest.raises(ValueError, match="kept no draws"):
        bn.fit_sgmcmc(
            conjugate_model(c), loader, epochs=2, cycles=2, exploration=0.9, progress=False
        )


@pytest.mark.slow
def test_samplers_say_when_point_estimate_layers_stay_as_they_are(digits):
    """bayesianize(stochastic="head") keeps the layers before the last BatchNorm as points; SVI
    trains them, a sampler holds them: fit_sgmcmc and fit_hmc say so by name, and a network
    with every layer Bayesian (or frozen layers, as last_layer=True makes) gets no warning."""
    x, y = (t[:64] for t in digits[0].tensors)
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(72, 10)
    )
    partial = bn.Classifier(bn.bayesianize(net, stochastic="head"), num_data=64)
    with pytest.warns(UserWarning, match=r"fit_sgmcmc .* point-estimate layers \['0'\]"):
        bn.fit_sgmcmc(
            partial, loader_of(x, y, 32), epochs=2, cycles=1, exploration=0.5, progress=False
        )
    with pytest.warns(UserWarning, match=r"fit_hmc .* point-estimate layers \['0'\]"):
        bn.fit_hmc(partial, (x, y), num_samples=5, warmup=30, num_chains=1, progress=False)
    for model in (
        bn.Classifier(bn.bayesianize(net, stochastic="all"), num_data=64),
        bn.Classifier(bn.bayesianize(net, last_layer=True), num_data=64),
    ):
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*point-estimate layers")
            bn.fit_sgmcmc(
                model, loader_of(x, y, 32), epochs=2, cycles=1, exploration=0.5, progress=False
            )
