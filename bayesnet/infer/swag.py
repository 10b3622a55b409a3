"""SWAG and MultiSWAG: ``fit_swag(net, loader, ...) -> Posterior``.

SWA-Gaussian (Maddox et al. 2019): train the network as usual and, over the last part of
training, collect its iterates; their mean ``w_SWA``, their per-weight variance and the
deviations of the last ``rank`` iterates from the mean give a Gaussian,

    N(w_SWA, scale * (diag(var) + D^T D / (K - 1)) / 2),

whose draws predict with BatchNorm statistics recomputed for each draw on training inputs
(their running statistics belong to the last iterate, not to a draw). ``starts=K`` fits K
SWAG posteriors from independent initial weights and mixes them: MultiSWAG (Wilson &
Izmailov 2020), a deep ensemble whose members carry their own uncertainty.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from .._checks import check_choice
from .._state import seeded
from ..device import resolve
from ..posterior import Posterior
from ..run import Run, run_settings
from .baselines import train_net, wrap
from .collapse import check_predictive, training_null_nll
from .gaussian import FlatGaussianSampler, flatten, layout
from .loop import OPTIMIZERS, multi_tensor, num_batches
from .starts import network_starts

__all__ = ["fit_swag", "SwagMoments"]


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


@run_settings()
def fit_swag(
    net: nn.Module,
    loader: Iterable,
    *,
    epochs: int = 30,
    optimizer: str = "adam",
    lr: float = 2e-3,
    weight_decay: float = 0.0,
    collect_from: float = 0.5,
    swa_lr: float | None = None,
    per_epoch: int = 4,
    rank: int = 20,
    scale: float = 1.0,
    starts: int = 1,
    num_samples: int = 30,
    task: str = "classification",
    device: str | torch.device = "auto",
    progress: bool = True,
    seed: int | None = None,
    run: Run | None = None,
) -> Posterior:
    """Fit SWAG to a copy of ``net`` on ``loader`` (``net`` itself is left untouched).

    The network trains as ``baselines.point_estimate`` trains it (``optimizer``,
    ``weight_decay``, ``epochs``), at twice its learning rate (``lr = 2e-3``: measured on
    the battery, the iterates of a faster walk give a lower NLL at the same cost; at
    ``3e-3`` a BatchNorm CNN's noise detection falls); from the ``collect_from`` fraction of
    the epochs on, at ``swa_lr`` (None: ``lr``), ``per_epoch`` iterates an epoch are
    collected. The
    posterior's covariance is the iterates' diagonal variance plus the low-rank part of
    their last ``rank`` deviations, both halved and multiplied by ``scale`` (Maddox et al.
    sample at ``scale = 0.5``; measured on the battery, 1.0 gives lower NLL,
    ``benchmarks/RESULTS.md``). ``rank=0`` keeps the diagonal alone; ``scale=0`` predicts
    with the SWA mean.

    ``starts=K``: MultiSWAG, K fits (the first from ``net``'s weights, the others from
    fresh initial weights, seeded ``seed + k``) mixed with equal weights. ``predict``
    draws ``num_samples`` by default; networks with BatchNorm recompute every draw's
    statistics on up to ``NORMALIZATION_INPUTS`` training inputs. ``info`` records the
    settings, each start's training history and the number of iterates collected.
    """
    if epochs < 1 or per_epoch < 1 or not 0 <= collect_from < 1 or scale < 0:
        raise ValueError(
            "need epochs >= 1, per_epoch >= 1, 0 <= collect_from < 1 and scale >= 0; got "
            f"{epochs}, {per_epoch}, {collect_from}, {scale}"
        )
    device = resolve(device)
    settings = {
        "epochs": epochs,
        "optimizer": optimizer,
        "lr": lr,
        "weight_decay": weight_decay,
        "collect_from": collect_from,
        "swa_lr": lr if swa_lr is None else swa_lr,
        "per_epoch": per_epoch,
        "rank": rank,
        "scale": scale,
    }

    def one(member: nn.Module, k: int) -> Posterior:
        return _fit_one(member, loader, settings, num_samples, task, progress, k)

    post = network_starts(net, one, starts, seed, device, "swag")
    with seeded(seed, device):  # the check's draws leave the caller's RNG alone too
        check_predictive(post, loader, training_null_nll(loader, post.model), "SWAG")
    return post


def _fit_one(net, loader, settings, num_samples, task, progress, k) -> Posterior:
    """One SWAG fit of ``net`` (trained in place)."""
    steps = num_batches(loader)
    if steps == 0:
        raise ValueError("fit_swag needs a loader with a length (batches per epoch)")
    first = round(settings["collect_from"] * settings["epochs"]) * steps
    every = max(1, steps // settings["per_epoch"])
    moments = SwagMoments(settings["rank"])
    opt = _optimizer(net, {**settings, "lr": settings["lr"] if first else settings["swa_lr"]})
    count = 0

    def after_step() -> None:
        nonlocal count
        count += 1
        if count == first:
            for group in opt.param_groups:
                group["lr"] = settings["swa_lr"]
        if count > first and (count - first) % every == 0:
            moments.collect(flatten(net))

    start = time.perf_counter()
    history, seen = train_net(
        net,
        loader,
        settings["epochs"],
        optimizer=opt,
        task=task,
        progress=progress,
        desc=f"swag start {k}" if k else "swag",
        after_step=after_step,
    )
    if moments.count < 2:
        raise ValueError(
            f"SWAG collected {moments.count} iterate(s): lengthen the run, collect earlier "
            "(collect_from) or more often (per_epoch)"
        )
    half = settings["scale"] / 2
    factor = moments.deviations() * math.sqrt(half / max(1, len(moments.last) - 1))
    sampler = FlatGaussianSampler(
        layout(net),
        moments.mean,
        (moments.variance() * half).sqrt(),
        factor,
        num_samples,
    )
    _load_flat(net, moments.mean)
    info: dict[str, Any] = {
        "engine": "swag",
        **settings,
        "collected": moments.count,
        "history": history,
        "seconds": time.perf_counter() - start,
    }
    return wrap(net, task, seen, sampler, info, loader, per_draw_statistics=True)


def _optimizer(net: nn.Module, settings: dict[str, Any]) -> torch.optim.Optimizer:
    """The optimizer SWAG trains with (SGD with momentum 0.9, as Maddox et al.; Adam as
    the point estimate), stepping all of its tensors at once (``multi_tensor``)."""
    cls = OPTIMIZERS[check_choice(settings["optimizer"], OPTIMIZERS, "optimizer")]
    extra = {"momentum": 0.9} if cls is torch.optim.SGD else {}
    params = [p for p in net.parameters() if p.requires_grad]
    return cls(
        params,
        lr=settings["lr"],
        weight_decay=settings["weight_decay"],
        **extra,
        **multi_tensor(cls),
    )


@torch.no_grad()
def _load_flat(net: nn.Module, flat: torch.Tensor) -> None:
    """Write a flat vector (``layout(net)``'s order) into ``net``'s trainable parameters."""
    torch.nn.utils.vector_to_parameters(flat, [p for p in net.parameters() if p.requires_grad])
