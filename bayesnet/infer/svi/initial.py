"""Where an engine starts: one switch from a named starting point (or a posterior) to
Pyro's init strategy, shared by the guides and by HMC."""

from __future__ import annotations

from collections.abc import Callable

from pyro.infer.autoguide.initialization import init_to_median, init_to_sample, init_to_value

from ..._checks import check_choice
from ...models import BayesianModel
from ...posterior import Posterior

__all__ = ["INITS", "init_strategy"]

#: named starting points: the network's current weights, or a draw from the prior
INITS = ("point_estimate", "prior")


def init_strategy(model: BayesianModel, init: str | Posterior) -> Callable:
    """Pyro's init strategy for ``init``: ``"point_estimate"`` (the network's current
    weights), ``"prior"`` (a prior draw) or a ``Posterior`` (one of its draws); sites the
    values do not name start at their prior median."""
    if isinstance(init, Posterior):
        start = {k: v[0] for k, v in init.sample_params(1).items()}
        return init_to_value(values=start, fallback=init_to_median)
    check_choice(init, INITS, "init")
    if init == "point_estimate":
        return init_to_value(values=model.point_values(), fallback=init_to_median)
    return init_to_sample
