"""Local reparameterization and flipout: same predictive distribution, less gradient noise."""

import pytest
import torch
from pyro import poutine

import bayesnet as bn
from bayesnet.infer import elbo_terms, make_guide, make_reparam

METHODS = [None, "local", "flipout"]


def _outputs(model, guide, x, reparam, draws):
    outs = []
    for _ in range(draws):
        handler = make_reparam(reparam)
        with handler if handler is not None else poutine.messenger.Messenger():
            trace = poutine.trace(guide).get_trace(x)
            outs.append(poutine.replay(model.net, trace=trace)(x))
    return torch.stack(outs)


@pytest.mark.parametrize("reparam", METHODS)
@pytest.mark.parametrize("conv", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_same_output_mean_and_variance(reparam, conv):
    layer = bn.nn.BayesConv2d(2, 3, 3, padding=1) if conv else bn.nn.BayesLinear(6, 3)
    model = bn.Classifier(torch.nn.Sequential(layer), num_data=100)
    x = torch.randn((8, 2, 4, 4) if conv else (8, 6))
    guide = make_guide(model, bn.infer.MeanField(init_scale=0.3))
    guide(x)
    with torch.no_grad():
        outs = _outputs(model, guide, x, reparam, 1500)
        loc_w, _ = guide.loc_and_scale("0.weight")
        loc_b, _ = guide.loc_and_scale("0.bias")
        mean = layer.functional(x, loc_w, loc_b)
        var = layer.functional(
            x.square(), torch.full_like(loc_w, 0.09), torch.full_like(loc_b, 0.09)
        )
    se = (var / 1500).sqrt()
    assert ((outs.mean(0) - mean).abs() / se).max() < 5
    assert torch.allclose(outs.var(0), var, rtol=0.2)


def _grad_variance(model, guide, x, y, reparam, repeats=40):
    grads = []
    for _ in range(repeats):
        handler = make_reparam(reparam)
        with handler if handler is not None else poutine.messenger.Messenger():
            loss = elbo_terms(model, guide, x, y).loss()
        (g,) = torch.autograd.grad(loss, [guide.raw_scale])
        grads.append(g.flatten())
    return torch.stack(grads).var(0).sum()


def test_local_and_flipout_lower_gradient_variance(digits):
    train, _ = digits
    x, y = train.tensors[0][:128], train.tensors[1][:128]
    model = bn.Classifier(bn.bayesianize(bn.zoo.mlp(64, 10, hidden=(32,))), num_data=len(train))
    guide = make_guide(model, bn.infer.MeanField(init_scale=0.1))
    guide(x, y)
    plain = _grad_variance(model, guide, x, y, None)
    local = _grad_variance(model, guide, x, y, "local")
    flipout = _grad_variance(model, guide, x, y, "flipout")
    assert local < plain / 3
    assert flipout < plain / 3
