"""SWAG and MultiSWAG: the moments are the iterates', draws are normalised per draw, starts
mix, and the posterior saves, loads and exports like every other."""

import copy
import math
import warnings

import pytest
import torch
from conftest import RecordingDropout, assert_same_predictions, count_draws_estimated, loader_of
from torch import nn

import bayesnet as bn
from bayesnet.infer.networks.swag import SwagMoments, collection_plan, collection_windows
from bayesnet.infer.shared.convergence import STILL_LEARNING_NATS, collection_fall
from bayesnet.infer.wrappers.recommended import epochs_per_start
from bayesnet.nn.normalization import statistics_per_draw


def test_moments_equal_those_of_the_iterates():
    g = torch.Generator().manual_seed(1)
    iterates = [torch.randn(7, generator=g) * (i + 1) for i in range(9)]
    moments = SwagMoments(rank=4)
    for w in iterates:
        moments.collect(w)
    stacked = torch.stack(iterates)
    mean = stacked.mean(0)
    assert moments.count == 9
    torch.testing.assert_close(moments.mean, mean)
    torch.testing.assert_close(moments.variance(), stacked.var(0, unbiased=False))
    torch.testing.assert_close(moments.deviations(), stacked[-4:] - mean)


def test_rank_zero_and_one_keep_what_they_say():
    for rank, rows in ((0, 0), (1, 1)):
        moments = SwagMoments(rank)
        for w in torch.eye(3):
            moments.collect(w)
        assert moments.deviations().shape == (rows, 3)
    with pytest.raises(ValueError, match="rank"):
        SwagMoments(-1)


def _tiny(batch_norm: bool = False) -> nn.Module:
    layers = [nn.Linear(4, 8)]
    layers += [nn.BatchNorm1d(8)] if batch_norm else []
    return nn.Sequential(*layers, nn.ReLU(), nn.Linear(8, 3))


@pytest.fixture(scope="module")
def blobs():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(120) % 3
    x = torch.randn(120, 4, generator=g) + 2.0 * nn.functional.one_hot(y, 4).float()
    return x, y


def test_fit_collects_the_iterates_it_trains_through(blobs, monkeypatch):
    seen = []
    collect = SwagMoments.collect

    def spy(self, w):
        seen.append(w.clone())
        collect(self, w)

    monkeypatch.setattr(SwagMoments, "collect", spy)
    x, y = blobs
    loader = loader_of(x, y, 20)  # 6 steps an epoch
    post = bn.fit_swag(
        _tiny(), loader, epochs=4, per_epoch=3, rank=5, scale=0.5, progress=False, seed=0
    )
    # the last half of 4 epochs of 6 steps, every 2 steps: 6 iterates
    assert len(seen) == 6 == post.info["collected"]
    stacked = torch.stack(seen)
    mean = stacked.mean(0)
    sampler = post.sampler
    torch.testing.assert_close(sampler.loc, mean)
    torch.testing.assert_close(sampler.scale, (stacked.var(0, unbiased=False) * 0.25).sqrt())
    torch.testing.assert_close(sampler.factor, (stacked[-5:] - mean) * math.sqrt(0.25 / 4))
    # the network predicts at the SWA mean
    flat = torch.cat([p.detach().reshape(-1) for p in post.model.net.parameters()])
    torch.testing.assert_close(flat, mean)


def test_draws_scatter_around_the_mean_with_the_given_scale(blobs):
    x, y = blobs
    net = _tiny()  # the same training twice (a loader seeded alike), sampled at two scales
    wide = bn.fit_swag(net, loader_of(x, y, 20), epochs=4, scale=1.0, progress=False, seed=0)
    narrow = bn.fit_swag(net, loader_of(x, y, 20), epochs=4, scale=0.25, progress=False, seed=0)
    spread = {}
    for name, post in (("wide", wide), ("narrow", narrow)):
        draws = torch.cat([v.flatten(1) for v in post.sampler.sample(4000).values()], 1)
        torch.testing.assert_close(draws.mean(0), post.sampler.loc, atol=0.02, rtol=0)
        spread[name] = draws.std(0).median()
    assert spread["wide"] / spread["narrow"] == pytest.approx(2.0, rel=0.05)
    torch.testing.assert_close(wide.sampler.loc, narrow.sampler.loc)
    still = bn.fit_swag(net, loader_of(x, y, 20), epochs=4, scale=0.0, progress=False)
    draws = still.sampler.sample(3)
    for v in draws.values():
        assert torch.equal(v[0], v[1])


