"""Our split ELBO against Pyro's own estimators, draw for draw."""

import pyro
import pytest
import torch
from conftest import conjugate_model
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO

import bayesnet as bn
from bayesnet.infer import elbo_terms, make_guide


def _model(prior):
    net = bn.nn.BayesLinear(3, 2, prior=prior)
    return bn.Classifier(net, num_data=20)


@pytest.mark.parametrize("family", [bn.infer.MeanField, bn.infer.LowRank])
def test_monte_carlo_terms_equal_trace_elbo(family):
    model = _model(bn.priors.StudentT(3.0, 0.5))  # no analytic KL: all terms are MC
    x, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
    guide = make_guide(model, family(init_scale=0.3))
    guide(x, y)
    pyro.set_rng_seed(1)
    ours = elbo_terms(model, guide, x, y).loss()
    pyro.set_rng_seed(1)
    theirs = Trace_ELBO(max_plate_nesting=1).differentiable_loss(model, guide, x, y)
    assert torch.allclose(ours, theirs, rtol=1e-5)


def test_analytic_terms_equal_trace_mean_field_elbo():
    model = _model(bn.priors.Normal(0.7))
    x, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
    guide = make_guide(model, bn.infer.MeanField(init_scale=0.3))
    guide(x, y)
    pyro.set_rng_seed(2)
    ours = elbo_terms(model, guide, x, y)
    pyro.set_rng_seed(2)
    theirs = TraceMeanField_ELBO(max_plate_nesting=1).differentiable_loss(model, guide, x, y)
    assert torch.allclose(ours.loss(), theirs, rtol=1e-5)


def test_analytic_kl_is_exact_for_normal_guide_and_prior(conjugate):
    model = conjugate_model(conjugate)
    guide = make_guide(model, bn.infer.MeanField(init_scale=0.2))
    guide(conjugate["x"], conjugate["y"])
    loc = guide.loc_and_scale("weight")[0].detach()
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(loc, 0.2), torch.distributions.Normal(0.0, conjugate["s"])
    ).sum()
    kl = elbo_terms(model, guide, conjugate["x"], conjugate["y"]).kl
    assert torch.allclose(kl, expected, rtol=1e-4)


def test_tempering_at_one_is_the_plain_elbo(conjugate):
    model = conjugate_model(conjugate)
    guide = make_guide(model, "mean_field")
    guide(conjugate["x"], conjugate["y"])
    terms = elbo_terms(model, guide, conjugate["x"], conjugate["y"], entropy=True)
    assert torch.allclose(terms.loss(temperature=1.0), terms.kl - terms.data)
    # T -> cold: data and prior energy weigh 1/T, the entropy keeps weight 1.
    t = 0.25
    energy = -(terms.data - terms.kl - terms.entropy)  # -(data + E log p)
    assert torch.allclose(terms.loss(temperature=t), energy / t - terms.entropy, rtol=1e-5)
