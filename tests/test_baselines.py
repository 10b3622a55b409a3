"""Baselines of the same architecture: temperature scaling, MC dropout, deep ensembles."""

import pytest
import torch
from conftest import loader_of
from torch import nn

import bayesnet as bn
from bayesnet.checkpoint import CheckpointError, load_safe, save_atomic
from bayesnet.evaluate import metrics
from bayesnet.infer import baselines


@pytest.fixture(scope="module")
def overconfident(digits):
    """A softmax net trained far past the point of fitting 300 images (T fits about 2.2)."""
    torch.manual_seed(0)
    x, y = digits[0].tensors
    loader = loader_of(x[:300], y[:300], batch_size=32)
    return baselines.point_estimate(
        bn.zoo.digits_cnn(), loader, epochs=100, lr=3e-3, progress=False
    )


def test_temperature_scaling_lowers_held_out_nll_and_keeps_accuracy(overconfident, digits):
    x, y = digits[1].tensors
    val, test = (x[::2], y[::2]), (x[1::2], y[1::2])
    scaled = baselines.temperature_scaled(overconfident, val)
    t = scaled.info["temperature"]
    assert t > 1.2  # overconfident: the fit softens it
    before, after = overconfident.predict(test[0]), scaled.predict(test[0])
    assert metrics.nll(after, test[1]) < metrics.nll(before, test[1]) - 0.01
    assert metrics.accuracy(after, test[1]) == metrics.accuracy(before, test[1])
    # the fitted T minimises the validation NLL: nudging it either way is worse
    logits = overconfident.forward(val[0], {}, link=False)[0]

    def val_nll(temp):
        return nn.functional.cross_entropy(logits / temp, val[1]).item()

    assert val_nll(t) <= min(val_nll(t * 0.95), val_nll(t * 1.05))


def test_temperature_scaling_round_trips_and_rejects_regressors(overconfident, digits, tmp_path):
    x, y = digits[1].tensors
    scaled = baselines.temperature_scaled(overconfident, (x, y))
    assert scaled.temperature == scaled.info["temperature"] > 1
    scaled.save(tmp_path / "t.pt")
    loaded = bn.Posterior.load(tmp_path / "t.pt", bn.Classifier(bn.zoo.digits_cnn(), num_data=1))
    assert loaded.temperature == scaled.temperature
    assert torch.allclose(loaded.predict(x[:20]), scaled.predict(x[:20]))
    assert torch.allclose(scaled.as_module()(x[:20]), scaled.predict(x[:20])[0], atol=1e-6)
    assert not torch.allclose(overconfident.predict(x[:20]), scaled.predict(x[:20]))
    regressor = bn.Regressor(nn.Linear(3, 1), num_data=1, noise=0.1)
    with pytest.raises(ValueError, match="regressor"):
        baselines.temperature_scaled(bn.Posterior.from_prior(regressor), (x, y))
    with pytest.raises(ValueError, match="validation set has 5 inputs and 4 labels"):
        baselines.temperature_scaled(overconfident, (x[:5], y[:4]))
    with pytest.raises(ValueError, match="share one temperature"):
        bn.Posterior.mixture([scaled, overconfident])
    with pytest.raises(ValueError, match="positive"):
        bn.Posterior(overconfident.model, overconfident.sampler, temperature=0.0)
    payload = load_safe(tmp_path / "t.pt")
    save_atomic({**payload, "temperature": -2.0}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="bad.pt: temperature must be a positive number"):
        bn.Posterior.load(tmp_path / "bad.pt", bn.Classifier(bn.zoo.digits_cnn(), num_data=1))