def test_each_draw_gets_its_own_batchnorm_statistics(blobs):
    x, y = blobs
    post = bn.fit_swag(_tiny(batch_norm=True), loader_of(x, y, 20), epochs=4, progress=False)
    assert post.normalization is not None
    draws = post.sample_params(2)
    mean = post.net.get_buffer("1.running_mean")
    assert not torch.allclose(draws["1.running_mean"][0], mean)
    assert not torch.allclose(draws["1.running_mean"][0], draws["1.running_mean"][1])
    weights = {k: v for k, v in draws.items() if "running" not in k and "tracked" not in k}
    again = statistics_per_draw(post.net, weights, post.normalization)
    torch.testing.assert_close(again["1.running_mean"], draws["1.running_mean"])


def test_multiswag_mixes_starts_and_round_trips(blobs, tmp_path):
    x, y = blobs
    post = bn.fit_swag(_tiny(True), loader_of(x, y, 20), epochs=4, starts=3, progress=False)
    assert post.info["engine"] == "multiswag"
    assert len(post.info["starts"]) == 3
    assert len(post.sampler.components) == 3
    locs = [c.loc for c in post.sampler.components]
    assert not torch.allclose(locs[0], locs[1])
    probs = post.predict(x[:10], num_samples=6)
    assert probs.shape == (6, 10, 3)
    post.save(tmp_path / "swag.pt")
    loaded = bn.Posterior.load(tmp_path / "swag.pt", bn.Classifier(_tiny(True), 120))
    assert_same_predictions(post, loaded, x[:10], 6, seed=3)
    idata = loaded.to_arviz(x[:10], y[:10], num_samples=6)
    assert idata.posterior.sizes["chain"] == 3


@pytest.mark.parametrize(
    "epochs, starts, budget, each",
    [(20, 2, 1.5, 15), (10, 2, 1.5, 7), (6, 2, 1.5, 4), (5, 2, 1.5, 3), (30, 2, 1.5, 22),
     (20, 3, 1.5, 10), (1, 2, 1.5, 1), (20, 2, 1.3, 13), (4, 5, 5.0, 4)],
)  # fmt: skip
def test_bn_fit_spends_no_more_than_its_budget_in_whole_epochs(epochs, starts, budget, each):
    assert epochs_per_start(epochs, starts, budget) == each
    # never more than the budget but for one epoch a start; never a whole epoch a start less
    assert each * starts <= budget * epochs or each == 1
    assert (each + 1) * starts > budget * epochs


def test_leaves_the_callers_network_and_rng_alone(blobs):
    x, y = blobs
    net = _tiny(True).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    state = torch.random.get_rng_state()
    bn.fit_swag(net, loader_of(x, y, 20), epochs=2, progress=False, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert net.training
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k])


@pytest.mark.parametrize(
    "dropout, cycles, expected",
    [
        # 4 epochs of 6 steps; from the 13th step on SWAG collects
        ("before_collecting", 1, [True] * 12 + [False] * 12),
        ("on", 1, [True] * 24),
        ("off", 1, [False] * 24),
        # two cycles of 12 steps, each collecting over its second half
        ("before_collecting", 2, ([True] * 6 + [False] * 6) * 2),
    ],
)
def test_dropout_is_on_only_where_told(blobs, dropout, cycles, expected):
    x, y = blobs
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), RecordingDropout(0.5), nn.Linear(8, 3))
    post = bn.fit_swag(
        net, loader_of(x, y, 20), epochs=4, cycles=cycles, dropout=dropout, progress=False
    )
    spy = post.model.net[2]
    assert spy.modes == expected
    assert post.info["dropout"] == dropout
    assert net[2].modes == [] and net.training  # the caller's network is left alone
    assert not spy.training  # off after the fit, as the rest of the network


@pytest.mark.parametrize("dropout, said", [("before_collecting", "off"), ("on", "on")])
def test_the_rule_says_where_dropout_was(blobs, dropout, said):
    x, y = blobs
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    kwargs = {} if dropout == "before_collecting" else {"dropout": dropout}  # the default
    post = bn.fit(net, (x, y), epochs=4, distance=False, progress=False, seed=0, **kwargs)
    assert f"with any dropout layers {said} and sampled" in post.info["rule"]
    assert {s["dropout"] for s in post.info["starts"]} == {dropout}


def test_a_network_without_dropout_fits_the_same_under_every_choice(blobs):
    x, y = blobs
    net = _tiny(batch_norm=True)
    locs = [
        bn.fit_swag(
            net, loader_of(x, y, 20), epochs=4, dropout=d, progress=False, seed=0
        ).sampler.loc
        for d in ("on", "before_collecting", "off")
    ]
    assert torch.equal(locs[0], locs[1]) and torch.equal(locs[0], locs[2])


