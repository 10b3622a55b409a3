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

from ...models import BayesianModel
from ...nn.convert import bayesian_layers
from ...nn.layers import BayesianLayer
from ...priors import Hierarchical
from .elbo import ELBOTerms
from .guides import FlatDraw, MeanFieldNormal, PointMass
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
        self.model, self.guide = model, guide
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
        # the priors' means and scales over all weights, kept while the priors are the same
        # objects (fixed priors are built once per device; learned ones anew every step)
        self._flat_prior: tuple[list, torch.Tensor, torch.Tensor] | None = None
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
        flat = self.guide.functional_draw()
        values = flat.split(flat.value)
        params = {**self.tensors, **values}
        if self.reparam_sites:
            # the reparameterised layers run at the means; their hooks add the noise
            locs, scales = flat.split(flat.loc), flat.split(flat.scale)
            self._weights = values
            self._normals = {
                name: dist.Normal(locs[name], scales[name], validate_args=False)
                for name in self.reparam_sites
            }
            params.update({name: locs[name] for name in self.reparam_sites})
        self.model.check_inputs(x)
        output = functional_call(self.twin, params, (x,))
        self.model.check_output(output, y)
        data = self.model.log_likelihood(output, y, values).sum() * (
            self.model.num_data / x.shape[0]
        )
        priors = {n: layer.prior_distribution(p) for n, (layer, p) in self.priors.items()}
        kl = self._kl(flat, priors, values)
        ent = None
        if entropy:
            ent = torch.zeros((), device=x.device)
            if flat.scale is not None:  # Normal entropies; a point mass adds none
                ent = flat.scale.log().sum() + flat.scale.numel() * (
                    0.5 + 0.5 * math.log(2 * math.pi)
                )
        return ELBOTerms(data=data, kl=kl, entropy=ent)

    def _kl(self, flat: FlatDraw, priors, values) -> torch.Tensor:
        """The KL term as ``elbo_terms`` computes it: closed form where ``kl_divergence``
        knows the pair, else ``log q(w) - log p(w)`` at the draw. Against Normal priors (the
        common case) a Normal guide takes torch's own Normal-Normal formula, and a point
        mass the Normal log density, over all weights at once."""
        normals = [normal_of(priors[name]) for name, _, _ in flat.sites]
        if all(p is not None for p in normals):
            p_loc, p_scale = self._flat_normal_prior(normals)
            if flat.scale is None:  # a point mass: log q = 0, the KL term is -log p(w)
                prior = dist.Normal(p_loc, p_scale, validate_args=False)
                return -prior.log_prob(flat.value).sum()
            var_ratio = (flat.scale / p_scale).pow(2)
            t1 = ((flat.loc - p_loc) / p_scale).pow(2)
            return (0.5 * (var_ratio + t1 - 1 - var_ratio.log())).sum()
        kl = torch.zeros((), device=flat.value.device)
        locs = flat.split(flat.loc)
        scales = flat.split(flat.scale) if flat.scale is not None else {}
        for name, _, event_dim in flat.sites:
            prior, w = priors[name], values[name]
            if flat.scale is None:  # a point mass: log q = 0
                kl = kl - prior.log_prob(w).sum()
                continue
            q = dist.Normal(locs[name], scales[name], validate_args=False).to_event(event_dim)
            try:
                kl = kl + kl_divergence(q, prior).sum()
            except NotImplementedError:
                kl = kl + (q.log_prob(w) - prior.log_prob(w)).sum()
        return kl

    def _flat_normal_prior(self, normals: list[dist.Normal]) -> tuple[torch.Tensor, torch.Tensor]:
        """The Normal priors' means and scales as flat tensors, concatenated once for as long
        as the priors are the same objects (the held references keep their ids unique)."""
        cached = self._flat_prior
        if (
            cached is None
            or len(cached[0]) != len(normals)
            or any(a is not b for a, b in zip(cached[0], normals, strict=True))
        ):
            p_loc = torch.cat([p.loc.reshape(-1) for p in normals])
            p_scale = torch.cat([p.scale.reshape(-1) for p in normals])
            cached = self._flat_prior = (normals, p_loc, p_scale)
        return cached[1], cached[2]
