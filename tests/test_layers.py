"""Bayesian layers are drop-in replacements for the torch layers."""

import copy
import pickle

import pyro
import pytest
import torch
from pyro import poutine
from torch import nn

import bayesnet as bn
from bayesnet.infer import make_guide
from bayesnet.nn import BayesianLayer

CASES = [
    (bn.nn.BayesLinear, nn.Linear, (5, 3), (4, 5)),
    (bn.nn.BayesConv1d, nn.Conv1d, (2, 3, 3), (4, 2, 10)),
    (bn.nn.BayesConv2d, nn.Conv2d, (2, 3, 3), (4, 2, 8, 8)),
    (bn.nn.BayesConv3d, nn.Conv3d, (2, 3, 3), (4, 2, 5, 5, 5)),
    (bn.nn.BayesConvTranspose2d, nn.ConvTranspose2d, (2, 3, 3), (4, 2, 6, 6)),
]


@pytest.mark.parametrize(("bayes", "plain", "args", "shape"), CASES)
def test_same_output_shape_as_torch_layer(bayes, plain, args, shape):
    x = torch.randn(shape)
    layer = (
        bayes(*args, bias=False)
        if bayes is bn.nn.BayesLinear
        else bayes(*args, stride=1, padding=1)
    )
    ref = plain(*args, bias=False) if plain is nn.Linear else plain(*args, stride=1, padding=1)
    assert isinstance(layer, plain)
    assert layer(x).shape == ref(x).shape


@pytest.mark.parametrize(("bayes", "plain", "args", "shape"), CASES)
def test_prior_forward_draws_fresh_weights(bayes, plain, args, shape):
    layer = bayes(*args, prior=bn.priors.Normal(1.0))
    x = torch.randn(shape)
    assert not torch.allclose(layer(x), layer(x))


def test_layers_work_inside_user_modules_next_to_plain_layers():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = bn.nn.BayesConv2d(1, 4, 3, padding=1)
            self.norm = nn.BatchNorm2d(4)
            self.head = nn.Sequential(nn.Flatten(), bn.nn.BayesLinear(4 * 8 * 8, 10))

        def forward(self, x):
            return self.head(torch.relu(self.norm(self.conv(x))))

    model = bn.Classifier(Net(), num_data=100)
    assert model.weight_sites == ["conv.weight", "conv.bias", "head.1.weight", "head.1.bias"]
    assert model.net(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_zero_guide_scale_reproduces_the_deterministic_net(digits):
    net = bn.zoo.digits_cnn()
    model = bn.Classifier(bn.bayesianize(net), num_data=100)
    guide = make_guide(model, "mean_field")
    x = digits[1].tensors[0][:16]
    guide(x)
    guide.raw_scale.data.fill_(-float("inf"))  # softplus(-inf) = 0: every scale is exactly zero
    with torch.no_grad(), pyro.validation_enabled(False):
        trace = poutine.trace(guide).get_trace(x)
        out = poutine.replay(model.net, trace=trace)(x)
    assert torch.equal(out, net(x))


def test_bias_false_has_no_bias_site():
    layer = bn.nn.BayesLinear(3, 2, bias=False)
    model = bn.Classifier(nn.Sequential(layer), num_data=10)
    assert model.weight_sites == ["0.weight"]


def test_priors_follow_the_layer_device_and_dtype():
    layer = bn.nn.BayesLinear(3, 2, prior=bn.priors.FanIn()).double()
    d = layer.prior.distribution(layer, "weight")
    assert d.sample().dtype == torch.float64 and d.event_shape == (2, 3)
    assert layer(torch.randn(4, 3, dtype=torch.float64)).dtype == torch.float64


def test_copy_pickle_and_to_torch_keep_the_right_classes():
    layer = bn.nn.BayesConv2d(1, 2, 3)
    assert type(copy.deepcopy(layer)) is bn.nn.BayesConv2d
    assert type(pickle.loads(pickle.dumps(layer))) is bn.nn.BayesConv2d
    plain = layer.to_torch()
    assert type(plain) is nn.Conv2d
    assert torch.equal(plain.weight, layer.weight_point)
    assert not isinstance(plain, BayesianLayer)