def test_temperature_scaling_of_a_mixture_fits_the_mixture(digits, tmp_path):
    """``bn.fit``'s SWAG mixture (BatchNorm, statistics per draw): the temperature divides
    every draw's logits, minimises the validation NLL of the mixture (not of one draw),
    and is kept, with the draws, through save and load."""
    train, test = digits
    x, y = test.tensors
    val, rest = (x[::2], y[::2]), (x[1::2], y[1::2])
    torch.manual_seed(0)
    net = bn.zoo.cnn(batch_norm=True, image_size=8)
    # collected at the training's rate: a mixture underconfident enough for a temperature
    # to matter (at fit_swag's default rate it gets every validation digit right, and the
    # NLL-minimising temperature runs towards zero)
    post = bn.fit(net, train, epochs=8, swa_lr=2e-3, seed=0, progress=False)
    scaled = baselines.temperature_scaled(post, val)
    t = scaled.temperature
    draws = post.sample_params(None)
    logits = post.forward(val[0], draws, link=False)
    torch.testing.assert_close(scaled.forward(val[0], draws, link=False), logits / t)

    def mixture_nll(temp):
        return nn.functional.nll_loss(bn.posterior.log_mean_softmax(logits / temp), val[1]).item()

    assert mixture_nll(t) <= min(mixture_nll(t * 0.95), mixture_nll(t * 1.05))
    assert abs(t - 1) > 0.05  # a mixture on 700 images is not calibrated as fitted
    scaled.save(tmp_path / "mix.pt")
    fresh = bn.Classifier(bn.zoo.cnn(batch_norm=True, image_size=8), num_data=1)
    loaded = bn.Posterior.load(tmp_path / "mix.pt", fresh)
    torch.testing.assert_close(loaded.predict(rest[0], 30), scaled.predict(rest[0], 30))


def test_mc_dropout_inserts_dropout_and_samples_masks(digits):
    train, test = digits
    x, y = test.tensors
    post = baselines.mc_dropout(
        bn.zoo.digits_cnn(), loader_of(*train.tensors, 64), p=0.2, epochs=15, progress=False
    )
    layers = [m for m in post.net.modules() if isinstance(m, bn.nn.MaskedDropout)]
    assert len(layers) == 3  # before the second conv and both linear layers
    probs = post.predict(x, num_samples=50)
    assert probs.shape == (50, len(x), 10)
    assert metrics.accuracy(probs, y) > 0.9
    assert metrics.mutual_information(probs).mean() > 1e-3  # the masks disagree
    masks = post.sample_params(4000)
    values = torch.cat([v.flatten() for v in masks.values()])
    assert set(values.unique().tolist()) == {0.0, 1.25}
    assert values.mean().item() == pytest.approx(1.0, abs=0.01)


