"""Several starts of a fit as one posterior: fresh initial weights, the equal-weight
mixture, and ``fit_svi(starts=K)``."""

import json

import pytest
import torch
from torch import nn

import bayesnet as bn
from bayesnet.posterior import DrawsSampler, MixtureSampler


def _bn_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 8 * 8, 10),
    )


def _model(num_data: int = 100) -> bn.Classifier:
    torch.manual_seed(0)
    return bn.Classifier(bn.bayesianize(_bn_net(), stochastic="all"), num_data)


def test_reset_parameters_draws_fresh_weights_as_torch_does():
    model = _model()
    before = {k: v.clone() for k, v in model.point_values().items()}
    norm = model.net[1]
    norm.running_mean.fill_(3.0)
    norm.weight.data.fill_(5.0)
    torch.manual_seed(7)
    model.reset_parameters()
    first = {k: v.clone() for k, v in model.point_values().items()}
    torch.manual_seed(7)
    model.reset_parameters()
    assert all(torch.equal(first[k], v) for k, v in model.point_values().items())
    assert all(not torch.equal(before[k], first[k]) for k in before)
    # torch's default Conv2d / Linear init is uniform in +-1/sqrt(fan_in), filling the range
    for site, fan_in in (("0.weight", 9), ("4.weight", 256)):
        bound = fan_in**-0.5
        assert first[site].abs().max() <= bound
        assert first[site].abs().max() > 0.9 * bound
    assert torch.equal(norm.running_mean, torch.zeros(4))
    assert torch.equal(norm.weight.data, torch.ones(4))


def _draws(model: bn.Classifier, num: int, shift: float) -> dict[str, torch.Tensor]:
    return {k: v + shift * torch.randn(num, *v.shape) for k, v in model.point_values().items()}


def _components():
    """Two posteriors of one architecture whose networks differ in what they do not sample
    (BatchNorm's statistics and affine parameters)."""
    a, b = _model(), _model()
    with torch.no_grad():
        b.net[1].running_mean.uniform_(-1, 1)
        b.net[1].running_var.uniform_(0.5, 2.0)
        b.net[1].bias.fill_(0.3)
    return bn.Posterior(a, DrawsSampler(_draws(a, 3, 0.1))), bn.Posterior(
        b, DrawsSampler(_draws(b, 3, 0.1))
    )


def test_a_mixture_splits_its_draws_and_keeps_each_components_own_state():
    first, second = _components()
    mixture = bn.Posterior.mixture([first, second])
    x = torch.randn(6, 1, 8, 8)
    expected = torch.cat([first.predict(x, 3), second.predict(x, 2)])
    assert torch.allclose(mixture.predict(x, 5), expected, atol=1e-6)
    # the second component's draws through the first network predict something else:
    # the mixture must carry the second network's statistics with its draws
    alone = first.forward(x, second.sampler.sample(2))
    assert not torch.allclose(alone, expected[3:], atol=1e-3)
    assert mixture.predict(x, None).shape[0] == 6
    assert mixture.sample_params(1)["1.running_mean"].shape == (1, 4)


def test_a_mixture_saves_and_loads(tmp_path):
    first, second = _components()
    mixture = bn.Posterior.mixture([first, second], info={"engine": "test"})
    path = mixture.save(tmp_path / "mixture.pt")
    loaded = bn.Posterior.load(path, _model())
    assert isinstance(loaded.sampler, MixtureSampler) and loaded.info == {"engine": "test"}
    x = torch.randn(4, 1, 8, 8)
    assert torch.allclose(loaded.predict(x, 6), mixture.predict(x, 6), atol=1e-6)


def test_a_mixture_refuses_what_it_cannot_mix():
    first, _ = _components()
    other = bn.Classifier(bn.bayesianize(nn.Sequential(nn.Flatten(), nn.Linear(64, 10))), 100)
    with pytest.raises(ValueError, match="different architecture"):
        bn.Posterior.mixture([first, bn.Posterior(other, DrawsSampler({}))])
    per_draw = bn.Posterior(first.model, first.sampler, normalization=torch.randn(8, 1, 8, 8))
    with pytest.raises(ValueError, match="normalisation"):
        bn.Posterior.mixture([first, per_draw])
    with pytest.raises(ValueError, match="at least one"):
        bn.Posterior.mixture([])


