"""The caller's state is the caller's: after any fit or prediction, torch's, Python's and
NumPy's global RNGs (when a seed was given), every module's train/eval mode and every
parameter's ``requires_grad`` flag are as the caller left them."""

import random

import numpy as np
import pytest
import torch
from conftest import assert_same_predictions, loader_of

import bayesnet as bn


def _rngs():
    return torch.random.get_rng_state(), random.getstate(), np.random.get_state()[1].copy()


def _same_rngs(a, b) -> bool:
    return torch.equal(a[0], b[0]) and a[1] == b[1] and np.array_equal(a[2], b[2])


def _flags(module):
    modes = [m.training for m in module.modules()]
    grads = [p.requires_grad for p in module.parameters()]
    return modes, grads


@pytest.fixture()
def data(digits):
    x, y = (t[:192] for t in digits[0].tensors)
    return x, y, loader_of(x, y, 64)


def _net():
    net = bn.zoo.cnn(batch_norm=True, image_size=8, channels=(4, 8), hidden=16)
    net[0].requires_grad_(False)  # the caller froze the first convolution
    return net.train()


def _model(n, stochastic="all"):
    model = bn.Classifier(bn.bayesianize(_net(), stochastic=stochastic), num_data=n)
    return model.train()


FITS = {
    "point_estimate": lambda net, x, y, loader: bn.baselines.point_estimate(
        net, loader, epochs=1, progress=False, seed=3
    ),
    "mc_dropout": lambda net, x, y, loader: bn.baselines.mc_dropout(
        net, loader, epochs=1, progress=False, seed=3
    ),
    "deep_ensemble": lambda net, x, y, loader: bn.baselines.deep_ensemble(
        net, loader, members=2, epochs=1, progress=False, seed=3
    ),
    "fit_swag": lambda net, x, y, loader: bn.fit_swag(
        net, loader, epochs=2, starts=2, progress=False, seed=3
    ),
    "fit_ivon": lambda net, x, y, loader: bn.fit_ivon(
        net, loader, epochs=1, progress=False, seed=3
    ),
    "fit_laplace": lambda net, x, y, loader: bn.fit_laplace(
        net, loader, subset="last_layer", progress=False, seed=3
    ),
}
MODEL_FITS = {
    "fit_svi": lambda model, x, y, loader: bn.fit_svi(
        model, loader, epochs=1, progress=False, seed=3
    ),
    "fit_sgmcmc": lambda model, x, y, loader: bn.fit_sgmcmc(
        model, loader, epochs=2, cycles=1, progress=False, seed=3
    ),
    "fit_hmc": lambda model, x, y, loader: bn.fit_hmc(
        model, (x, y), num_samples=3, warmup=3, max_tree_depth=2, progress=False, seed=3
    ),
}


@pytest.mark.parametrize("name", list(FITS))
def test_network_fits_leave_the_callers_state(name, data):
    if name == "fit_laplace":
        pytest.importorskip("laplace")
    x, y, loader = data
    net = _net()
    before, rngs = _flags(net), _rngs()
    post = FITS[name](net, x, y, loader)
    assert _flags(net) == before
    assert _same_rngs(_rngs(), rngs)
    modes = _flags(post.model)
    post.predict(x[:8], num_samples=3)
    assert _flags(post.model) == modes


@pytest.mark.parametrize("name", list(MODEL_FITS))
def test_model_fits_leave_the_callers_state(name, data):
    x, y, loader = data
    model = _model(len(x))
    before, rngs = _flags(model), _rngs()
    MODEL_FITS[name](model, x, y, loader)
    assert _flags(model) == before
    assert _same_rngs(_rngs(), rngs)


def test_the_map_warm_start_keeps_prior_scales_the_caller_froze(data):
    x, y, loader = data
    model = bn.Classifier(
        bn.bayesianize(bn.zoo.mlp(64, 10, (16,)), prior=bn.priors.EmpiricalBayes()), len(x)
    )
    frozen = model.prior_parameters()
    assert frozen
    for p in frozen:
        p.requires_grad_(False)
    values = [p.detach().clone() for p in frozen]
    bn.fit_svi(model, loader, epochs=2, progress=False, seed=0)
    assert all(not p.requires_grad for p in frozen)
    assert all(torch.equal(p, v) for p, v in zip(frozen, values, strict=True))


def test_loading_a_laplace_posterior_leaves_the_models_flags(data, tmp_path):
    pytest.importorskip("laplace")
    x, y, loader = data
    torch.manual_seed(0)
    net = bn.zoo.cnn(batch_norm=True, image_size=8, channels=(4, 8), hidden=16)
    post = bn.fit_laplace(net, loader, progress=False)  # over all weights: BatchNorm fixed
    post.save(tmp_path / "laplace.pt")
    fresh = bn.Classifier(
        bn.nn.Linearized(bn.zoo.cnn(batch_norm=True, image_size=8, channels=(4, 8), hidden=16)),
        len(x),
    )
    before = _flags(fresh)
    loaded = bn.Posterior.load(tmp_path / "laplace.pt", fresh)
    assert _flags(fresh) == before
    assert_same_predictions(post, loaded, x[:8], 4)
