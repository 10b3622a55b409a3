"""The log joint ``log p(w) + scale * log p(y | x, w)`` as a pure function of the weight
dict, over the plain-torch network (``torch.func.functional_call``): the potential of
full-batch HMC (``scale = 1``) and the minibatch log posterior of SG-MCMC
(``scale = num_data / batch``). Models whose only latent sites are the weights, under
fixed priors."""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.func import functional_call

from ...models import BayesianModel
from ...nn.convert import bayesian_layers, point_layers

__all__ = ["LogJoint", "expressible", "warn_fixed_point_layers"]


def expressible(model: BayesianModel) -> bool:
    """Whether ``LogJoint`` expresses ``model``: no latent sites besides the weights (no
    hierarchical scales, no learned noise), every prior fixed."""
    return set(model.latent_sites) == set(model.weight_sites) and all(
        layer.prior.cacheable for _, layer in bayesian_layers(model.net)
    )


def warn_fixed_point_layers(model: BayesianModel, engine: str) -> None:
    """Warn when ``model`` has Linear/Conv layers kept as trainable point estimates: a
    sampler moves the Bayesian weights only and holds those at their current values, which
    for a freshly initialised network are random."""
    paths = point_layers(model.net)
    if paths:
        warnings.warn(
            f"{engine} samples the Bayesian layers only; the point-estimate layers {paths} "
            "keep their current weights (by default bayesianize keeps a network's feature "
            "extractor, its convolutions and the layers before its last BatchNorm, as point "
            "estimates, which fit_svi trains). Make them Bayesian: bayesianize(net, "
            "stochastic='all'), or train the network first.",
            UserWarning,
            stacklevel=3,
        )


class LogJoint:
    """``log p(w) + scale * sum_i log p(y_i | x_i, w)`` for a weight dict ``w``."""

    def __init__(self, model: BayesianModel, net: nn.Module | None = None) -> None:
        self.net = net if net is not None else model.deterministic_net()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.model = model
        self.priors = {
            layer.site_name(name): layer.prior_distribution(name)
            for _, layer in bayesian_layers(model.net)
            for name in layer.param_names
        }

    def __call__(
        self, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, scale: float = 1.0
    ) -> torch.Tensor:
        output = functional_call(self.net, params, (x,))
        log_lik = self.model.log_likelihood(output, y, params).sum()
        log_prior = sum(prior.log_prob(params[name]) for name, prior in self.priors.items())
        return log_prior + scale * log_lik
