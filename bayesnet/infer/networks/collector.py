"""SWAG's Gaussian from the iterates of any training loop: ``Collector(net)``.

SWA-Gaussian (Maddox et al. 2019) needs nothing of training but its iterates. A
``Collector`` keeps their running moments (``SwagMoments``) while the caller's own loop
trains (``collector.collect()`` after each optimiser step that should count, or
``collector.attach(optimizer)`` to do it from the optimiser's step hook), and turns them
into the ``Posterior`` that ``fit_swag`` returns (``collector.posterior(data)``): per-draw
BatchNorm statistics from the data's inputs, save/load, ArviZ, ``compare``. ``fit_swag``
is a loop over collectors, one per cycle of its schedule.

    swag = bn.swag.Collector(net)
    swag.attach(optimizer, start=steps_before_collecting, every=steps_per_epoch // 4)
    ...  # the caller's training loop, unchanged
    post = swag.posterior(train_loader)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..._checks import check_draws
from ...data.loaders import as_loader, count_examples
from ...nn.normalization import inputs_from_loader
from ...posterior import Posterior
from ..shared.collapse import check_predictive, training_null_nll
from ..shared.gaussian import FlatGaussianSampler, flatten, layout
from .baselines import wrap

__all__ = ["Collector", "SwagMoments", "SCALE"]


class SwagMoments:
    """SWAG's running statistics of collected iterates: their mean, their per-weight
    variance and the last ``rank`` iterates themselves. The variance is Welford's running
    sum of squared deviations (Maddox et al. keep the mean of squares and subtract the
    squared mean, which cancels catastrophically in float32 where weights barely move);
    ``deviations()`` are the kept iterates less the final mean (Maddox et al. subtract the
    running mean at each collection to stay online; the iterates are kept anyway, and the
    final mean is the exact one)."""

    def __init__(self, rank: int) -> None:
        if rank < 0:
            raise ValueError(f"rank must be >= 0, got {rank}")
        self.rank, self.count = rank, 0
        self.mean: torch.Tensor | None = None
        self.squares: torch.Tensor | None = None  # sum of squared deviations from the mean
        self.last: list[torch.Tensor] = []

    def collect(self, w: torch.Tensor) -> None:
        """Add one iterate (a flat vector)."""
        self.count += 1
        if self.mean is None:
            self.mean, self.squares = w.clone(), torch.zeros_like(w)
        else:
            before = w - self.mean
            self.mean += before / self.count
            self.squares += before * (w - self.mean)
        if self.rank:
            self.last = [*self.last, w.clone()][-self.rank :]

    def variance(self) -> torch.Tensor:
        """Per-weight variance of the iterates (population, divided by their number)."""
        return self.squares / self.count

    def deviations(self) -> torch.Tensor:
        """``[K, P]``: the last ``K <= rank`` iterates less the mean."""
        if not self.last:
            return self.mean.new_zeros(0, len(self.mean))
        return torch.stack(self.last) - self.mean


#: the covariance's factor that SWAG samples at by default: Maddox et al.'s, and what the
#: battery's cells chose among 0.5 to 4 (``benchmarks/swag_scale.py``, RESULTS)
SCALE = 0.5


class Collector:
    """SWAG's moments of ``net``'s iterates, collected from the caller's training loop.

    ``rank``: the iterates kept for the covariance's low-rank part (0: diagonal only);
    ``scale``: the covariance's factor (``SCALE``, ``fit_swag``'s default). The network
    is read, never changed: ``posterior`` predicts with a copy at the iterates' mean."""

    def __init__(self, net: nn.Module, rank: int = 20, scale: float = SCALE) -> None:
        if scale < 0:
            raise ValueError(f"scale must be >= 0, got {scale}")
        self.net, self.scale = net, scale
        self.moments = SwagMoments(rank)

    @property
    def count(self) -> int:
        """How many iterates have been collected."""
        return self.moments.count

    def collect(self) -> None:
        """Add the network's current weights as one iterate."""
        self.moments.collect(flatten(self.net))

    def attach(
        self, optimizer: torch.optim.Optimizer, start: int = 0, every: int = 1
    ) -> Callable[[], None]:
        """Collect after optimiser steps ``start``, ``start + every``, ... (counted from 0 as
        the hook sees them), from ``optimizer.register_step_post_hook``; returns the
        function that detaches it."""
        if start < 0 or every < 1:
            raise ValueError(f"need start >= 0 and every >= 1, got {start}, {every}")
        steps = 0

        def hook(opt, args, kwargs) -> None:
            nonlocal steps
            if steps >= start and (steps - start) % every == 0:
                self.collect()
            steps += 1

        return optimizer.register_step_post_hook(hook).remove

    def gaussian(self, num_samples: int = 30) -> FlatGaussianSampler:
        """The Gaussian ``N(mean, scale * (diag(var) + D^T D / (K - 1)) / 2)`` of the
        iterates collected so far (at least two)."""
        moments = self.moments
        if moments.count < 2:
            raise ValueError(
                f"SWAG collected {moments.count} iterate(s): it needs at least two (collect "
                "more, or earlier)"
            )
        half = self.scale / 2
        factor = moments.deviations() * math.sqrt(half / max(1, len(moments.last) - 1))
        scale = (moments.variance() * half).sqrt()
        return FlatGaussianSampler(layout(self.net), moments.mean, scale, factor, num_samples)

    def network(self) -> nn.Module:
        """A copy of the network at the iterates' mean (the SWA weights), in eval mode."""
        net = copy.deepcopy(self.net).eval()
        load_flat(net, self.moments.mean)
        return net

    def posterior(
        self, data: Any, *, task: str = "classification", num_samples: int = 30
    ) -> Posterior:
        """The SWAG posterior of the collected iterates, as ``fit_swag`` returns it: a
        network at their mean, draws from their Gaussian with each draw's BatchNorm
        statistics estimated on ``data``'s inputs (the training data, in any form a fit
        takes), checked for collapse on it."""
        check_draws(num_samples)
        sampler = self.gaussian(num_samples)
        loader = as_loader(data, shuffle=False)
        net = self.network()
        info: dict[str, Any] = {"engine": "swag", "collected": self.count, "scale": self.scale}
        info["rank"] = self.moments.rank
        inputs = inputs_from_loader(net, loader)
        post = wrap(net, task, count_examples(loader), sampler, info, loader, inputs)
        check_predictive(post, loader, training_null_nll(loader, post.model), "SWAG")
        return post


@torch.no_grad()
def load_flat(net: nn.Module, flat: torch.Tensor) -> None:
    """Write a flat vector (``layout(net)``'s order) into ``net``'s trainable parameters."""
    torch.nn.utils.vector_to_parameters(flat, [p for p in net.parameters() if p.requires_grad])
