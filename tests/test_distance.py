"""The distance-aware predictive: the distance is the Mahalanobis distance to the nearest
class mean, the head divides the logits by the mean-field factor beyond the training
data's distances and nowhere within, and each draw's statistics are estimated once and
kept, saved and loaded with the posterior."""

import math

import pytest
import torch
from conftest import count_draws_estimated, loader_of
from torch import nn

import bayesnet as bn
from bayesnet.data.loaders import sample_examples, sample_inputs
from bayesnet.evaluate import metrics
from bayesnet.nn.distance import (
    STATISTICS,
    DistanceLinear,
    DistanceUnsupported,
    FeatureDistance,
    class_gaussian,
    head_path,
    out_of_fold_distance,
    smallest_distance,
)


@pytest.fixture(scope="module")
def blobs():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(150) % 3
    x = torch.randn(150, 4, generator=g) + 3.0 * nn.functional.one_hot(y, 4).float()
    return x, y


def _tiny(batch_norm: bool = True) -> nn.Module:
    layers = [nn.Linear(4, 8)]
    layers += [nn.BatchNorm1d(8)] if batch_norm else []
    return nn.Sequential(*layers, nn.ReLU(), nn.Linear(8, 3))


@pytest.fixture(scope="module")
def swag(blobs):
    x, y = blobs
    torch.manual_seed(0)
    return bn.fit_swag(_tiny(), loader_of(x, y, 25), epochs=6, starts=2, progress=False, seed=0)


def test_the_distance_is_the_mahalanobis_distance_to_the_nearest_present_class():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(7, 3, generator=g, dtype=torch.float64)
    means = torch.randn(4, 3, generator=g, dtype=torch.float64)
    a = torch.randn(3, 3, generator=g, dtype=torch.float64)
    precision = a @ a.T + torch.eye(3, dtype=torch.float64)
    present = torch.tensor([True, True, False, True])
    expected = torch.tensor(
        [
            min(float((fi - means[c]) @ precision @ (fi - means[c])) for c in (0, 1, 3)) / 3
            for fi in f
        ],
        dtype=torch.float64,
    )
    torch.testing.assert_close(smallest_distance(f, means, present, precision), expected)


def test_the_head_divides_the_logits_by_the_mean_field_factor_beyond_the_floor():
    linear = nn.Linear(2, 2)
    head = DistanceLinear(linear, alpha=2.0)
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.5, 0.5]])
    torch.testing.assert_close(head(x), linear(x))  # no statistics yet: the linear layer
    head.class_means.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0]]))
    head.distance_floor.fill_(1.0)
    # r: 0; min(25, 85) / 2 = 12.5; 0.5 / 2 = 0.25 (within the floor)
    var = 2.0 * (12.5 - 1.0)
    expected = linear(x)
    expected[1] /= math.sqrt(1 + math.pi / 8 * var)
    torch.testing.assert_close(head(x), expected)
    head.distance_scale.fill_(12.5)  # in units of 12.5: r = 1, at the floor
    torch.testing.assert_close(head(x), linear(x))


def test_each_draws_statistics_are_the_class_means_and_shared_covariance_of_its_features():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(61) % 3
    x = torch.randn(61, 3, generator=g) + 2 * nn.functional.one_hot(y, 3).float()
    net = nn.Sequential(nn.Flatten(), nn.Linear(3, 3)).eval()  # the features are the inputs
    distance = FeatureDistance(x, y, alpha=1.0, level=0.9)
    distance.head(net)
    assert isinstance(net[1], DistanceLinear) and head_path(net) == "1"
    draws = {"1.weight": torch.randn(2, 3, 3, generator=g), "1.bias": torch.zeros(2, 3)}
    stats = distance.statistics(net, draws)
    f = x.double()
    means = torch.stack([f[y == c].mean(0) for c in range(3)])
    centred = f - means[y]
    cov = centred.T @ centred / len(f)
    precision = torch.linalg.inv(cov + 1e-3 * cov.diagonal().mean() * torch.eye(3))
    r = smallest_distance(f, means, torch.ones(3, dtype=torch.bool), precision)
    for s in range(2):  # the head's weights do not move its input: both draws alike
        torch.testing.assert_close(stats["1.class_means"][s], means.float())
        torch.testing.assert_close(stats["1.precision"][s], precision.float())
        torch.testing.assert_close(stats["1.distance_scale"][s], r.median().float())
        floor = torch.quantile(r / r.median(), 0.9).float()
        torch.testing.assert_close(stats["1.distance_floor"][s], floor)


