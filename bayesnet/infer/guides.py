"""Variational families (guides) by name.

``mean_field`` is our own variant of Pyro's ``AutoNormal``: AutoNormal routes every site
through an auxiliary sample and a ``Delta``, which hides the Normal from the ELBO and
from effect handlers, and reads its parameters through Pyro's parameter machinery on
every step. Sampling each site from its (transformed) Normal directly gives analytic KL
against Normal priors, lets local reparameterization and flipout read the guide's means
and scales, and keeps the training step lean. The other families are Pyro's autoguides.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro import poutine
from pyro.distributions.transforms import IndependentTransform
from pyro.infer import autoguide
from pyro.infer.autoguide.initialization import (
    InitMessenger,
    init_to_median,
    init_to_sample,
    init_to_value,
)
from torch import nn
from torch.distributions import biject_to
from torch.distributions.transforms import identity_transform

from .._checks import check_choice
from .._pyro import LocalParams

__all__ = ["MeanFieldNormal", "make_guide", "GUIDES", "INITS"]

GUIDES = ("mean_field", "low_rank", "full_rank", "delta")
INITS = ("point_estimate", "prior")


def _is_identity(transform) -> bool:
    if isinstance(transform, IndependentTransform):
        return _is_identity(transform.base_transform)
    return transform is identity_transform


def _inverse_softplus(x: torch.Tensor) -> torch.Tensor:
    return x + torch.log(-torch.expm1(-x))


class MeanFieldNormal(LocalParams, autoguide.AutoGuide):
    """Independent Normal per site: ``Normal(loc, softplus(raw_scale)).to_event``.

    Constrained sites (a hierarchical prior's scale) get the Normal pushed through the
    bijection to their support, as a single ``TransformedDistribution`` site. Means and
    raw scales are plain ``nn.Parameter``s (``locs``/``scales`` dicts keyed by the site
    name with "." as "/"), so a step touches no Pyro parameter machinery.
    """

    def __init__(self, model, *, init_loc_fn=init_to_median, init_scale: float = 0.1) -> None:
        if not init_scale > 0:
            raise ValueError(f"init_scale must be > 0, got {init_scale}")
        self.init_loc_fn = init_loc_fn
        self._init_scale = float(init_scale)
        super().__init__(InitMessenger(init_loc_fn)(model))

    def _setup_prototype(self, *args, **kwargs):
        super()._setup_prototype(*args, **kwargs)
        self.locs = nn.ParameterDict()
        self.scales = nn.ParameterDict()
        self._sites = []
        for name, site in self.prototype_trace.iter_stochastic_nodes():
            if site["cond_indep_stack"]:
                raise ValueError(
                    f"mean_field guide supports global latent sites only; {name!r} is in a plate"
                )
            transform = biject_to(site["fn"].support)
            init = transform.inv(site["value"].detach()).detach()
            key = name.replace(".", "/")
            self.locs[key] = nn.Parameter(init.clone())
            self.scales[key] = nn.Parameter(
                _inverse_softplus(torch.full_like(init, self._init_scale))
            )
            event_dim = site["fn"].event_dim + init.dim() - site["value"].dim()
            self._sites.append(
                (name, key, event_dim, None if _is_identity(transform) else transform)
            )

    def loc_and_scale(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The Normal's mean and standard deviation for site ``name`` (unconstrained space)."""
        key = name.replace(".", "/")
        return self.locs[key], F.softplus(self.scales[key])

    def forward(self, *args, **kwargs):
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        locs, scales = self.locs, self.scales
        result = {}
        for name, key, event_dim, transform in self._sites:
            # softplus keeps the scale positive by construction: no validation needed
            fn = dist.Normal(locs[key], F.softplus(scales[key]), validate_args=False).to_event(
                event_dim
            )
            if transform is not None:
                fn = dist.TransformedDistribution(fn, transform)
            result[name] = pyro.sample(name, fn)
        return result

    @torch.no_grad()
    def sample_draws(self, num_samples: int) -> dict[str, torch.Tensor]:
        """``num_samples`` joint draws of every site, ``{name: [S, *shape]}``.

        The same distribution as running the guide under a plate of size S, without
        Pyro's tracing: prediction draws thousands of weights and this is its hot path.
        """
        result = {}
        for name, key, _, transform in self._sites:
            loc, raw = self.locs[key], self.scales[key]
            value = torch.randn((num_samples, *loc.shape), dtype=loc.dtype, device=loc.device)
            value = value.mul_(F.softplus(raw)).add_(loc)
            result[name] = value if transform is None else transform(value)
        return result

    @torch.no_grad()
    def median(self, *args, **kwargs) -> dict[str, torch.Tensor]:
        return {
            name: self.locs[key].clone() if t is None else t(self.locs[key])
            for name, key, _, t in self._sites
        }


class LowRankNormal(LocalParams, autoguide.AutoLowRankMultivariateNormal):
    """Pyro's low-rank multivariate Normal guide, its parameters local to it."""


class FullRankNormal(LocalParams, autoguide.AutoMultivariateNormal):
    """Pyro's full-covariance Normal guide, its parameters local to it."""


class Delta(LocalParams, autoguide.AutoDelta):
    """Pyro's point-mass guide (MAP), its parameters local to it."""


def make_guide(
    model,
    name: str = "mean_field",
    init: str = "point_estimate",
    init_scale: float = 1e-2,
    rank: int | None = None,
):
    """Build a guide for ``model``; ``init`` chooses the initial means."""
    check_choice(name, GUIDES, "guide")
    check_choice(init, INITS, "init")
    if init == "point_estimate":
        init_loc_fn = init_to_value(values=model.point_values(), fallback=init_to_median)
    else:
        init_loc_fn = init_to_sample
    init_scale = float(init_scale)
    # Guides cover the latent sites only; hiding the likelihood lets them be set up
    # from inputs alone (the labels are not needed to know the weights' shapes).
    model = poutine.block(model, hide=["obs"])
    if name == "mean_field":
        return MeanFieldNormal(model, init_loc_fn=init_loc_fn, init_scale=init_scale)
    if name == "low_rank":
        return LowRankNormal(model, init_loc_fn=init_loc_fn, init_scale=init_scale, rank=rank)
    if name == "full_rank":
        return FullRankNormal(model, init_loc_fn=init_loc_fn, init_scale=init_scale)
    return Delta(model, init_loc_fn=init_loc_fn)
