"""Posterior: shapes, strategies, draws, point estimates."""

import pytest
import torch
from conftest import loader_of

import bayesnet as bn
from bayesnet.posterior import DrawsSampler


@pytest.fixture(scope="module")
def fitted(digits):
    train, test = digits
    x, y = train.tensors[0][:256], train.tensors[1][:256]
    model = bn.Classifier(
        bn.bayesianize(bn.zoo.digits_cnn(channels=(4, 8), hidden=16)), num_data=256
    )
    return bn.fit_svi(model, loader_of(x, y, 64), epochs=1, progress=False), test.tensors[0][:40]


def test_predict_shapes_and_probabilities(fitted):
    post, x = fitted
    p = post.predict(x, num_samples=7)
    assert p.shape == (7, 40, 10)
    assert torch.allclose(p.sum(-1), torch.ones(7, 40), atol=1e-5)
    assert p.device == post.device


def test_loop_and_vmap_agree_and_batching_does_not_change_results(fitted):
    post, x = fitted
    draws = post.sample_params(5)
    fixed = bn.Posterior(post.model, DrawsSampler(draws))
    loop = fixed.predict(x, strategy="loop")
    assert torch.allclose(loop, fixed.predict(x, strategy="vmap"), atol=1e-6)
    assert torch.allclose(loop, fixed.predict(x, strategy="loop", batch_size=7), atol=1e-6)
    with pytest.raises(ValueError, match="unknown predict strategy"):
        fixed.predict(x, strategy="parallel")


def test_given_draws_predict_every_input_with_the_same_networks(fitted):
    """``predict(x, draws=...)``: the same draws for several inputs (what ``compare`` does
    per method), so a row of inputs predicted twice agrees, unlike fresh draws: exactly in
    the same batch, to rounding in another (matrix kernels round differently with the
    batch size, so bit-equality across batch sizes depends on the machine)."""
    post, x = fitted
    draws = post.sample_params(6)
    first = post.predict(x, draws=draws)
    assert first.shape == (6, 40, 10)
    assert torch.equal(first, post.predict(x, draws=draws))
    torch.testing.assert_close(first[:, :10], post.predict(x[:10], draws=draws))
    assert not torch.allclose(post.predict(x, 6), post.predict(x, 6))


def test_predict_over_a_loader_uses_one_set_of_draws(fitted):
    """Batch by batch, with the labels, equal to predicting all inputs with those draws;
    streamed into a Summary, the metrics of the whole set."""
    from bayesnet.evaluate import metrics
    from bayesnet.evaluate.summary import summarize

    post, x = fitted
    y = torch.arange(40) % 10
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    draws = post.sample_params(5)
    batches = list(post.predict_loader(loader, draws=draws))
    assert [len(b) for _, b in batches] == [16, 16, 8]
    probs = torch.cat([p for p, _ in batches], dim=1)
    torch.testing.assert_close(probs, post.predict(x, draws=draws))
    summary = summarize(post.predict_loader(loader, draws=draws))
    assert summary.nll() == pytest.approx(metrics.nll(probs, y), rel=1e-9)
    inputs_only = list(post.predict_loader(x.split(25), num_samples=3))
    assert [p.shape[:2] for p, _ in inputs_only] == [(3, 25), (3, 15)] and inputs_only[0][1] is None


def test_draws_are_thinned_evenly_and_point_estimate_has_one(fitted):
    post, x = fitted
    sampler = DrawsSampler({k: v for k, v in post.sample_params(10).items()})
    assert bn.Posterior(post.model, sampler).predict(x, num_samples=None).shape[0] == 10
    assert bn.Posterior(post.model, sampler).predict(x, num_samples=4).shape[0] == 4
    point = bn.Posterior(bn.Classifier(bn.zoo.mlp(64, 10), num_data=10), DrawsSampler({}))
    assert point.predict(x, num_samples=100).shape == (1, 40, 10)
    with pytest.raises(ValueError, match="num_samples must be >= 1"):
        post.sample_params(0)


def test_point_estimate_is_the_trained_softmax(digits):
    train, test = digits
    x, y = test.tensors
    net = bn.zoo.digits_cnn()
    before = [p.detach().clone() for p in net.parameters()]
    post = bn.baselines.point_estimate(
        net, loader_of(*train.tensors, 64), epochs=5, lr=3e-3, progress=False, seed=0
    )
    assert all(
        torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True)
    )  # untouched
    probs = post.predict(x)
    assert probs.shape == (1, len(x), 10)
    assert torch.allclose(probs[0], post.net(x).softmax(-1))
    assert (probs[0].argmax(-1) == y).float().mean() > 0.9


def test_segmentation_targets_per_pixel():
    net = torch.nn.Sequential(
        bn.nn.BayesConv2d(1, 4, 3, padding=1), torch.nn.ReLU(), bn.nn.BayesConv2d(4, 3, 1)
    )
    model = bn.Classifier(net, num_data=32)
    x, y = torch.rand(32, 1, 6, 6), torch.randint(0, 3, (32, 6, 6))
    post = bn.fit_svi(model, loader_of(x, y, 8), epochs=1, progress=False)
    assert post.predict(x[:2], num_samples=3).shape == (3, 2, 3, 6, 6)


def test_the_mean_predictive_as_a_plain_module_and_in_one_call(digits, tmp_path):
    """``predict_proba`` is the mean of the draws; ``as_module`` carries fixed draws (with
    their BatchNorm statistics) in a plain eval-mode module that exports with torch.export
    and saves with its state."""
    train, test = digits
    net = bn.zoo.cnn(image_size=8, batch_norm=True)
    post = bn.fit(net, train, epochs=2, progress=False, seed=0)
    x = test.tensors[0][:16]
    module = post.as_module(num_samples=6)
    assert not module.training and not module.train().training
    assert all(not p.requires_grad for p in module.parameters())
    expected = post.predict(x, num_samples=6).mean(0)  # the same kept draws
    torch.testing.assert_close(module(x), expected)
    torch.testing.assert_close(post.predict_proba(x, num_samples=6), expected)
    exported = torch.export.export(module, (x,))
    torch.testing.assert_close(exported.module()(x), expected)
    torch.save(module.state_dict(), tmp_path / "m.pt")
    again = post.as_module(num_samples=6)
    again.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    torch.testing.assert_close(again(x), expected)
    with pytest.raises(ValueError, match="classifier"):
        bn.Posterior(bn.Regressor(torch.nn.Linear(2, 1), 4, noise=1.0), post.sampler).predict_proba(
            torch.zeros(2, 2)
        )