def test_out_of_fold_distances_are_each_examples_under_the_other_folds_statistics():
    g = torch.Generator().manual_seed(2)
    y = torch.arange(40) % 3
    f = torch.randn(40, 3, generator=g, dtype=torch.float64) + 2 * y[:, None]
    r = out_of_fold_distance(f, y, 5, folds=4)  # classes 3 and 4 absent throughout
    for i in (0, 7, 13, 38):
        rest = torch.arange(40) % 4 != i % 4
        fr, yr = f[rest], y[rest]
        means = torch.stack([fr[yr == c].mean(0) for c in range(3)])
        centred = fr - means[yr]
        cov = centred.T @ centred / len(fr)
        precision = torch.linalg.inv(cov + 1e-3 * cov.diagonal().mean() * torch.eye(3))
        expected = min(float((f[i] - m) @ precision @ (f[i] - m)) for m in means) / 3
        torch.testing.assert_close(r[i].item(), expected)
    # one fold is an example's own statistics: its own share biases it low
    means, present, precision = class_gaussian(f, y, 5)
    own = smallest_distance(f, means, present, precision)
    torch.testing.assert_close(out_of_fold_distance(f, y, 5, folds=1), own)
    assert r.mean() > 1.25 * own.mean()  # 1.36 here


def test_a_distance_aware_posterior_estimates_each_draw_once_and_keeps_it(
    swag, blobs, tmp_path, monkeypatch
):
    x, y = blobs
    post = bn.distance_aware(swag, (x, y))
    assert post.info["distance"] == {"alpha": 3.0, "level": 0.99, "folds": 1, "examples": 150}
    estimate = FeatureDistance.statistics
    calls = count_draws_estimated(monkeypatch, FeatureDistance, "statistics")
    far = torch.cat([x[:10], 20 * x[:10]])
    first = post.predict(far, num_samples=6)
    assert calls == [6]
    torch.testing.assert_close(post.predict(far, num_samples=6), first)
    assert calls == [6]
    # the kept statistics are the draws' own, as re-estimating them gives
    kept = post.cached
    again = estimate(post.distance, post.net, kept)
    for name, value in again.items():
        torch.testing.assert_close(kept[name], value)
    torch.testing.assert_close(post.predict(far, draws={**kept, **again}), first)
    torch.testing.assert_close(post.predict(far, num_samples=6, strategy="vmap"), first)
    torch.testing.assert_close(post.as_module(6)(far), first.mean(0))
    # saved and loaded: alike, nothing estimated
    post.save(tmp_path / "distance.pt")
    loaded = bn.Posterior.load(tmp_path / "distance.pt", bn.Classifier(_tiny(), 150))
    torch.testing.assert_close(loaded.predict(far, num_samples=6), first)
    assert calls == [6]
    assert loaded.info["distance"] == post.info["distance"]
    # a temperature keeps the distance and its kept draws
    scaled = bn.baselines.temperature_scaled(post, (x[:60], y[:60]))
    assert scaled.distance is post.distance
    assert all(scaled.cached[k] is v for k, v in post.cached.items())


