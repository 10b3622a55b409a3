"""IVON through the authors' ivon-opt: draws differ, the posterior narrows with more data,
and it saves, loads and mixes like every other posterior."""

import pytest
import torch
from conftest import assert_same_predictions, loader_of
from torch import nn

import bayesnet as bn

pytest.importorskip("ivon")


def _logistic(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    y = (x @ torch.tensor([2.0, -1.0]) + 0.5 * torch.randn(n, generator=g) > 0).long()
    return x, y


def _fit(n: int, **options):
    x, y = _logistic(n)
    loader = loader_of(x, y, 32)
    return bn.fit_ivon(nn.Linear(2, 2), loader, progress=False, seed=0, **options)


def test_draws_differ_and_narrow_with_more_data():
    # the same number of steps on 8x more data: the posterior's scale falls by about
    # sqrt(8) (IVON's precision is ess * (hess + delta), ess = N / T)
    small = _fit(256, epochs=16, temperature=1.0, beta2=0.99)
    large = _fit(2048, epochs=2, temperature=1.0, beta2=0.99)
    draws = small.sampler.sample(5)["weight"]
    assert not torch.allclose(draws[0], draws[1])
    ratio = small.sampler.scale.median() / large.sampler.scale.median()
    assert 2.0 < ratio < 4.5
    assert small.info["median_std"] == pytest.approx(small.sampler.scale.median().item())


def test_temperature_divides_the_variance():
    warm = _fit(512, epochs=4, temperature=1.0)
    cold = _fit(512, epochs=4, temperature=0.01)
    assert cold.info["ess"] == pytest.approx(100 * warm.info["ess"])
    assert cold.sampler.scale.median() < warm.sampler.scale.median() / 3


def test_classifies_and_round_trips(tmp_path, digits):
    train, test = digits
    loader = bn.data.to_loader(train, 64, seed=0)
    net = bn.zoo.build("bn_cnn", 10, (1, 8, 8))
    post = bn.fit_ivon(net, loader, epochs=8, starts=2, progress=False, seed=0)
    assert post.info["engine"] == "multiivon"
    x, y = test.tensors
    probs = post.predict(x, num_samples=8)
    assert bn.evaluate.metrics.accuracy(probs, y) > 0.9
    post.save(tmp_path / "ivon.pt")
    loaded = bn.Posterior.load(
        tmp_path / "ivon.pt", bn.Classifier(bn.zoo.build("bn_cnn", 10, (1, 8, 8)), len(train))
    )
    assert_same_predictions(post, loaded, x[:20], 4)


def test_needs_a_loader_with_a_length():
    x, y = _logistic(64)
    with pytest.raises(ValueError, match="with a length"):
        bn.fit_ivon(nn.Linear(2, 2), ((x, y) for _ in range(2)), progress=False)


def test_your_own_ivon_loop_gives_fit_ivons_posterior(tmp_path):
    """Train with ivon.IVON in a plain loop (one sampled gradient per step, a cosine
    schedule, as fit_ivon trains); bn.ivon.posterior gives fit_ivon's Gaussian and, after
    save/load, its predictions."""
    import ivon

    x, y = _logistic(128)
    fitted = bn.fit_ivon(
        nn.Linear(2, 2), loader_of(x, y, 32, shuffle=False), epochs=3, progress=False, seed=0
    )
    net = nn.Linear(2, 2)
    net.load_state_dict(dict(zip(("weight", "bias"), _initial(), strict=True)))
    torch.manual_seed(0)  # as the fit's seeded fork: the same draws in the same order
    opt = ivon.IVON(net.parameters(), lr=0.5, ess=128, hess_init=1.0, beta2=0.999)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 3 * 4)
    for _ in range(3):
        for xb, yb in loader_of(x, y, 32, shuffle=False):
            opt.zero_grad()
            with opt.sampled_params(train=True):
                nn.functional.cross_entropy(net(xb), yb).backward()
            opt.step()
            schedule.step()
    post = bn.ivon.posterior(net, opt, (x, y))
    torch.testing.assert_close(post.sampler.loc, fitted.sampler.loc)
    torch.testing.assert_close(post.sampler.scale, fitted.sampler.scale)
    fitted.save(tmp_path / "ivon.pt")
    loaded = bn.Posterior.load(tmp_path / "ivon.pt", bn.Classifier(nn.Linear(2, 2), 128))
    assert_same_predictions(loaded, post, x[:10], 5, seed=2)
    with pytest.raises(ValueError, match="no IVON state"):
        bn.ivon.posterior(net, torch.optim.Adam(net.parameters()), (x, y))


def _initial():
    """nn.Linear(2, 2)'s initial weights under torch.manual_seed(0)."""
    torch.manual_seed(0)
    layer = nn.Linear(2, 2)
    return layer.weight.detach().clone(), layer.bias.detach().clone()
