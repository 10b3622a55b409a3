"""The functional SVI step equals the traced one draw for draw, and fit_svi picks it."""

import pytest
import torch
from conftest import loader_of
from torch import nn

import bayesnet as bn
from bayesnet.infer import make_guide
from bayesnet.infer.svi.elbo import elbo_terms
from bayesnet.infer.svi.functional import functional_elbo
from bayesnet.infer.svi.reparam import make_reparam

PRIORS = {
    "normal": lambda: bn.priors.Normal(1.0),
    "fan_in": lambda: bn.priors.FanIn(),
    "scale_mixture": lambda: bn.priors.ScaleMixture(),  # no closed-form KL: Monte Carlo
    "laplace": lambda: bn.priors.Laplace(0.5),
    "student_t": lambda: bn.priors.StudentT(),
    "empirical_bayes": lambda: bn.priors.EmpiricalBayes(),
}


def _bn_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(256, 10),
    )


def _pair(model, guide, reparam, x, y, entropy=True, seed=3):
    fast, why = functional_elbo(model, guide, reparam)
    assert fast is not None, why
    torch.manual_seed(seed)
    handler = make_reparam(reparam)
    if handler is None:
        traced = elbo_terms(model, guide, x, y, entropy=entropy)
    else:
        with handler:
            traced = elbo_terms(model, guide, x, y, entropy=entropy)
    torch.manual_seed(seed)
    return traced, fast(x, y, entropy)


@pytest.mark.parametrize("reparam", [None, "local", "flipout"])
@pytest.mark.parametrize("prior", PRIORS)
def test_functional_terms_equal_traced_terms(digits, prior, reparam):
    (x, y), _ = (t.tensors for t in digits)
    x, y = x[:32], y[:32]
    model = bn.Classifier(
        bn.bayesianize(_bn_cnn(), prior=PRIORS[prior](), stochastic="all"), num_data=1437
    )
    model.train()
    guide = make_guide(model, bn.infer.MeanField(init_scale=0.05))
    with torch.no_grad():
        guide(x)
    traced, fast = _pair(model, guide, reparam, x, y)
    for name in ("data", "kl", "entropy"):
        a, b = getattr(traced, name), getattr(fast, name)
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-3), (name, a.item(), b.item())
    # the gradients agree as well (means, scales, BatchNorm's affine parameters)
    params = [*guide.parameters(), *(p for p in model.parameters() if p.requires_grad)]
    g_traced = torch.autograd.grad(traced.loss(1.0, 0.1), params, allow_unused=True)
    g_fast = torch.autograd.grad(fast.loss(1.0, 0.1), params, allow_unused=True)
    for a, b in zip(g_traced, g_fast, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            # the two sum the same terms in another order (log_softmax against the
            # Categorical's logits - logsumexp): float32 rounding of gradients in the
            # thousands, so the absolute tolerance is relative to the largest entry
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6 * a.abs().max().item())


def test_point_mass_terms_equal_traced_terms(digits):
    (x, y), _ = (t.tensors for t in digits)
    model = bn.Classifier(bn.bayesianize(_bn_cnn(), stochastic="all"), num_data=1437)
    guide = make_guide(model, "delta")
    with torch.no_grad():
        guide(x[:8])
    traced, fast = _pair(model, guide, None, x[:32], y[:32], entropy=False)
    assert torch.allclose(traced.data, fast.data, rtol=1e-5)
    assert torch.allclose(traced.kl, fast.kl, rtol=1e-5)
    # the point mass's KL is minus the log prior: here N(0, 1) over 1,350 weights
    weights = torch.cat([v.flatten() for v in guide.median().values()])
    expected = 0.5 * weights.square().sum() + 0.5 * weights.numel() * torch.log(
        torch.tensor(2 * torch.pi)
    )
    assert torch.allclose(fast.kl, expected, rtol=1e-5)


def test_what_the_functional_step_cannot_express_falls_back_and_says_why(digits):
    (x, y), _ = (t.tensors for t in digits)
    loader = loader_of(x[:128], y[:128], 64)
    hier = bn.Classifier(
        bn.bayesianize(_bn_cnn(), prior=bn.priors.Hierarchical(), stochastic="all"), 128
    )
    post = bn.fit_svi(hier, loader, epochs=1, progress=False, seed=0)
    assert post.info["step"] == "traced" and "hierarchical" in post.info["step_fallback"]
    low_rank = bn.Classifier(bn.bayesianize(_bn_cnn(), stochastic="all"), 128)
    post = bn.fit_svi(low_rank, loader, epochs=1, guide=bn.infer.LowRank(rank=2), progress=False)
    assert post.info["step"] == "traced" and "LowRank" in post.info["step_fallback"]
    with pytest.raises(ValueError, match="step='functional' cannot express a hierarchical"):
        bn.fit_svi(hier, loader, epochs=1, step="functional", progress=False)


def test_both_steps_fit_the_same_posterior(digits):
    """Same seed, same data: the two steps follow the same trajectory."""
    (x, y), _ = (t.tensors for t in digits)
    posts, net = {}, _bn_cnn()
    for step in ("functional", "traced"):
        model = bn.Classifier(bn.bayesianize(net, stochastic="all"), 256)
        posts[step] = bn.fit_svi(
            model, loader_of(x[:256], y[:256], 64), epochs=2, step=step, progress=False, seed=0
        )
        assert posts[step].info["step"] == step
    fast, traced = (posts[k].sampler.guide for k in ("functional", "traced"))
    for key in fast.locs:
        assert torch.allclose(fast.locs[key], traced.locs[key], atol=1e-5)
        assert torch.allclose(fast.raw_scale, traced.raw_scale, atol=1e-5)
    h_fast, h_traced = (posts[k].info["history"][-1]["loss"] for k in ("functional", "traced"))
    assert h_fast == pytest.approx(h_traced, rel=1e-4)


@pytest.mark.parametrize("shape", [(6, 5), (3, 5, 4, 4)])
def test_the_classifier_log_likelihood_is_the_categorical_log_prob(shape):
    """The step's shortcut to ``log p(y | x, w)`` equals the Categorical the Pyro model
    samples from, per image (per-pixel labels summed over the image)."""
    torch.manual_seed(0)
    logits = torch.randn(shape) * 3
    y = torch.randint(0, shape[1], (shape[0], *shape[2:]))
    model = bn.Classifier(bn.bayesianize(nn.Sequential(nn.Linear(2, 5))), num_data=10)
    expected = model.likelihood(logits).log_prob(y)
    assert expected.shape == (shape[0],)
    torch.testing.assert_close(model.log_likelihood(logits, y), expected)
