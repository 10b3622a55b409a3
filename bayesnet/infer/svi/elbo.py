"""The ELBO, split into its data term and its KL term.

Pyro's ``Trace_ELBO`` / ``TraceMeanField_ELBO`` return only the total. Training needs the
two parts apart (progress display, KL annealing, tempering), so we evaluate them from
the same traces Pyro would use: the guide is traced, the model is replayed against it.

- data term: sum of the observed sites' log-likelihood, already scaled by the data
  plate (``num_data / batch``), so it estimates the full-data term without bias;
- KL: analytic ``KL(q || p)`` for every latent site where ``kl_divergence`` knows the
  pair (a Normal guide against a Normal prior), else the Monte Carlo estimate
  ``log q(w) - log p(w)`` at the sampled ``w``, summed over the remaining guide sites
  (auxiliary ones included) and model sites. With all-MC terms this is exactly
  ``Trace_ELBO``; with analytic ones, ``TraceMeanField_ELBO`` (both tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pyro import poutine
from pyro.distributions import Delta
from pyro.distributions.util import scale_and_mask
from pyro.poutine.util import site_is_subsample
from torch.distributions import kl_divergence

__all__ = ["ELBOTerms", "elbo_terms"]


@dataclass
class ELBOTerms:
    """One-sample estimates: ``ELBO = data - kl``; ``entropy`` only when asked for."""

    data: torch.Tensor
    kl: torch.Tensor
    entropy: torch.Tensor | None = None

    def loss(self, kl_weight: float = 1.0, temperature: float = 1.0) -> torch.Tensor:
        """Negative (weighted, tempered) ELBO.

        Tempering targets ``p(w | D)^(1/T)``: its ELBO is ``(data + E log p) / T + H[q]``
        ``= data / T - KL / T + (1 - 1/T) H[q]``.
        """
        if temperature == 1.0:
            return kl_weight * self.kl - self.data
        if self.entropy is None:
            raise ValueError(
                "tempering needs the guide entropy: call elbo_terms(..., entropy=True)"
            )
        inv = 1.0 / temperature
        return kl_weight * (inv * self.kl - (1 - inv) * self.entropy) - inv * self.data


def _site_log_prob(site) -> torch.Tensor:
    return scale_and_mask(site["fn"].log_prob(site["value"]), site["scale"], site["mask"]).sum()


def _analytic_kl(q_site, p_site) -> torch.Tensor | None:
    if isinstance(q_site["fn"], Delta):
        return None
    try:
        kl = kl_divergence(q_site["fn"], p_site["fn"])
    except NotImplementedError:
        return None
    return scale_and_mask(kl, p_site["scale"], p_site["mask"]).sum()


def _entropy(site) -> torch.Tensor:
    try:
        return scale_and_mask(site["fn"].entropy(), site["scale"], site["mask"]).sum()
    except NotImplementedError:
        return -_site_log_prob(site)


def _latent(trace):
    """Latent sample sites, without the plates' subsample sites."""
    return [(n, s) for n, s in trace.iter_stochastic_nodes() if not site_is_subsample(s)]


def elbo_terms(model, guide, *args, entropy: bool = False, **kwargs) -> ELBOTerms:
    """Evaluate the data and KL terms on one draw from the guide."""
    guide_tr = poutine.trace(guide).get_trace(*args, **kwargs)
    model_tr = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace(*args, **kwargs)
    device = next((a.device for a in args if isinstance(a, torch.Tensor)), None)
    data = torch.zeros((), device=device)
    kl = torch.zeros((), device=device)
    mc_done = set()
    for name in model_tr.observation_nodes:
        data = data + _site_log_prob(model_tr.nodes[name])
    for name, site in _latent(model_tr):
        analytic = _analytic_kl(guide_tr.nodes[name], site)
        if analytic is None:
            kl = kl - _site_log_prob(site)
        else:
            kl = kl + analytic
            mc_done.add(name)
    guide_sites = [site for _, site in _latent(guide_tr)]
    for site in guide_sites:
        if site["name"] not in mc_done:
            kl = kl + _site_log_prob(site)
    ent = sum(_entropy(s) for s in guide_sites) if entropy else None
    return ELBOTerms(data=data, kl=kl, entropy=ent)