def test_refuses_what_it_cannot_do(blobs):
    x, y = blobs
    loader = loader_of(x, y, 60)  # 2 steps an epoch
    with pytest.raises(ValueError, match="collected 1 iterate"):
        bn.fit_swag(_tiny(), loader, epochs=2, per_epoch=1, progress=False)
    with pytest.raises(ValueError, match="collect_from"):
        bn.fit_swag(_tiny(), loader, collect_from=1.0, progress=False)
    with pytest.raises(ValueError, match="dropout"):
        bn.fit_swag(_tiny(), loader, dropout="sometimes", progress=False)
    with pytest.raises(TypeError):
        bn.fit_swag(_tiny(), loader, 3)  # options are keyword-only


@pytest.mark.parametrize("per_epoch", [4, 6])
def test_collects_per_epoch_iterates_as_asked(blobs, per_epoch):
    x, y = blobs
    loader = loader_of(x, y, 12)  # 10 steps an epoch
    post = bn.fit_swag(_tiny(), loader, epochs=4, per_epoch=per_epoch, progress=False, seed=0)
    assert post.info["collected"] == 2 * per_epoch  # the last two of four epochs


def test_cycles_mix_one_gaussian_per_cycle_of_one_run(blobs, monkeypatch):
    seen = []
    collect = SwagMoments.collect

    def spy(self, w):
        seen.append((id(self), w.clone()))
        collect(self, w)

    monkeypatch.setattr(SwagMoments, "collect", spy)
    x, y = blobs
    post = bn.fit_swag(_tiny(), loader_of(x, y, 20), epochs=4, cycles=2, progress=False, seed=0)
    # one training (4 epochs of 6 steps): each cycle of 12 steps collects in its second half
    assert len(post.info["history"]) == 4
    assert post.info["collected"] == 8 == len(seen)
    owners = list(dict.fromkeys(owner for owner, _ in seen))
    assert len(owners) == 2 == len(post.sampler.components)
    for owner, component in zip(owners, post.sampler.components, strict=True):
        iterates = torch.stack([w for o, w in seen if o == owner])
        assert len(iterates) == 4
        torch.testing.assert_close(component.loc, iterates.mean(0))
    assert not torch.allclose(post.sampler.components[0].loc, post.sampler.components[1].loc)


def test_each_draws_statistics_are_estimated_once_and_kept(blobs, tmp_path, monkeypatch):
    import bayesnet.posterior as posterior_module

    x, y = blobs
    post = bn.fit_swag(_tiny(True), loader_of(x, y, 20), epochs=4, starts=2, progress=False)
    estimate = statistics_per_draw
    calls = count_draws_estimated(monkeypatch, posterior_module, "statistics_and_features")
    first = post.predict(x[:10], num_samples=6)
    assert calls == [6]
    torch.testing.assert_close(post.predict(x[:10], num_samples=6), first)
    assert calls == [6]  # the second prediction reuses the draws and their statistics
    # the kept statistics are the draws' own, as re-estimating them gives
    kept = post.cached
    weights = {k: v for k, v in kept.items() if "running" not in k and "tracked" not in k}
    again = estimate(post.net, weights, post.normalization)
    torch.testing.assert_close(again["1.running_mean"], kept["1.running_mean"])
    torch.testing.assert_close(again["1.running_var"], kept["1.running_var"])
    torch.testing.assert_close(post.predict(x[:10], draws={**kept, **again}), first)
    # saved and loaded with the posterior: the loaded one predicts alike, estimating nothing
    post.save(tmp_path / "swag.pt")
    loaded = bn.Posterior.load(tmp_path / "swag.pt", bn.Classifier(_tiny(True), 120))
    torch.testing.assert_close(loaded.predict(x[:10], num_samples=6), first)
    assert calls == [6]
    # more draws than kept: only the new ones are estimated; the kept ones stay
    assert loaded.predict(x[:10], num_samples=9).shape[0] == 9
    assert calls == [6, 3]
    for name, value in kept.items():
        torch.testing.assert_close(loaded.cached[name][:6], value)


