"""One SVI step's objective: the negative ELBO's terms from the functional step where it
can express the model and guide, else from Pyro's traced one; parameters that are no
longer finite are a divergence (``InvalidParameters``), not a distribution's error."""

from __future__ import annotations

import contextlib
from typing import Any

import pyro
import torch
from torch import nn

from .elbo import elbo_terms
from .functional import functional_elbo
from .reparam import make_reparam

__all__ = ["make_objective", "InvalidParameters", "nonfinite_parameters"]


def make_objective(model, guide, reparam, step: str, info: dict[str, Any]):
    """``(x, y, entropy) -> ELBOTerms`` for one step: the functional step where it can
    express the model and guide (``step`` allowing), else the traced one.

    Parameters that are no longer finite, or finite ones too large for the network's
    numbers to stay finite, make torch's or Pyro's distribution validation raise a
    ValueError; the loop reports that as a divergence. What decides is the numbers, not
    the error's wording: a ValueError whose step, run again without validation, gives
    finite log densities is a different problem and propagates as it is."""
    fast, why = functional_elbo(model, guide, reparam) if step != "traced" else (None, "")
    if step == "functional" and fast is None:
        raise ValueError(f"step='functional' cannot express {why}: use step='auto' or 'traced'")
    info["step"] = "functional" if fast is not None else "traced"
    if why:
        info["step_fallback"] = why

    def traced(x, y, entropy):
        handler = make_reparam(reparam)
        with handler if handler is not None else contextlib.nullcontext():
            return elbo_terms(model, guide, x, y, entropy=entropy)

    def terms(x, y, entropy):
        try:
            return (fast or traced)(x, y, entropy)
        except ValueError as err:
            bad = nonfinite_parameters(guide, model)
            if bad:
                raise InvalidParameters(f"{', '.join(bad[:3])} not finite") from err
            with pyro.validation_enabled(False):  # the same step, its numbers unchecked
                try:
                    again = (fast or traced)(x, y, entropy)
                except ValueError:
                    raise err from None
            if torch.isfinite(again.data) and torch.isfinite(again.kl):
                raise  # finite numbers: the ValueError is not about them
            raise InvalidParameters("the step's log densities are not finite") from err

    return terms


class InvalidParameters(ValueError):
    """Guide or model parameters are no longer finite."""


def nonfinite_parameters(*modules: nn.Module) -> list[str]:
    """Names of the parameters of ``modules`` holding NaN or Inf."""
    return [
        name
        for module in modules
        for name, p in module.named_parameters()
        if not torch.isfinite(p).all()
    ]
