"""Variational families (guides) by name.

``mean_field`` is our own ``AutoNormal`` variant: Pyro's AutoNormal routes every site
through an auxiliary sample and a ``Delta``, which hides the Normal from the ELBO and
from effect handlers. Sampling each site from its (transformed) Normal directly gives
analytic KL against Normal priors and lets local reparameterization and flipout read the
guide's means and scales. The other families are Pyro's autoguides as they are.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
from pyro import poutine
from pyro.distributions.transforms import IndependentTransform
from pyro.infer import autoguide
from pyro.infer.autoguide.initialization import init_to_median, init_to_sample, init_to_value
from torch.distributions import biject_to
from torch.distributions.transforms import identity_transform

from .._checks import check_choice

__all__ = ["MeanFieldNormal", "make_guide", "GUIDES", "INITS"]

GUIDES = ("mean_field", "low_rank", "full_rank", "delta")
INITS = ("point_estimate", "prior")


def _is_identity(transform) -> bool:
    if isinstance(transform, IndependentTransform):
        return _is_identity(transform.base_transform)
    return transform is identity_transform


class MeanFieldNormal(autoguide.AutoNormal):
    """Independent Normal per site, sampled directly (``Normal(loc, scale).to_event``).

    Constrained sites (a hierarchical prior's scale) get the Normal pushed through the
    bijection to their support, as a single ``TransformedDistribution`` site.
    """

    def _setup_prototype(self, *args, **kwargs):
        super()._setup_prototype(*args, **kwargs)
        for name, site in self.prototype_trace.iter_stochastic_nodes():
            if site["cond_indep_stack"]:
                raise ValueError(
                    f"mean_field guide supports global latent sites only; {name!r} is in a plate"
                )

    def forward(self, *args, **kwargs):
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        result = {}
        for name, site in self.prototype_trace.iter_stochastic_nodes():
            loc, scale = self._get_loc_and_scale(name)
            fn = dist.Normal(loc, scale).to_event(self._event_dims[name])
            transform = biject_to(site["fn"].support)
            if not _is_identity(transform):
                fn = dist.TransformedDistribution(fn, transform)
            result[name] = pyro.sample(name, fn)
        return result


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
        return autoguide.AutoLowRankMultivariateNormal(
            model, init_loc_fn=init_loc_fn, init_scale=init_scale, rank=rank
        )
    if name == "full_rank":
        return autoguide.AutoMultivariateNormal(
            model, init_loc_fn=init_loc_fn, init_scale=init_scale
        )
    return autoguide.AutoDelta(model, init_loc_fn=init_loc_fn)