@pytest.mark.parametrize(
    ("batch_norm", "lr", "collect_lr"),
    [(False, 2e-3, 8e-3), (True, 2e-3, 8e-3), (True, 5e-3, 8e-3)],
)
def test_a_collector_in_your_own_loop_is_fit_swag(blobs, tmp_path, batch_norm, lr, collect_lr):
    """The caller's loop (Adam as fit_swag trains, at four times the rate where it
    collects, 8e-3 at most, the collector attached to the optimiser) gives fit_swag's
    moments and, saved and loaded, its predictions."""
    x, y = blobs
    net = _tiny(batch_norm)
    fitted = bn.fit_swag(
        net,
        loader_of(x, y, 20, shuffle=False),
        epochs=4,
        lr=lr,
        per_epoch=3,
        progress=False,
        seed=0,
    )
    assert fitted.info["swa_lr"] == collect_lr
    mine = copy.deepcopy(net)
    opt = torch.optim.Adam(mine.parameters(), lr=lr, foreach=True)
    swag = bn.swag.Collector(mine)
    swag.attach(opt, start=13, every=2)  # 6 steps an epoch: steps 13, 15, ... 23
    loader = loader_of(x, y, 20, shuffle=False)
    mine.train()
    for epoch in range(4):
        if epoch == 2:  # where fit_swag starts collecting, at its collection rate
            for group in opt.param_groups:
                group["lr"] = collect_lr
        for xb, yb in loader:
            opt.zero_grad()
            nn.functional.cross_entropy(mine(xb), yb).backward()
            opt.step()
    assert swag.count == fitted.info["collected"] == 6
    ours = swag.gaussian()
    for name in ("loc", "scale", "factor"):
        torch.testing.assert_close(getattr(ours, name), getattr(fitted.sampler, name))
    fitted.save(tmp_path / "fitted.pt")
    loaded = bn.Posterior.load(tmp_path / "fitted.pt", bn.Classifier(_tiny(batch_norm), 120))
    post = swag.posterior(loader)
    assert_same_predictions(loaded, post, x[:10], 6, seed=3)
    assert post.info["collected"] == 6 and post.info["collapsed"] == fitted.info["collapsed"]
    before = [p.clone() for p in mine.parameters()]
    swag.posterior((x, y))  # the caller's network is read, never changed
    assert all(torch.equal(a, b) for a, b in zip(before, mine.parameters(), strict=True))
    with pytest.raises(ValueError, match="at least two"):
        bn.swag.Collector(_tiny()).posterior((x, y))


def test_collection_windows_are_the_epochs_each_cycle_collects_in():
    settings = {"cycles": 1, "per_epoch": 4, "collect_from": 0.5}
    assert collection_windows(collection_plan(4, 3, settings), 3) == [(2, 3)]
    # two cycles of 6 steps: each collects from its fourth step on (steps 3-5 and 9-11)
    two = collection_windows(collection_plan(4, 3, {**settings, "cycles": 2}), 3)
    assert two == [(1, 1), (3, 3)]
    history = [{"loss": v} for v in (2.0, 1.0, 0.5, 0.2)]
    assert collection_fall(history, [(2, 3)]) == pytest.approx(0.3)
    assert collection_fall(history, [(0, 1), (2, 3)]) == pytest.approx(1.0)


def test_a_start_still_learning_while_it_collects_is_warned_about(digits):
    """At a quarter of the learning rate and 4 epochs the digits CNN's training NLL falls by
    about 0.6 nats over the two epochs SWAG collects in; trained 20 epochs, by 0.04."""
    train, _ = digits
    with pytest.warns(bn.ConvergenceWarning, match="still learning"):
        slow = bn.fit_swag(bn.zoo.digits_cnn(), train, epochs=4, lr=5e-4, seed=0, progress=False)
    assert slow.info["collection_fall"] > STILL_LEARNING_NATS
    with warnings.catch_warnings():
        warnings.simplefilter("error", bn.ConvergenceWarning)
        done = bn.fit_swag(bn.zoo.digits_cnn(), train, epochs=20, seed=0, progress=False)
    assert done.info["collection_fall"] < STILL_LEARNING_NATS / 2
    x = torch.linspace(-1, 1, 64)[:, None]
    regression = bn.fit_swag(
        bn.zoo.mlp(1, 1, hidden=(8,)), (x, x), epochs=4, task="regression", progress=False
    )
    assert "collection_fall" not in regression.info  # nats of a regression NLL are not these


def test_draws_that_leave_the_mode_are_warned_about_one_per_start(blobs, monkeypatch):
    """The predictive check catches SWAG sampled far outside its mode (a million times
    its covariance), and predicts with one draw per start at least: a healthy mixture of
    three starts is checked with three draws."""
    x, y = blobs
    drawn = []
    sample = bn.Posterior.sample_params
    monkeypatch.setattr(
        bn.Posterior, "sample_params", lambda self, n: drawn.append(n) or sample(self, n)
    )
    with pytest.warns(bn.CollapseWarning, match="ignores the data"):
        lost = bn.fit_swag(_tiny(), loader_of(x, y, 20), epochs=6, scale=1e6, progress=False)
    assert lost.info["collapsed"] and lost.info["train_predictive_nll"] > lost.info["null_nll"]
    drawn.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", bn.CollapseWarning)
        healthy = bn.fit_swag(_tiny(), loader_of(x, y, 20), epochs=30, starts=3, progress=False)
    assert drawn == [3] and not healthy.info["collapsed"]
    assert healthy.info["train_predictive_nll"] < 0.5 * healthy.info["null_nll"]
