"""The guides behind the variational families (``families.py`` names them).

``mean_field`` is our own variant of Pyro's ``AutoNormal``: AutoNormal routes every site
through an auxiliary sample and a ``Delta``, which hides the Normal from the ELBO and
from effect handlers, and reads its parameters through Pyro's parameter machinery on
every step. Sampling each site from its (transformed) Normal directly gives analytic KL
against Normal priors, lets local reparameterization and flipout read the guide's means
and scales, and keeps the training step lean. ``delta`` (a point mass, the MAP warm start)
is its one-parameter sibling; both can run the functional SVI step (``functional.py``).
The low- and full-rank families are Pyro's autoguides.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.distributions.transforms import IndependentTransform
from pyro.infer import autoguide
from pyro.infer.autoguide.initialization import (
    InitMessenger,
    init_to_median,
)
from torch import nn
from torch.distributions import biject_to
from torch.distributions.transforms import SoftplusTransform, identity_transform

from ..._compat import GuideSetup
from ..._pyro import LocalParams

__all__ = ["MeanFieldNormal", "PointMass", "LowRankNormal", "FullRankNormal", "FlatDraw"]


def _is_identity(transform) -> bool:
    if isinstance(transform, IndependentTransform):
        return _is_identity(transform.base_transform)
    return transform is identity_transform


class FlatDraw(NamedTuple):
    """One draw of every site for the functional step, each tensor flat over all sites in
    the guide's order: the value, the guide's mean and standard deviation (None for a
    point mass); ``sites`` holds each site's name, shape and event dimensions."""

    value: torch.Tensor
    loc: torch.Tensor
    scale: torch.Tensor | None
    sites: list[tuple[str, torch.Size, int]]

    def split(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-site views of a flat tensor, in their shapes."""
        return _split(flat, self.sites)


def _split(flat: torch.Tensor, sites) -> dict[str, torch.Tensor]:
    """Views of ``flat`` per site, for ``sites`` of ``(name, shape, ...)`` in flat order."""
    parts = flat.split([shape.numel() for _, shape, *_ in sites])
    return {name: p.view(shape) for (name, shape, *_), p in zip(sites, parts, strict=True)}


class _PerSite(LocalParams, GuideSetup, autoguide.AutoGuide):
    """A guide whose unconstrained means of every site live in one flat ``nn.Parameter``
    (``loc``), in the guide's site order, with per-site views (``locs``): a step touches
    no Pyro parameter machinery, forms every weight from a few whole-vector operations
    and hands the optimiser one tensor instead of one per site. Constrained sites (a
    hierarchical prior's scale) are pushed through the bijection to their support."""

    def __init__(self, model, *, init_loc_fn=init_to_median) -> None:
        self.init_loc_fn = init_loc_fn
        super().__init__(InitMessenger(init_loc_fn)(model))
        self.register_load_state_dict_pre_hook(_per_site_state)

    def setup_sites(self, trace) -> None:
        self._sites, inits = [], []
        for name, site in trace.iter_stochastic_nodes():
            if site["cond_indep_stack"]:
                raise ValueError(
                    f"{type(self).__name__} supports global latent sites only; {name!r} is in "
                    "a plate"
                )
            transform = biject_to(site["fn"].support)
            init = transform.inv(site["value"].detach()).detach()
            event_dim = site["fn"].event_dim + init.dim() - site["value"].dim()
            self._sites.append(
                (name, init.shape, event_dim, None if _is_identity(transform) else transform)
            )
            inits.append(init.reshape(-1))
        self.loc = nn.Parameter(torch.cat(inits))
        self._flat_sites = [(name, shape, d) for name, shape, d, _ in self._sites]
        self._add_sites()

    def _add_sites(self) -> None:
        """Parameters beyond the means, flat like ``loc``."""

    def split(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-site views of a flat tensor over all sites, in their shapes."""
        return _split(flat, self._sites)

    @property
    def locs(self) -> dict[str, torch.Tensor]:
        """Each site's unconstrained mean: a view of ``loc``."""
        return self.split(self.loc)

    @property
    def site_names(self) -> list[str]:
        """The guide's sites, in the order it draws them."""
        return [name for name, *_ in self._sites]

    @property
    def all_real(self) -> bool:
        """Whether every site is unconstrained (no bijection between mean and value)."""
        return all(t is None for *_, t in self._sites)

    def site_distributions(self) -> dict[str, Any]:
        """The guide's distribution of every site, on its support."""
        raise NotImplementedError

    def forward(self, *args, **kwargs):
        if self.prototype_trace is None:
            self.setup(*args, **kwargs)
        return {name: pyro.sample(name, fn) for name, fn in self.site_distributions().items()}

    @torch.no_grad()
    def median(self, *args, **kwargs) -> dict[str, torch.Tensor]:
        locs = self.locs
        return {
            name: locs[name].clone() if t is None else t(locs[name])
            for name, _, _, t in self._sites
        }


def _per_site_state(module, state_dict, prefix, *args) -> None:
    """Read a state written when every site had parameters of its own (``locs.<site>``,
    ``scales.<site>``, "." as "/"): concatenate them into the flat ``loc`` and
    ``raw_scale``, so posteriors and checkpoints saved by earlier versions still load."""
    for flat, per_site in (("loc", "locs"), ("raw_scale", "scales")):
        keys = [f"{prefix}{per_site}.{name.replace('.', '/')}" for name in module.site_names]
        if keys and all(k in state_dict for k in keys):
            state_dict[prefix + flat] = torch.cat([state_dict.pop(k).reshape(-1) for k in keys])


class MeanFieldNormal(_PerSite):
    """Independent Normal per weight: ``Normal(loc, softplus(raw_scale))``, per site
    ``.to_event``.

    Sampling each site from its Normal directly (not through an auxiliary site and a
    ``Delta`` as ``AutoNormal`` does) gives analytic KL against Normal priors and lets
    local reparameterization and flipout read the guide's means and scales. The raw
    scales are one flat parameter too (``raw_scale``).
    """

    def __init__(self, model, *, init_loc_fn=init_to_median, init_scale: float = 0.1) -> None:
        if not init_scale > 0:
            raise ValueError(f"init_scale must be > 0, got {init_scale}")
        self._init_scale = float(init_scale)
        super().__init__(model, init_loc_fn=init_loc_fn)

    def _add_sites(self) -> None:
        scale = torch.full_like(self.loc, self._init_scale)
        self.raw_scale = nn.Parameter(SoftplusTransform().inv(scale))

    @property
    def scales(self) -> dict[str, torch.Tensor]:
        """Each site's standard deviation, ``softplus`` of a view of ``raw_scale``."""
        return self.split(F.softplus(self.raw_scale))

    def loc_and_scale(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The Normal's mean and standard deviation for site ``name`` (unconstrained space)."""
        return self.locs[name], F.softplus(self.split(self.raw_scale)[name])

    def site_distributions(self) -> dict[str, Any]:
        locs, scales = self.locs, self.scales
        result = {}
        for name, _, event_dim, transform in self._sites:
            # softplus keeps the scale positive by construction: no validation needed
            fn = dist.Normal(locs[name], scales[name], validate_args=False).to_event(event_dim)
            result[name] = fn if transform is None else dist.TransformedDistribution(fn, transform)
        return result

    def functional_draw(self) -> FlatDraw:
        """One reparameterised draw of every (real) site, the same numbers ``forward``
        draws under the same seed (``rsample``: ``loc + eps * scale``, the noise drawn
        site by site into one flat buffer), over all weights at once without Pyro's
        tracing: a handful of autograd nodes (the functional SVI step)."""
        eps = torch.empty_like(self.loc, requires_grad=False)
        for part in self.split(eps).values():
            part.normal_()
        scale = F.softplus(self.raw_scale)
        return FlatDraw(self.loc + eps * scale, self.loc, scale, self._flat_sites)

    @torch.no_grad()
    def sample_draws(self, num_samples: int) -> dict[str, torch.Tensor]:
        """``num_samples`` joint draws of every site, ``{name: [S, *shape]}``.

        The same distribution as running the guide under a plate of size S, without
        Pyro's tracing: prediction draws thousands of weights and this is its hot path.
        """
        locs, scales = self.locs, self.scales
        result = {}
        for name, shape, _, transform in self._sites:
            value = torch.randn((num_samples, *shape), dtype=self.loc.dtype, device=self.loc.device)
            value = value.mul_(scales[name]).add_(locs[name])
            result[name] = value if transform is None else transform(value)
        return result


class PointMass(_PerSite):
    """A point mass per site (``Delta``): its mean is the maximum-a-posteriori estimate."""

    def site_distributions(self) -> dict[str, Any]:
        # the point sits on the support itself (no Jacobian): the MAP in the model's own
        # parameterisation, as Pyro's AutoDelta has it
        locs = self.locs
        return {
            name: dist.Delta(
                locs[name] if transform is None else transform(locs[name]), event_dim=event_dim
            )
            for name, _, event_dim, transform in self._sites
        }

    def functional_draw(self) -> FlatDraw:
        """Every (real) site at its point, with no scale (a point mass: ``log q = 0``)."""
        return FlatDraw(self.loc, self.loc, None, self._flat_sites)

    @torch.no_grad()
    def sample_draws(self, num_samples: int) -> dict[str, torch.Tensor]:
        """The point, repeated ``num_samples`` times."""
        return {
            name: value.expand(num_samples, *value.shape).clone()
            for name, value in self.median().items()
        }


class LowRankNormal(LocalParams, autoguide.AutoLowRankMultivariateNormal):
    """Pyro's low-rank multivariate Normal guide, its parameters local to it."""


class FullRankNormal(LocalParams, autoguide.AutoMultivariateNormal):
    """Pyro's full-covariance Normal guide, its parameters local to it."""