@pytest.mark.slow
def test_mc_dropout_masks_match_train_mode_dropout():
    """Each example's S predictions have the distribution of S stochastic passes."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 50), nn.ReLU(), nn.Dropout(0.5), nn.Linear(50, 4))
    x = torch.randn(6, 3)
    post = baselines.mc_dropout(net, loader_of(x, torch.arange(6) % 4, 6), epochs=1, progress=False)
    mc = post.predict(x, num_samples=4000).mean(0)
    train_mode = post.net.train()
    with torch.no_grad():
        passes = torch.stack([train_mode(x).softmax(-1) for _ in range(4000)]).mean(0)
    post.net.eval()
    assert torch.allclose(mc, passes, atol=0.02)


def test_masked_dropout_keeps_rates_and_drops_channels():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Dropout2d(0.3), nn.Flatten(), nn.Dropout(0.4))
    masked = bn.nn.masked_dropout(net, torch.zeros(2, 1, 5, 5))
    assert (masked[1].p, tuple(masked[1].mask.shape)) == (0.3, (4, 1, 1))
    assert (masked[3].p, tuple(masked[3].mask.shape)) == (0.4, (36,))
    with pytest.raises(ValueError, match="no dropout layer"):
        bn.nn.masked_dropout(nn.Linear(2, 2), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="no Linear or Conv"):
        bn.nn.insert_dropout(nn.ReLU(), 0.1)


@pytest.mark.slow
def test_deep_ensemble_members_differ_and_round_trip(digits, tmp_path):
    train, test = digits
    x, y = test.tensors
    post = baselines.deep_ensemble(
        bn.zoo.digits_cnn(), loader_of(*train.tensors, 64), members=3, epochs=20, progress=False
    )
    probs = post.predict(x)
    assert probs.shape == (3, len(x), 10)
    assert metrics.accuracy(probs, y) > 0.9
    weights = post.sample_params(None)["0.weight"]
    assert not torch.allclose(weights[0], weights[1])  # independent initialisations
    # Jensen gives <= the members' mean; a margin needs members that disagree
    members = [metrics.nll(probs[i : i + 1], y) for i in range(3)]
    assert metrics.nll(probs, y) < sum(members) / 3 - 0.005
    post.save(tmp_path / "ens.pt")
    loaded = bn.Posterior.load(tmp_path / "ens.pt", bn.Classifier(bn.zoo.digits_cnn(), 1))
    assert torch.allclose(loaded.predict(x), probs)
    with pytest.raises(ValueError, match="at least one member"):
        baselines.deep_ensemble(bn.zoo.digits_cnn(), loader_of(*train.tensors, 64), members=0)


def test_temperature_is_not_identifiable_without_validation_errors(overconfident, digits):
    x, y = digits[1].tensors
    right = overconfident.predict(x)[0].argmax(-1) == y
    with pytest.warns(UserWarning, match="no minimum"):
        scaled = baselines.temperature_scaled(overconfident, (x[right], y[right]))
    assert scaled.info["temperature"] == 1.0


def test_temperature_scaling_keeps_per_draw_batchnorm_statistics(digits):
    """A sampled BatchNorm network predicts every draw with its own statistics; scaled, it
    must go on doing so (it predicted with the shared running ones)."""
    train, test = digits
    x_val, y_val = (t[:120] for t in test.tensors)
    net = bn.zoo.cnn(batch_norm=True, image_size=8)
    bn.baselines.train_net(net, bn.data.to_loader(train, seed=0), epochs=2, progress=False)
    weights = {
        k: torch.stack([v, 1.3 * v])
        for k, v in net.state_dict().items()
        if "conv" in k or k.startswith("0.")
    }
    post = bn.Posterior(
        bn.Classifier(net, len(train)),
        bn.posterior.DrawsSampler(weights),
        {"engine": "test"},
        train.tensors[0][:256],
    )
    scaled = bn.baselines.temperature_scaled(post, (x_val, y_val))
    assert scaled.normalization is post.normalization
    t = scaled.info["temperature"]
    expected = post.forward(x_val, post.sample_params(None), link=False) / t
    got = scaled.forward(x_val, scaled.sample_params(None), link=False)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize(
    "fit",
    [
        lambda net, loader: bn.baselines.point_estimate(
            net, loader, epochs=40, lr=1e-2, task="regression", progress=False, seed=0
        ),
        lambda net, loader: bn.baselines.deep_ensemble(
            net, loader, members=2, epochs=40, lr=1e-2, task="regression", progress=False, seed=0
        ),
        lambda net, loader: bn.fit_swag(
            net, loader, epochs=40, lr=1e-2, task="regression", progress=False, seed=0
        ),
        lambda net, loader: bn.fit_ivon(
            net, loader, epochs=40, lr=0.05, task="regression", progress=False, seed=0
        ),
    ],
    ids=["point_estimate", "deep_ensemble", "swag", "ivon"],
)
def test_regression_baselines_are_scored_by_likelihood(fit, tmp_path):
    """A regression baseline carried no noise: ``to_arviz(x, y)`` raised. It gets the
    noise that maximises the training likelihood around its predictive mean, and keeps it
    through save and load (it was lost: the loaded NLL changed, and a model built with the
    default learned noise refused the file)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(256, 1, generator=g) * 4 - 2
    y = 1.5 * x + 0.5 * torch.randn(256, 1, generator=g)
    post = fit(torch.nn.Linear(1, 1), loader_of(x, y, 32))
    assert post.model.noise == pytest.approx(0.5, rel=0.15)
    assert post.info["noise"] == post.model.noise
    idata = post.to_arviz(x[:50], y[:50], num_samples=4)
    assert "log_likelihood" in idata.groups()
    post.save(tmp_path / "post.pt")
    for noise in ("learned", 1.0):
        loaded = bn.Posterior.load(
            tmp_path / "post.pt", bn.Regressor(torch.nn.Linear(1, 1), 256, noise=noise)
        )
        assert loaded.model.noise == post.model.noise
        torch.manual_seed(2)
        again = loaded.to_arviz(x[:50], y[:50], num_samples=4).log_likelihood["obs"]
        torch.manual_seed(2)
        expected = post.to_arviz(x[:50], y[:50], num_samples=4).log_likelihood["obs"]
        assert (again == expected).all()
