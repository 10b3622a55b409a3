"""Priors: exact scales and log-densities, devices, hierarchical sites, prior predictive."""

import math

import pytest
import torch
from torch.distributions import Laplace, Normal, StudentT

import bayesnet as bn


def _layer(prior, *args):
    return bn.nn.BayesConv2d(*(args or (3, 4, 3)), prior=prior)


def test_fan_in_scale_is_gain_over_sqrt_fan_in():
    layer = _layer(bn.priors.FanIn(2.0))
    d = layer.prior.distribution(layer, "weight")
    assert d.event_shape == (4, 3, 3, 3)
    assert torch.allclose(d.base_dist.scale, torch.tensor(2.0 / math.sqrt(27)))
    # A transposed conv's weight is [in, out, k, k]: an output sums over in * k * k inputs.
    t = bn.nn.BayesConvTranspose2d(3, 5, 2, prior=bn.priors.FanIn())
    assert torch.allclose(
        t.prior.distribution(t, "weight").base_dist.scale, torch.tensor(1 / math.sqrt(3 * 4))
    )


@pytest.mark.parametrize(
    ("prior", "reference"),
    [
        (bn.priors.Normal(0.5), Normal(0.0, 0.5)),
        (bn.priors.Laplace(0.3), Laplace(0.0, 0.3)),
        (bn.priors.StudentT(3.0, 0.2), StudentT(3.0, 0.0, 0.2)),
    ],
)
def test_iid_priors_have_the_reference_density(prior, reference):
    layer = _layer(prior)
    w = torch.randn(4, 3, 3, 3)
    assert torch.allclose(
        prior.distribution(layer, "weight").log_prob(w), reference.log_prob(w).sum()
    )


def test_scale_mixture_density():
    prior = bn.priors.ScaleMixture(0.25, 1.0, 0.1)
    layer = _layer(prior)
    w = torch.randn(4, 3, 3, 3)
    expected = torch.logaddexp(
        math.log(0.25) + Normal(0.0, 1.0).log_prob(w), math.log(0.75) + Normal(0.0, 0.1).log_prob(w)
    ).sum()
    assert torch.allclose(prior.distribution(layer, "weight").log_prob(w), expected, rtol=1e-5)


def test_pretrained_prior_is_centred_on_the_trained_weights():
    trained = bn.zoo.mlp(3, 2, hidden=(4,))
    bnet = bn.bayesianize(bn.zoo.mlp(3, 2, hidden=(4,)), prior=bn.priors.Pretrained(trained, 0.05))
    model = bn.Classifier(bnet, num_data=10)
    layer = bnet[1]
    d = layer.prior.distribution(layer, "weight")
    assert model.weight_sites[0] == "1.weight"
    assert torch.equal(d.base_dist.loc, trained[1].weight.detach())
    assert torch.allclose(d.base_dist.scale, torch.tensor(0.05))


def test_hierarchical_scale_is_a_latent_site_and_is_inferred(digits):
    train, _ = digits
    net = bn.bayesianize(bn.zoo.mlp(64, 10, hidden=(16,)), prior=bn.priors.Hierarchical(per="unit"))
    model = bn.Classifier(net, num_data=len(train))
    x, y = train.tensors
    loader = torch.utils.data.DataLoader(train, batch_size=256, shuffle=True)
    post = bn.fit_svi(model, loader, epochs=2, lr=1e-2, progress=False, seed=0)
    draws = post.sample_params(50)
    assert draws["1.scale"].shape == (50, 16) and (draws["1.scale"] > 0).all()
    assert draws["3.scale"].shape == (50, 10)
    assert post.predict(x[:5], num_samples=4).shape == (4, 5, 10)


def test_devices_and_unknown_names():
    layer = _layer(bn.priors.Normal(1.0)).double()
    assert layer.prior.distribution(layer, "bias").sample().dtype == torch.float64
    with pytest.raises(ValueError, match="unknown prior"):
        bn.priors.get("gaussianish")
    with pytest.raises(ValueError, match="scale > 0"):
        bn.priors.Normal(-1.0)


def test_prior_predictive_samples_functions(digits):
    _, test = digits
    model = bn.Classifier(
        bn.bayesianize(bn.zoo.digits_cnn(), prior=bn.priors.Normal(1.0)), num_data=100
    )
    probs = bn.Posterior.from_prior(model).predict(test.tensors[0][:20], num_samples=30)
    assert probs.shape == (30, 20, 10)
    assert torch.allclose(probs.sum(-1), torch.ones(30, 20))
    # Functions drawn from a wide prior disagree with each other.
    assert probs.std(0).mean() > 0.05
