"""Fresh draws from a fitted guide, and how a saved one is rebuilt."""

from __future__ import annotations

from typing import Any

import pyro
import torch
from pyro import poutine

from ..._state import preserved
from ...checkpoint import load_state
from ...posterior import DEFAULT_DRAWS, Sampler
from .families import family_from_spec, make_guide

__all__ = ["GuideSampler"]


class GuideSampler(Sampler):
    """Fresh draws from a variational guide, all ``S`` in one vectorised pass. ``spec`` is
    the family's ``spec()`` and ``init``: plain values a saved posterior stores."""

    kind = "guide"

    def __init__(self, guide, spec: dict[str, Any], input_shape: tuple[int, ...]) -> None:
        self.guide, self.spec, self.input_shape = guide, spec, tuple(input_shape)

    def natural_size(self):
        return DEFAULT_DRAWS

    @torch.no_grad()
    def sample(self, num_samples):
        num_samples = DEFAULT_DRAWS if num_samples is None else num_samples
        if hasattr(self.guide, "sample_draws"):
            return self.guide.sample_draws(num_samples)
        with pyro.plate("_draws", num_samples, dim=-1):
            trace = poutine.trace(self.guide).get_trace()
        return {
            name: site["value"]
            for name, site in trace.nodes.items()
            if site["type"] == "sample" and not site["infer"].get("is_auxiliary")
        }

    def state(self):
        return {
            "spec": self.spec,
            "guide": self.guide.state_dict(),
            "input_shape": list(self.input_shape),
        }

    @classmethod
    def from_state(cls, model, state, path):
        spec = state["spec"]
        guide = make_guide(model, family_from_spec(spec), spec.get("init", "point_estimate"))
        device = next(iter(model.point_values().values())).device
        # trace the model once so the guide knows its sites: one input, so in eval mode
        # (BatchNorm in training mode refuses a batch of one), the caller's mode kept
        with torch.no_grad(), preserved(model):
            model.eval()
            guide(torch.zeros((1, *state["input_shape"]), device=device))
        load_state(guide, state["guide"], path, "guide state")
        return cls(guide, spec, state["input_shape"])