@pytest.mark.slow
def test_fit_svi_with_starts_mixes_independent_fits(digits, tmp_path):
    train, test = digits
    subset = train
    loader = bn.data.to_loader(subset, 64, seed=0)
    torch.manual_seed(0)
    model = bn.Classifier(bn.bayesianize(bn.zoo.mlp(64, 10)), len(subset))
    log = tmp_path / "fit.jsonl"
    post = bn.fit_svi(
        model,
        loader,
        epochs=2,
        map_epochs=6,
        starts=2,
        run=bn.Run(seed=3, progress=False, checkpoint_dir=tmp_path / "run", log=log),
    )
    assert isinstance(post.sampler, MixtureSampler)
    runs = post.info["starts"]
    assert len(runs) == 2 and all(len(r["history"]) == 2 for r in runs)
    assert post.info["collapsed"] is False and not any(r["collapsed"] for r in runs)
    # each start found its own weights: their means are far apart, not one fit twice
    means = [c.guide.median() for c in post.sampler.components]
    site = model.weight_sites[0]
    gap = (means[0][site] - means[1][site]).abs().mean()
    assert gap > 0.1 * means[0][site].abs().mean()
    for k in (0, 1):
        assert (tmp_path / "run" / f"start{k}" / "svi.pt").exists()
    lines = [json.loads(line) for line in (tmp_path / "fit_start1.jsonl").read_text().splitlines()]
    assert {line["phase"] for line in lines} == {"map", "svi"}
    assert log.exists()
    # the same seed gives the same first start as a one-start fit
    torch.manual_seed(0)
    single = bn.fit_svi(
        bn.Classifier(bn.bayesianize(bn.zoo.mlp(64, 10)), len(subset)),
        bn.data.to_loader(subset, 64, seed=0),
        epochs=2,
        map_epochs=6,
        seed=3,
        progress=False,
    )
    assert torch.allclose(single.sampler.guide.median()[site], means[0][site])


def test_starts_are_checked():
    model = _model()
    loader = [(torch.randn(4, 1, 8, 8), torch.zeros(4, dtype=torch.long))]
    with pytest.raises(ValueError, match="starts"):
        bn.fit_svi(model, loader, starts=0)
    with pytest.raises(ValueError, match="distributed"):
        bn.fit_svi(model, loader, starts=2, run=bn.Run(distributed=True))


def test_a_mixture_exports_one_chain_per_component():
    first, second = _components()
    mixture = bn.Posterior.mixture([first, second])
    x = torch.randn(5, 1, 8, 8)
    idata = mixture.to_arviz(x, torch.arange(5), num_samples=6)
    assert idata.posterior.sizes["chain"] == 2 and idata.posterior.sizes["draw"] == 3
    # chain 1 is the second component: its BatchNorm statistics, repeated
    stats = idata.posterior["1.running_mean"].values
    assert torch.allclose(torch.as_tensor(stats[1, 0]), second.model.net[1].running_mean)


def test_a_mixture_of_per_draw_normalised_posteriors_estimates_each_draws_statistics():
    first, second = _components()
    inputs = torch.randn(16, 1, 8, 8)
    first, second = (
        bn.Posterior(p.model, p.sampler, normalization=inputs) for p in (first, second)
    )
    mixture = bn.Posterior.mixture([first, second])
    assert "1.running_mean" not in mixture.sampler.fixed[1]
    x = torch.randn(6, 1, 8, 8)
    expected = torch.cat([first.predict(x, 3), second.predict(x, 3)])
    assert torch.allclose(mixture.predict(x, 6), expected, atol=1e-5)


def _plain_net() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))


