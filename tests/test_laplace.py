"""The Laplace approximation: the exact conjugate posterior, laplace-torch called directly,
the collapse check, save/load and ArviZ export."""

import importlib
import warnings

import pytest
import torch
from conftest import loader_of
from torch import nn

import bayesnet as bn
from bayesnet.infer.networks import laplace as engine

laplace = pytest.importorskip("laplace")


@pytest.fixture(scope="module")
def trained(digits):
    """A small MLP trained on the digits, its loader and the test images."""
    train, test = digits
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    loader = loader_of(*train.tensors, 64)
    point = bn.baselines.point_estimate(net, loader, epochs=15, lr=3e-3, progress=False)
    return point, loader, test.tensors


def test_full_laplace_of_linear_regression_is_the_exact_posterior(conjugate):
    c = conjugate
    net = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        net.weight.copy_(c["mean"][None])  # the MAP, where the Laplace approximation is taken
    post = bn.fit_laplace(
        net,
        loader_of(c["x"], c["y"], 10),
        subset="all",
        hessian="full",
        prior_precision=1 / c["s"] ** 2,
        temperature=1.0,
        task="regression",
        noise=c["sigma"],
        progress=False,
    )
    covariance = post.sampler.approximation.posterior_covariance
    torch.testing.assert_close(covariance, c["cov"], rtol=1e-4, atol=1e-6)
    draws = post.sample_params(40000)["net.weight"].reshape(-1, 3)  # the GLM: Linearized
    sd = c["cov"].diag().sqrt()
    assert ((draws.mean(0) - c["mean"]).abs() < 4 * sd / 200).all()  # 4 standard errors
    torch.testing.assert_close(draws.T.cov(), c["cov"], rtol=0.05, atol=2e-4)
    assert post.info["prior_precision_method"] == "fixed" and not post.info["collapsed"]


def test_last_layer_laplace_matches_laplace_torch_called_directly(trained):
    point, loader, (x, _) = trained
    post = bn.fit_laplace(point, loader, subset="last_layer", temperature=0.01, progress=False)
    # laplace-torch's default: the last layer, K-FAC
    direct = laplace.Laplace(point.model.net, "classification", temperature=0.01)
    direct.fit(loader)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        direct.optimize_prior_precision(method="marglik")
    assert post.info["last_layer"] == "3" and post.info["num_params"] == 330
    assert post.info["prior_precision"] == pytest.approx(direct.prior_precision.item(), rel=1e-4)
    torch.manual_seed(1)
    ours = post.predict(x[:50], num_samples=20)
    torch.manual_seed(1)
    theirs = direct.predictive_samples(x[:50], pred_type="nn", n_samples=20)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)
    assert post.info["prior_precision"] != pytest.approx(1.0)  # marglik moved it


def test_laplace_widens_the_softmax_where_the_data_are_not(trained):
    point, loader, (x, _) = trained
    post = bn.fit_laplace(point, loader, progress=False)
    noise = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    entropy = bn.evaluate.metrics.predictive_entropy
    gain_far = entropy(post.predict(noise)).mean() - entropy(point.predict(noise)).mean()
    gain_near = entropy(post.predict(x)).mean() - entropy(point.predict(x)).mean()
    assert gain_far > 2 * gain_near > 0  # more uncertainty far from the data than near it


def test_attacks_go_through_the_laplace_predictive(trained):
    point, loader, (x, y) = trained
    post = bn.fit_laplace(point, loader, progress=False)
    x, y = x[:100], y[:100]
    clean = bn.evaluate.metrics.accuracy(post.predict(x, 30), y)
    adversarial = bn.evaluate.attacks.fgsm(post, x, y, 0.2, num_samples=10)
    assert bn.evaluate.metrics.accuracy(post.predict(adversarial, 30), y) < clean - 0.2


def test_an_untrained_network_warns_and_a_trained_one_does_not(trained, digits):
    point, loader, _ = trained
    with warnings.catch_warnings():
        warnings.simplefilter("error", bn.CollapseWarning)
        assert not bn.fit_laplace(point, loader, progress=False).info["collapsed"]
    torch.manual_seed(0)
    fresh = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    with pytest.warns(bn.CollapseWarning, match="train it first"):
        post = bn.fit_laplace(fresh, loader, progress=False)
    assert post.info["collapsed"]


def test_sampling_all_weights_through_the_network_warns_and_the_glm_does_not(trained):
    point, loader, (x, y) = trained
    wide = {"subset": "all", "hessian": "diag", "prior_precision": 1e-2, "temperature": 1.0}
    wide["progress"] = False
    with pytest.warns(bn.CollapseWarning, match="out of its mode"):
        bn.fit_laplace(point, loader, predictive="nn", **wide)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bn.CollapseWarning)
        glm = bn.fit_laplace(point, loader, **wide)
    assert glm.info["predictive"] == "glm" and isinstance(glm.model.net, bn.nn.Linearized)
    accuracy = bn.evaluate.metrics.accuracy
    assert accuracy(glm.predict(x, 20), y) > accuracy(point.predict(x), y) - 0.05


def test_linearized_network_is_the_first_order_expansion():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Tanh(), nn.Flatten(), nn.Linear(144, 3))
    linear = bn.nn.Linearized(net)
    x = torch.randn(6, 1, 8, 8)
    torch.testing.assert_close(linear(x), net(x))  # equal at the expansion point
    direction = {n: torch.randn_like(p) for n, p in net.named_parameters()}

    def gap(t):  # |linearised - network| at w0 + t * direction: O(t^2)
        moved = {n: p.detach() + t * direction[n] for n, p in net.named_parameters()}
        lin = torch.func.functional_call(linear, {f"net.{n}": v for n, v in moved.items()}, (x,))
        return (lin - torch.func.functional_call(net, moved, (x,))).abs().max()

    assert 3.5 < gap(1e-2) / gap(5e-3) < 4.5  # halving the step quarters the error
    head = bn.nn.Linearized(nn.Linear(5, 2))  # linear in its parameters: exact everywhere
    far = {"net.weight": torch.randn(2, 5), "net.bias": torch.randn(2)}
    z = torch.randn(4, 5)
    torch.testing.assert_close(
        torch.func.functional_call(head, far, (z,)), z @ far["net.weight"].T + far["net.bias"]
    )