def test_one_pass_per_draw_gives_its_batchnorm_and_head_statistics(
    swag, blobs, tmp_path, monkeypatch
):
    """A distance-aware posterior of a BatchNorm network estimates both on the same
    examples: the pass that estimates a draw's BatchNorm statistics keeps its features, no
    second pass runs, and what it gives is what two passes give, before and after a save."""
    x, y = blobs
    post = bn.distance_aware(swag, (x, y))
    assert post.normalization is post.distance.inputs
    passes = count_draws_estimated(monkeypatch, FeatureDistance, "_features")
    first = post.predict(x[:10], num_samples=6)
    assert passes == []
    post.save(tmp_path / "one_pass.pt")
    loaded = bn.Posterior.load(tmp_path / "one_pass.pt", bn.Classifier(_tiny(), 150))
    assert loaded.normalization is loaded.distance.inputs
    more = loaded.predict(x[:10], num_samples=9)  # three new draws, in one pass
    assert passes == []
    monkeypatch.undo()
    torch.testing.assert_close(more[:6], first)
    kept = loaded.cached
    two_passes = post.distance.statistics(post.net, kept)  # features from a second pass
    for name, value in two_passes.items():
        torch.testing.assert_close(kept[name], value)
    # draws that bring statistics of their own (an ensemble's members) keep them, and
    # their heads' features come from a pass with those, not with the shared pass's
    model = bn.Classifier(bn.bayesianize(_tiny(), stochastic="all"), num_data=150)
    g = torch.Generator().manual_seed(2)
    own = {n: torch.randn(2, *v.shape, generator=g) for n, v in model.point_values().items()}
    own["1.running_mean"] = torch.full((2, 8), 0.5)
    own["1.running_var"] = torch.full((2, 8), 4.0)
    inputs = x[:60]
    members = bn.Posterior(
        model,
        bn.posterior.DrawsSampler(own),
        normalization=inputs,
        distance=FeatureDistance(inputs, y[:60]),
    )
    draws = members.sample_params(None)
    assert torch.equal(draws["1.running_var"], own["1.running_var"])
    with_their_own = members.distance.statistics(members.net, draws)
    torch.testing.assert_close(draws["3.class_means"], with_their_own["3.class_means"])


def test_draws_kept_before_the_distance_get_their_heads_statistics_when_first_used(
    blobs, monkeypatch
):
    x, y = blobs
    torch.manual_seed(1)
    swag = bn.fit_swag(_tiny(), loader_of(x, y, 25), epochs=6, progress=False, seed=1)
    before = swag.predict(x[:10], num_samples=5)  # five draws kept, with BatchNorm statistics
    calls = count_draws_estimated(monkeypatch, FeatureDistance, "statistics")
    post = bn.distance_aware(swag, (x, y))
    assert calls == []  # nothing estimated until a prediction needs it
    after = post.predict(x[:10], num_samples=5)
    assert calls == [5]  # the kept draws' heads, and no new draw
    for name in swag.cached:
        assert post.cached[name] is swag.cached[name]
    torch.testing.assert_close(after, before)  # training inputs: within the distances


def test_inputs_beyond_the_training_distances_get_flatter_and_the_training_ones_do_not(swag, blobs):
    x, y = blobs
    post = bn.distance_aware(swag, (x, y))
    draws = post.sample_params(8)
    plain = {k: v for k, v in draws.items() if k.rpartition(".")[2] not in STATISTICS}
    p_plain = swag.predict(x, draws=plain)
    p_dist = post.predict(x, draws=draws)
    unchanged = (p_plain - p_dist).abs().amax(-1) < 1e-6  # [S, N]
    assert unchanged.float().mean() >= 0.98  # within each draw's 0.99 quantile
    far = 25 * torch.randn(40, 4, generator=torch.Generator().manual_seed(1))
    h_plain = metrics.predictive_entropy(swag.predict(far, draws=plain))
    h_dist = metrics.predictive_entropy(post.predict(far, draws=draws))
    assert h_plain.median() < 0.8  # the draws agree, confidently, on half the far inputs
    assert h_dist.min() > 0.8 * math.log(3)  # distance-aware: near uniform on every one


@pytest.mark.filterwarnings("ignore::bayesnet.CollapseWarning")  # two-epoch fits
def test_what_a_distance_aware_predictive_refuses(swag, blobs):
    x, y = blobs
    with pytest.raises(ValueError, match="already distance-aware"):
        bn.distance_aware(bn.distance_aware(swag, (x, y)), (x, y))
    with pytest.raises(ValueError, match="integer label"):
        FeatureDistance(x, y.float())
    post = bn.distance_aware(swag, (x, y))
    with pytest.raises(ValueError, match="mix them, then"):
        bn.Posterior.mixture([post, post])
    point = bn.baselines.point_estimate(_tiny(False), (x, y), epochs=1, progress=False)
    with pytest.raises(ValueError, match="needs weight draws"):
        bn.distance_aware(point, (x, y)).predict(x)
    reg = bn.fit_swag(
        _tiny(False), (x, y.float()[:, None]), epochs=2, task="regression", progress=False
    )
    with pytest.raises(ValueError, match="regressor"):
        bn.distance_aware(reg, (x, y.float()[:, None]))
    no_head = nn.Sequential(nn.Flatten())
    with pytest.raises(ValueError, match="nn.Linear head"):
        FeatureDistance(x, y).head(no_head)


