"""Each weight draw's own BatchNorm statistics (``bayesnet.nn.normalization``)."""

import numpy as np
import torch
from torch import nn

import bayesnet as bn
from bayesnet.nn import statistics_per_draw
from bayesnet.nn.normalization import statistics_and_features


def _net():
    return nn.Sequential(
        nn.Linear(3, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 4), nn.BatchNorm1d(4)
    )


def test_statistics_are_those_of_training_mode_with_each_draw():
    """Layer by layer: the second BatchNorm sees the first normalised by its batch."""
    g = torch.Generator().manual_seed(0)
    net, x = _net().eval(), torch.randn(64, 3, generator=g)
    draws = {
        "0.weight": torch.randn(3, 5, 3, generator=g),
        "3.bias": torch.randn(3, 4, generator=g),
    }
    stats = statistics_per_draw(net, draws, x)
    assert set(stats) == {f"{i}.running_{s}" for i in (1, 4) for s in ("mean", "var")}
    for s in range(3):
        h = nn.functional.linear(x, draws["0.weight"][s], net[0].bias)
        torch.testing.assert_close(stats["1.running_mean"][s], h.mean(0))
        torch.testing.assert_close(stats["1.running_var"][s], h.var(0, unbiased=False))
        h = (h - h.mean(0)) / (h.var(0, unbiased=False) + net[1].eps).sqrt()
        h = nn.functional.linear(torch.relu(h * net[1].weight + net[1].bias), net[3].weight)
        h = h + draws["3.bias"][s]
        torch.testing.assert_close(stats["4.running_mean"][s], h.mean(0))
        torch.testing.assert_close(stats["4.running_var"][s], h.var(0, unbiased=False))
    # the network's own statistics and mode are untouched
    assert not net.training and torch.equal(net[1].running_mean, torch.zeros(5))
    assert net[1].num_batches_tracked.item() == 0


def test_the_estimating_pass_is_the_eval_pass_with_the_statistics_it_gives():
    """The biased variance normalised the batch: the inputs pass through each draw in eval
    mode, with its statistics, as they passed while those were estimated, so the features
    the pass keeps are the ones the draw predicts with."""
    g = torch.Generator().manual_seed(1)
    net, x = _net().eval(), torch.randn(64, 3, generator=g)
    draws = {"0.weight": torch.randn(3, 5, 3, generator=g)}
    stats, features = statistics_and_features(net, draws, x, head="3")
    assert len(features) == 3
    seen = []
    net[3].register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    for s in range(3):
        out = torch.func.functional_call(net, {k: v[s] for k, v in {**draws, **stats}.items()}, x)
        torch.testing.assert_close(features[s], seen[-1])
        # the last layer normalises the batch as training mode does: its mean and its
        # biased variance (the unbiased one would leave a variance of 64 / 63 here)
        var = net[3](seen[-1]).var(0, unbiased=False)
        torch.testing.assert_close(out.mean(0), net[4].bias.detach(), atol=1e-5, rtol=0)
        torch.testing.assert_close(out.var(0, unbiased=False), var / (var + net[4].eps))
    alone, none = statistics_and_features(net, draws, x)  # keeping features changes nothing
    assert none is None and set(alone) == set(stats)
    for name, value in alone.items():
        torch.testing.assert_close(stats[name], value)


def test_a_network_without_batchnorm_has_no_statistics():
    net = nn.Sequential(nn.Linear(3, 2))
    assert statistics_per_draw(net, {"0.weight": torch.zeros(2, 2, 3)}, torch.ones(4, 3)) == {}


def test_draws_that_carry_their_own_statistics_keep_them():
    """An ensemble's members have their own statistics: the posterior does not replace
    them, and a posterior without ``normalization`` inputs adds none."""
    model = bn.Classifier(bn.bayesianize(_net(), stochastic="all"), num_data=8)
    own = {n: torch.randn(2, *v.shape) for n, v in model.point_values().items()}
    own["1.running_mean"] = torch.full((2, 5), 3.0)
    stored = bn.posterior.DrawsSampler(own)
    with_inputs = bn.Posterior(model, stored, normalization=torch.randn(16, 3))
    draws = with_inputs.sample_params(None)
    assert torch.equal(draws["1.running_mean"], own["1.running_mean"])
    assert draws["4.running_mean"].shape == (2, 4)  # estimated: the members did not carry it
    plain = bn.Posterior(model, stored).sample_params(None)
    assert set(plain) == set(model.weight_sites) | {"1.running_mean"}


def test_hmc_draws_normalise_with_the_data_their_potential_saw():
    """Full-batch HMC normalises with all of x in every potential evaluation; each draw
    then predicts with its own statistics on x, not with the start's running ones."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 3, generator=g), torch.randint(0, 4, (40,), generator=g)
    model = bn.Classifier(bn.bayesianize(_net(), stochastic="all"), num_data=40)
    post = bn.fit_hmc(
        model, (x, y), num_samples=4, warmup=4, max_tree_depth=2, progress=False, seed=0
    )
    assert torch.equal(post.normalization, x)
    draws = post.sample_params(None)
    assert draws["1.running_mean"].shape == (4, 5)
    h = nn.functional.linear(x, draws["0.weight"][0], draws["0.bias"][0])
    torch.testing.assert_close(draws["1.running_mean"][0], h.mean(0))
    idata = post.to_arviz(x[:8], y[:8])  # the exported predictions use the same statistics
    assert idata.posterior["1.running_mean"].shape == (1, 4, 5)
    expected = post.forward(x[:8], draws)
    np.testing.assert_allclose(idata.posterior_predictive["probs"].values[0], expected, atol=1e-6)


def test_sync_batchnorm_is_a_normalisation_layer_everywhere():
    """torchrun users convert BatchNorm to SyncBatchNorm: the head rule, per-draw
    statistics and the SVI warm start must see it as they see BatchNorm."""
    net = nn.SyncBatchNorm.convert_sync_batchnorm(bn.zoo.cnn(batch_norm=True, image_size=8))
    assert isinstance(net[1], nn.SyncBatchNorm)
    assert bn.nn.normalization.statistic_names(net) == [
        "1.running_mean",
        "1.running_var",
        "5.running_mean",
        "5.running_var",
    ]
    bayesian = dict(bn.nn.bayesian_layers(bn.bayesianize(net, stochastic="head")))
    assert list(bayesian) == ["9", "11"]  # the convolutions before the last norm stay point
    x = torch.rand(16, 1, 8, 8)
    draws = {
        "0.weight": net[0].weight.detach()[None]
        * torch.tensor([1.0, 2.0])[:, None, None, None, None]
    }
    stats = statistics_per_draw(net, draws, x)
    assert stats["1.running_mean"].shape == (2, 16)
    torch.testing.assert_close(
        stats["1.running_mean"][1] - net[0].bias.detach(),
        2 * (stats["1.running_mean"][0] - net[0].bias.detach()),
    )