@pytest.mark.parametrize(("subset", "site"), [("last_layer", "3.weight"), ("all", "net.1.weight")])
def test_save_load_and_arviz_round_trip(trained, tmp_path, subset, site):
    point, loader, (x, y) = trained
    post = bn.fit_laplace(point, loader, subset=subset, hessian="diag", progress=False)
    path = post.save(tmp_path / "laplace.pt")
    fresh = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    if subset == "all":  # the GLM predictive: the network linearised around its weights
        fresh = bn.nn.Linearized(fresh)
    loaded = bn.Posterior.load(path, bn.Classifier(fresh, post.model.num_data))
    assert loaded.sampler.kind == "laplace" and loaded.info == post.info
    torch.manual_seed(3)
    before = post.predict(x[:20], num_samples=8)
    torch.manual_seed(3)
    torch.testing.assert_close(loaded.predict(x[:20], num_samples=8), before)
    data = loaded.to_arviz(x[:20], y[:20], num_samples=16)
    assert data.posterior[site].shape[:2] == (1, 16)


def test_without_laplace_torch_it_says_how_to_install(trained, monkeypatch):
    point, loader, _ = trained
    real = importlib.import_module

    def missing(name, *args):
        if name == "laplace":
            raise ImportError("No module named 'laplace'")
        return real(name, *args)

    monkeypatch.setattr(engine.importlib, "import_module", missing)
    with pytest.raises(ImportError, match=r"bayesnet\[laplace\]"):
        bn.fit_laplace(point, loader, progress=False)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"subset": "some"}, "unknown subset"),
        ({"hessian": "lowrank"}, "unknown hessian"),
        ({"prior_precision": "cv"}, "unknown prior_precision"),
        ({"prior_precision": 0.0}, "prior_precision must be"),
    ],
)
def test_bad_options_are_named(trained, options, match):
    point, loader, _ = trained
    with pytest.raises(ValueError, match=match):
        bn.fit_laplace(point, loader, progress=False, **options)


def test_kfac_over_all_weights_keeps_batchnorm_at_its_trained_values(digits, tmp_path):
    x, y = (t[:128] for t in digits[0].tensors)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10)
    )
    with pytest.warns(bn.CollapseWarning, match="train it first"):  # untrained: no matter here
        post = bn.fit_laplace(net, loader_of(x, y, 64), progress=False)
    assert post.info["fixed"] == ["1.weight", "1.bias"]
    assert set(post.sample_params(2)) == {
        "net.0.weight",
        "net.0.bias",
        "net.4.weight",
        "net.4.bias",
    }
    loaded = bn.Posterior.load(
        post.save(tmp_path / "bn.pt"), bn.Classifier(bn.nn.Linearized(net), len(x))
    )
    torch.manual_seed(0)
    before = post.predict(x[:5], 4)
    torch.manual_seed(0)
    torch.testing.assert_close(loaded.predict(x[:5], 4), before)


def test_the_predictive_is_chosen_at_prediction_time(trained):
    """Switching a fitted posterior's predictive equals fitting with that predictive: the
    same approximation, the same draws, only the network they go through differs."""
    point, loader, (x, _) = trained
    glm = bn.fit_laplace(point, loader, progress=False)
    nn_fit = bn.fit_laplace(point, loader, predictive="nn", progress=False)
    switched = bn.infer.laplace_predictive(glm, "nn")
    assert switched.info["predictive"] == "nn" and glm.info["predictive"] == "glm"
    torch.manual_seed(3)
    ours = switched.predict(x[:40], num_samples=8)
    torch.manual_seed(3)
    # two fits: the prior precisions marglik finds agree to a few parts in 1e5
    torch.testing.assert_close(ours, nn_fit.predict(x[:40], num_samples=8), rtol=1e-3, atol=1e-4)
    back = bn.infer.laplace_predictive(switched, "glm")
    torch.manual_seed(3)
    again = back.predict(x[:40], num_samples=8)
    torch.manual_seed(3)
    torch.testing.assert_close(again, glm.predict(x[:40], num_samples=8), rtol=1e-5, atol=1e-7)
    # the linearised predictive differs from the network's: the switch is not a no-op
    assert (again - ours).abs().max() > 1e-2
    with pytest.raises(ValueError, match="predictive"):
        bn.infer.laplace_predictive(glm, "probit")


def test_temperature_by_validation_wraps_an_engine_other_than_svi(trained):
    """``bn.infer.by_validation`` over ``fit_laplace``: untempered, the Laplace predictive
    of this network is underconfident, so the held-out NLL picks the colder candidate, and
    the returned posterior is the fit at that temperature on all the data."""
    point, loader, (x, _) = trained

    def fit(t, data):
        return bn.fit_laplace(point, data, temperature=t, progress=False)

    torch.manual_seed(0)
    post = bn.infer.by_validation(fit, loader, temperatures=(1.0, 0.01))
    scores = post.info["temperature_scores"]
    assert set(scores) == {1.0, 0.01} and scores[0.01] < scores[1.0]
    assert post.info["temperature"] == 0.01 and post.sampler.options["temperature"] == 0.01
    assert post.model.num_data == len(loader.dataset)  # refitted on all the data
