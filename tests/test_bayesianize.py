"""bayesianize: policy by module type, weights kept, the original left alone."""

import pytest
import torch
from torch import nn

import bayesnet as bn
from bayesnet.nn import BayesianLayer, bayesian_layers, point_layers


class MyLinearThing(nn.Module):
    """Not an nn.Linear, whatever its name says."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 4))

    def forward(self, x):
        return x @ self.w


def make_net():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 4),
        MyLinearThing(),
        nn.Embedding(3, 4),
        nn.LayerNorm(4),
        nn.Linear(4, 3),
    )


def test_every_linear_and_conv_becomes_bayesian_and_the_rest_stays():
    net = make_net()
    bnet = bn.bayesianize(net, stochastic="all")
    paths = [p for p, _ in bayesian_layers(bnet)]
    assert paths == ["0", "4", "8"]
    for index in (1, 5, 6, 7):
        assert not isinstance(bnet[index], BayesianLayer)
        assert all(p.requires_grad for p in bnet[index].parameters())
    assert type(bnet[5]) is MyLinearThing
    # weights kept as the point values; the original network is untouched
    assert torch.equal(bnet[0].weight_point, net[0].weight)
    assert not any(isinstance(m, BayesianLayer) for m in net.modules())


def test_a_normalised_network_keeps_the_layers_before_its_last_batchnorm_deterministic():
    """With ``stochastic="head"`` only the layers after the last BatchNorm are Bayesian
    (their draws would otherwise be normalised with statistics of other weights); the ones
    before stay learned points. By default (``"auto"``) a BatchNorm network is Bayesian
    throughout, each draw with its own statistics (fit_svi's ``normalization="auto"``)."""
    assert [p for p, _ in bayesian_layers(bn.bayesianize(make_net()))] == ["0", "4", "8"]
    bnet = bn.bayesianize(make_net(), stochastic="head")
    assert [p for p, _ in bayesian_layers(bnet)] == ["4", "8"]
    assert type(bnet[0]) is nn.Conv2d and bnet[0].weight.requires_grad
    # two BatchNorms: the last one decides
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3),
        nn.BatchNorm2d(2),
        nn.Conv2d(2, 2, 3),
        nn.BatchNorm2d(2),
        nn.Flatten(),
        nn.Linear(8, 3),
    )
    assert [p for p, _ in bayesian_layers(bn.bayesianize(net, stochastic="head"))] == ["5"]
    # nothing after the last BatchNorm, no BatchNorm, running statistics off, or "all":
    # every layer
    ends = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 3), nn.BatchNorm1d(3))
    assert [p for p, _ in bayesian_layers(bn.bayesianize(ends, stochastic="head"))] == ["0", "2"]
    plain = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 3))
    assert [p for p, _ in bayesian_layers(bn.bayesianize(plain))] == ["0", "2"]
    batch = nn.Sequential(
        nn.Linear(4, 4), nn.BatchNorm1d(4, track_running_stats=False), nn.Linear(4, 3)
    )
    assert [p for p, _ in bayesian_layers(bn.bayesianize(batch, stochastic="head"))] == ["0", "2"]
    assert [p for p, _ in bayesian_layers(bn.bayesianize(net, stochastic="all"))] == ["0", "2", "5"]
    # an explicit choice wins over the default
    assert [p for p, _ in bayesian_layers(bn.bayesianize(net, include=[nn.Conv2d]))] == ["0", "2"]
    with pytest.raises(ValueError, match="unknown stochastic 'some'"):
        bn.bayesianize(net, stochastic="some")


def test_by_default_a_cnn_keeps_its_convolutions_and_bayesianizes_its_linear_head():
    """Convolutions followed by a Linear layer are the feature extractor: learned points."""
    bnet = bn.bayesianize(bn.zoo.digits_cnn())
    assert [type(m) for _, m in bayesian_layers(bnet)] == [bn.nn.BayesLinear] * 2
    assert [type(m) for m in bnet.modules() if isinstance(m, nn.Conv2d)] == [nn.Conv2d] * 2
    assert point_layers(bnet) == [p for p, m in bnet.named_modules() if type(m) is nn.Conv2d]
    full = bn.bayesianize(bn.zoo.digits_cnn(), stochastic="all")
    assert [type(m) for _, m in bayesian_layers(full)][:2] == [bn.nn.BayesConv2d] * 2
    # no Linear layer after the convolutions: nothing to keep the posterior on, all Bayesian
    fcn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 3, 1))
    assert [p for p, _ in bayesian_layers(bn.bayesianize(fcn))] == ["0", "2"]
    decoder = nn.Sequential(
        nn.Linear(4, 8), nn.Unflatten(1, (2, 2, 2)), nn.ConvTranspose2d(2, 1, 2)
    )
    assert [p for p, _ in bayesian_layers(bn.bayesianize(decoder))] == ["0", "2"]
    # a convolution between two Linear layers still precedes one
    mixed = nn.Sequential(
        nn.Linear(4, 8), nn.Unflatten(1, (2, 4)), nn.Conv1d(2, 2, 1), nn.Flatten(), nn.Linear(8, 3)
    )
    assert [p for p, _ in bayesian_layers(bn.bayesianize(mixed))] == ["0", "4"]


def test_last_layer_touches_only_the_last_layer_and_freezes_the_others():
    bnet = bn.bayesianize(make_net(), last_layer=True)
    assert [p for p, _ in bayesian_layers(bnet)] == ["8"]
    assert not bnet[0].weight.requires_grad and not bnet[4].weight.requires_grad
    assert bnet[1].weight.requires_grad  # normalisation stays a learned point estimate


def test_include_exclude_and_policy():
    assert [p for p, _ in bayesian_layers(bn.bayesianize(make_net(), include=[nn.Conv2d]))] == ["0"]
    assert [p for p, _ in bayesian_layers(bn.bayesianize(make_net(), exclude=["0", "8"]))] == ["4"]
    frozen = bn.bayesianize(make_net(), policy=lambda path, m: "frozen" if path == "1" else None)
    assert not frozen[1].weight.requires_grad
    with pytest.raises(ValueError, match="policy"):
        bn.bayesianize(make_net(), policy=lambda path, m: "maybe")
    with pytest.raises(ValueError, match="selected no layer"):
        bn.bayesianize(make_net(), include=[nn.Conv3d])


def test_subclasses_of_linear_are_left_deterministic():
    class Scaled(nn.Linear):
        def forward(self, x):
            return 2 * super().forward(x)

    bnet = bn.bayesianize(nn.Sequential(Scaled(3, 3), nn.Linear(3, 2)))
    assert type(bnet[0]) is Scaled and isinstance(bnet[1], BayesianLayer)


def test_prior_is_applied_and_deterministic_round_trip():
    net = make_net()
    bnet = bn.bayesianize(net, prior=bn.priors.Laplace(0.3))
    assert all(isinstance(m.prior, bn.priors.Laplace) for _, m in bayesian_layers(bnet))
    plain = bn.nn.deterministic(bnet)
    net.eval(), plain.eval()
    x = torch.rand(5, 1, 4, 4)
    assert torch.equal(plain[:5](x), net[:5](x))
