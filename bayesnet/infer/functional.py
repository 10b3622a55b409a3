"""The SVI step without Pyro's tracing: the ELBO terms as a function of the guide's tensors.

The traced step (``elbo.elbo_terms``) runs the guide and replays the model through Pyro's
effect handlers on every step, one message per site: on a small CNN that machinery costs
more than the arithmetic. When the guide is a mean-field Normal or a point mass over the
weights alone and every prior is a distribution per weight tensor, the same one-sample
terms are a short computation, built once per fit from the model and guide:

1. one standard-normal draw per weight site, in the guide's site order (the draws
   ``rsample`` would make, so both steps see the same noise under the same seed);
2. the network's plain-torch twin through ``torch.func.functional_call`` with the drawn
   weights and the model's own deterministic parameters and buffers;
3. the likelihood scaled by ``num_data / batch``, as the data plate scales it;
4. the KL in closed form where ``kl_divergence`` knows the pair, else ``log q(w) - log p(w)``
   at the draw, exactly as ``elbo_terms`` chooses.

Local reparameterization and flipout run the layer at the guide's means and add their
noise in a forward hook: one extra layer map per layer, as in ``reparam.py``.
"""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch
from torch import nn
from torch.distributions import kl_divergence
from torch.func import functional_call

from ..models import BayesianModel
from ..nn.convert import bayesian_layers
from ..nn.layers import BayesianLayer
from ..priors import Hierarchical
from .elbo import ELBOTerms
from .guides import MeanFieldNormal, PointMass, SiteDraw
from .reparam import flipout_noise, local_noise, normal_of

__all__ = ["FunctionalELBO", "functional_elbo", "STEPS"]

STEPS = ("auto", "functional", "traced")


def functional_elbo(
    model: BayesianModel, guide: nn.Module, reparam: str | None
) -> tuple[FunctionalELBO | None, str]:
    """The functional step for ``model`` and ``guide``, or None and the reason it cannot
    express them (then the traced step runs)."""
    if not isinstance(guide, (MeanFieldNormal, PointMass)):
        return None, f"the {type(guide).__name__} guide"
    if any(isinstance(layer.prior, Hierarchical) for _, layer in bayesian_layers(model.net)):
        return None, "a hierarchical prior (its scale is a latent site)"
    if set(guide.site_names) != set(model.weight_sites):
        return None, "latent sites other than the weights (e.g. a learned noise scale)"
    if not guide.all_real:
        return None, "a site with constrained support"
    return FunctionalELBO(model, guide, reparam), ""


class FunctionalELBO:
    """``(x, y) -> ELBOTerms`` for a model and guide fixed at construction."""

    def __init__(self, model: BayesianModel, guide: nn.Module, reparam: str | None) -> None:
        self.model, self.guide, self.reparam = model, guide, reparam
        self.twin = model.deterministic_net()
        for p in self.twin.parameters():
            p.requires_grad_(False)
        layers = dict(bayesian_layers(model.net))
        self.priors = {
            layer.site_name(n): (layer, n) for layer in layers.values() for n in layer.param_names
        }
        sites = set(self.priors)
        own = dict(model.net.named_parameters()) | dict(model.net.named_buffers())
        self.tensors = {
            name: own[name]
            for name, _ in [*self.twin.named_parameters(), *self.twin.named_buffers()]
            if name not in sites
        }
        modules = dict(model.net.named_modules())
        self.modes = [(modules[path], m) for path, m in self.twin.named_modules()]
        self._normals: dict[str, dist.Normal] = {}
        self._weights: dict[str, torch.Tensor] = {}
        self.reparam_sites = set()
        if reparam is not None:
            noise = local_noise if reparam == "local" else flipout_noise
            for path, layer in layers.items():
                twin_layer = self.twin.get_submodule(path)
                twin_layer.register_forward_hook(self._hook(layer, noise))
                self.reparam_sites.add(layer.site_name("weight"))

    def _hook(self, layer: BayesianLayer, noise):
        weight_site = layer.site_name("weight")

        def hook(module, args, output):
            normal = self._normals[weight_site]
            return output + noise(layer, args[0], output, self._weights[weight_site], normal)

        return hook

    def __call__(self, x: torch.Tensor, y: torch.Tensor, entropy: bool = False) -> ELBOTerms:
        for mine, twin in self.modes:
            twin.training = mine.training
        draws = self.guide.functional_draw()
        self._weights = {name: d.value for name, d in draws.items()}
        self._normals = {
            name: dist.Normal(draws[name].loc, draws[name].scale, validate_args=False)
            for name in self.reparam_sites
        }
        params = dict(self.tensors)
        for name, d in draws.items():
            # the reparameterised layers run at the means; their hooks add the noise
            params[name] = d.loc if name in self.reparam_sites else d.value
        self.model.check_inputs(x)
        output = functional_call(self.twin, params, (x,))
        self.model.check_output(output, y)
        data = self.model.log_likelihood(output, y, self._weights).sum() * (
            self.model.num_data / x.shape[0]
        )
        kl = torch.zeros((), device=x.device)
        ent = torch.zeros((), device=x.device) if entropy else None
        for name, d in draws.items():
            layer, param = self.priors[name]
            kl = kl + _kl(d, layer.prior_distribution(param))
            if ent is not None and d.scale is not None:
                ent = ent + (0.5 + 0.5 * math.log(2 * math.pi) + d.scale.log()).sum()
        return ELBOTerms(data=data, kl=kl, entropy=ent)


def _kl(d: SiteDraw, prior: dist.Distribution) -> torch.Tensor:
    """The site's KL term as ``elbo_terms`` computes it: closed form where
    ``kl_divergence`` knows the pair (Normal against Normal written out, the same formula
    without building distributions), else ``log q(w) - log p(w)`` at the draw."""
    if d.scale is None:  # a point mass: log q = 0
        return -prior.log_prob(d.value).sum()
    p = normal_of(prior)
    if p is not None:
        var_ratio = (d.scale / p.scale).pow(2)
        t1 = ((d.loc - p.loc) / p.scale).pow(2)
        return (0.5 * (var_ratio + t1 - 1 - var_ratio.log())).sum()
    q = dist.Normal(d.loc, d.scale, validate_args=False).to_event(d.event_dim)
    try:
        return kl_divergence(q, prior).sum()
    except NotImplementedError:
        return (q.log_prob(d.value) - prior.log_prob(d.value)).sum()