@pytest.mark.parametrize(
    ("engine", "per_chain"),
    [
        (
            lambda net, loader, seed: bn.baselines.point_estimate(
                net, loader, epochs=2, progress=False, seed=seed
            ),
            1,  # a point estimate holds one draw
        ),
        (
            lambda net, loader, seed: bn.fit_ivon(net, loader, epochs=2, progress=False, seed=seed),
            2,
        ),
    ],
    ids=["point_estimate", "ivon"],
)
def test_multi_start_wraps_any_engine_into_a_mixture_that_saves_loads_and_exports(
    engine, per_chain, digits, tmp_path
):
    """K starts of any fit, mixed: a deep ensemble is starts of the point estimate, and
    the same wrapper mixes starts of IVON."""
    x, y = digits[0].tensors
    loader = bn.data.to_loader(torch.utils.data.TensorDataset(x[:200], y[:200]), 50, seed=0)
    torch.manual_seed(0)
    net = _plain_net()

    def one(k, seed_k):
        with torch.random.fork_rng():
            torch.manual_seed(seed_k)
            member = bn.infer.starts.reinitialized(net) if k else net
        return engine(member, loader, seed_k)

    mixture = bn.infer.multi_start(one, 3, seed=5)
    assert isinstance(mixture.sampler, MixtureSampler) and len(mixture.sampler.components) == 3
    assert [i["engine"] for i in mixture.info["starts"]] == [mixture.info["engine"]] * 3
    # the components differ: three starts from three initial weights, not one fit thrice
    draws = mixture.predict(x[:20], 3)
    assert not torch.allclose(draws[0], draws[1], atol=1e-3)
    path = mixture.save(tmp_path / "mixture.pt")
    loaded = bn.Posterior.load(path, bn.Classifier(_plain_net(), 200))
    torch.manual_seed(1)
    expected = mixture.predict(x[:20], 6)
    torch.manual_seed(1)
    assert torch.allclose(loaded.predict(x[:20], 6), expected, atol=1e-6)
    idata = loaded.to_arviz(x[:20], y[:20], num_samples=6)
    assert idata.posterior.sizes["chain"] == 3 and idata.posterior.sizes["draw"] == per_chain
    assert idata.log_likelihood["obs"].shape == (3, per_chain, 20)


class _Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        tokens = x.reshape(len(x), 2, 8)
        return self.head(self.attention(tokens, tokens, tokens)[0].mean(1))


class _Scaled(nn.Module):
    """A bare parameter beside a layer: nothing resets it."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(16, 3)
        self.scale = nn.Parameter(torch.ones(3))

    def forward(self, x):
        return self.layer(x) * self.scale


def test_every_start_draws_every_parameter_afresh_or_the_network_is_refused():
    """The issue's case: MultiheadAttention (torch resets it with _reset_parameters) kept
    start 0's weights in every start; a bare nn.Parameter did too, silently."""
    net = _Attention()
    fresh = bn.infer.starts.reinitialized(net)
    for (name, before), after in zip(net.named_parameters(), fresh.parameters(), strict=True):
        if "bias" not in name:  # torch starts attention's biases at zero
            assert not torch.equal(before, after), name
    x, y = torch.randn(40, 16), torch.arange(40) % 3
    post = bn.fit_swag(net, (x, y), epochs=4, starts=2, progress=False, seed=0)
    first, second = (c.loc for c in post.sampler.components)
    assert not torch.allclose(first, second)
    with pytest.raises(ValueError, match=r"scale|the network.*\(_Scaled\).*reset_parameters"):
        bn.infer.starts.reinitialized(_Scaled())
    with pytest.raises(ValueError, match="_Scaled"):
        bn.baselines.deep_ensemble(_Scaled(), (x, y), members=2, epochs=1, progress=False)


def test_mixture_draws_spread_over_the_components_in_proportion():
    """The issue's case: with fewer draws than components the first components took them
    all (two draws of three starts never used the third); with S not a multiple of K the
    first ones got more."""
    components = [DrawsSampler({"w": torch.full((6, 1), float(k))}) for k in range(3)]
    mixture = MixtureSampler(components, [{}, {}, {}])
    torch.manual_seed(0)
    counts = torch.zeros(3)
    for _ in range(600):
        drawn = mixture.sample(2)["w"].flatten().long()
        assert len(drawn.unique()) == 2  # two draws: two components
        counts += torch.bincount(drawn, minlength=3)
    assert (counts / counts.sum() - 1 / 3).abs().max() < 0.03
    for num in (4, 5, 7):
        sizes = torch.bincount(mixture.sample(num)["w"].flatten().long(), minlength=3)
        assert sizes.sum() == num and sizes.max() - sizes.min() <= 1
