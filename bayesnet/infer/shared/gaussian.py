"""A Gaussian over a plain network's parameters, flattened into one vector: the posterior
that SWAG (diagonal plus low rank) and IVON (diagonal) both produce.

``w = loc + scale * z + factor^T u`` with ``z ~ N(0, I_P)`` and ``u ~ N(0, I_K)``: the
covariance is ``diag(scale^2) + factor^T factor``. Draws are split back into the
network's named parameters, so ``Posterior`` swaps them in like any other draws.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ...posterior import Sampler

__all__ = ["FlatGaussianSampler", "flatten", "layout"]

#: ``[(name, shape)]`` of the parameters a flat vector holds, in order
Layout = list[tuple[str, list[int]]]


def layout(net: nn.Module) -> Layout:
    """The names and shapes of ``net``'s trainable parameters, in registration order."""
    return [(n, list(p.shape)) for n, p in net.named_parameters() if p.requires_grad]


def flatten(net: nn.Module) -> torch.Tensor:
    """``net``'s trainable parameters as one detached vector (the order of ``layout``)."""
    return torch.cat([p.detach().reshape(-1) for p in net.parameters() if p.requires_grad])


class FlatGaussianSampler(Sampler):
    """Draws ``loc + scale * z + factor^T u`` split into ``names``' parameters; ``factor``
    ``[K, P]`` is optional (None: a diagonal Gaussian). Draws are made on ``loc``'s
    device."""

    kind = "flat_gaussian"

    def __init__(
        self,
        names: Layout,
        loc: torch.Tensor,
        scale: torch.Tensor,
        factor: torch.Tensor | None = None,
        num_samples: int = 100,
    ) -> None:
        size = sum(math.prod(shape) for _, shape in names)
        if loc.shape != (size,) or scale.shape != (size,):
            raise ValueError(
                f"loc and scale must be vectors of the {size} parameters the names cover, "
                f"got {tuple(loc.shape)} and {tuple(scale.shape)}"
            )
        if factor is not None and (factor.dim() != 2 or factor.shape[1] != size):
            raise ValueError(f"factor must be [K, {size}], got {tuple(factor.shape)}")
        if not (torch.isfinite(loc).all() and torch.isfinite(scale).all()):
            raise ValueError("the Gaussian's mean or scale is not finite")
        self.names, self.loc, self.scale, self.factor = names, loc, scale, factor
        self.num_samples = num_samples

    def natural_size(self):
        return self.num_samples

    def sample(self, num_samples):
        num = self.num_samples if num_samples is None else num_samples
        flat = self.loc + self.scale * torch.randn(num, len(self.loc), device=self.loc.device)
        if self.factor is not None and len(self.factor):
            u = torch.randn(num, len(self.factor), device=self.loc.device)
            flat = flat + u @ self.factor
        sizes = [math.prod(shape) for _, shape in self.names]
        return {
            name: part.reshape(num, *shape)
            for (name, shape), part in zip(self.names, flat.split(sizes, dim=1), strict=True)
        }

    def state(self):
        return {
            "names": self.names,
            "loc": self.loc,
            "scale": self.scale,
            "factor": self.factor,
            "num_samples": self.num_samples,
        }

    @classmethod
    def from_state(cls, model, state, path):
        return cls(**state)