@pytest.mark.filterwarnings("ignore::bayesnet.CollapseWarning")
def test_bn_fit_records_the_distance_in_its_rule(blobs):
    x, y = blobs
    post = bn.fit(_tiny(), (x, y), epochs=4, progress=False, seed=0)  # the default
    assert post.distance is not None
    assert post.info["rule"].endswith("; distance-aware (alpha 3, level 0.99)")
    alone = bn.fit(_tiny(), (x, y), epochs=4, distance=False, progress=False, seed=0)
    assert alone.distance is None and "distance" not in alone.info["rule"]
    # the same fit (seeded): with the same draws, the distance changes nothing within the
    # training data's distances
    draws = post.sample_params(8)
    plain = {k: v for k, v in draws.items() if k.rpartition(".")[2] not in STATISTICS}
    same = (alone.predict(x, draws=plain) - post.predict(x, draws=draws)).abs().amax(-1) < 1e-6
    assert same.float().mean() >= 0.98
    reg = bn.fit(_tiny(False), (x, y.float()[:, None]), epochs=4, task="regression", progress=False)
    assert reg.distance is None and "distance" not in reg.info["rule"]


def test_examples_are_sampled_as_pairs_and_inputs_as_before():
    x = torch.arange(300.0)[:, None].repeat(1, 2)
    y = torch.arange(300)
    loader = loader_of(x, y, 32, shuffle=False)
    inputs, labels = sample_examples(loader, 50)
    torch.testing.assert_close(inputs[:, 0].long(), labels)  # each input with its own label
    torch.testing.assert_close(sample_inputs(loader, 50), inputs)
    assert len(labels.unique()) == 50


class _LogSoftmaxed(nn.Module):
    """A network that ends as PyTorch's MNIST example does: ``F.log_softmax`` after the head."""

    def __init__(self) -> None:
        super().__init__()
        self.body = _tiny()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.log_softmax(self.body(x), dim=-1)


@pytest.mark.filterwarnings("ignore::bayesnet.CollapseWarning")  # two-epoch fit
def test_a_log_softmax_after_the_head_gives_the_heads_predictive_draw_for_draw(swag, blobs):
    x, y = blobs
    torch.manual_seed(0)
    wrapped = bn.fit_swag(
        _LogSoftmaxed(), loader_of(x, y, 25), epochs=6, starts=2, progress=False, seed=0
    )
    post = bn.distance_aware(wrapped, (x, y))
    far = torch.cat([x[:20], 25 * torch.randn(20, 4, generator=torch.Generator().manual_seed(1))])
    draws = post.sample_params(6)
    # the same draws (weights, BatchNorm and head statistics) on the network without it
    body = {k.removeprefix("body."): v for k, v in draws.items()}
    expected = bn.distance_aware(swag, (x, y)).predict(far, draws=body)
    torch.testing.assert_close(post.predict(far, draws=draws), expected)
    assert metrics.predictive_entropy(expected[:, 20:]).min() > 0.8 * math.log(3)
    assert bn.fit(_LogSoftmaxed(), (x, y), epochs=4, progress=False, seed=0).distance is not None


@pytest.mark.filterwarnings("ignore::bayesnet.CollapseWarning")
@pytest.mark.parametrize(
    ("net", "why"),
    [
        (lambda: nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 3), nn.Tanh()), "follows"),
        (lambda: nn.Sequential(nn.Unflatten(1, (4, 1)), nn.Conv1d(4, 3, 1), nn.Flatten()), "head"),
    ],
    ids=["something after the head", "no linear head"],
)
def test_a_network_without_a_linear_output_is_fitted_without_the_distance_and_says_why(
    blobs, net, why
):
    x, y = blobs
    post = bn.fit(net(), (x, y), epochs=4, progress=False, seed=0)
    assert post.distance is None and "distance" not in post.info
    assert "; not distance-aware: " in post.info["rule"] and why in post.info["rule"]
    with pytest.raises(DistanceUnsupported, match=why):
        bn.distance_aware(post, (x, y))
