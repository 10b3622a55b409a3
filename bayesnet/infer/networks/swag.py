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

from ..._checks import check_choice, check_draws
from ..._state import seeded
from ...data.loaders import count_examples, takes_data
from ...device import resolve
from ...nn.normalization import inputs_from_loader
from ...posterior import Posterior
from ...run import Run, run_settings
from ..shared.collapse import check_predictive, training_null_nll
from ..shared.convergence import check_still_learning, collection_fall
from ..shared.distributed import average_gradients, broadcast, setup, shard
from ..shared.loop import OPTIMIZERS, multi_tensor, num_batches
from ..shared.starts import network_starts
from .baselines import hold_dropout, train_net, wrap
from .collector import SCALE, Collector, SwagMoments, load_flat

__all__ = [
    "fit_swag",
    "swa_rate",
    "Collector",
    "SwagMoments",
    "SWA_LR_FACTOR",
    "SWA_LR_MAX",
    "DROPOUT_MODES",
    "dropout_on",
]

#: SWAG collects at this multiple of the training's learning rate, at most ``SWA_LR_MAX``,
#: unless told (``swa_lr``)
SWA_LR_FACTOR, SWA_LR_MAX = 4, 8e-3
#: when the network's dropout layers are on while SWAG trains: at every step, while it
#: trains at ``lr`` (off while it collects), or never
DROPOUT_MODES = ("on", "before_collecting", "off")


@run_settings(supports=("distributed",))
@takes_data
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
    scale: float = SCALE,
    cycles: int = 1,
    starts: int = 1,
    dropout: str = "before_collecting",
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
    the epochs on, at ``swa_lr`` (None: ``swa_rate(lr)``, four times ``lr`` and at most
    ``8e-3``), ``per_epoch`` iterates an epoch are collected, evenly spaced through it.
    Iterates taken with larger steps spread over more of the mode: on the battery,
    collecting at four times the rate lowered the NLL on nine cells of ten and met more of
    the issue's targets, confirmed on cells that played no part in the choice. The
    posterior's covariance is the iterates' diagonal variance plus the low-rank part of
    their last ``rank`` deviations, both halved and multiplied by ``scale`` (0.5, Maddox et
    al.'s: on the battery's cells 0.5 to 4 times were measured, and 0.5 met the most targets
    with the lowest NLL, confirmed on cells that played no part in the choice;
    ``benchmarks/RESULTS.md``). ``rank=0`` keeps the diagonal alone; ``scale=0`` predicts
    with the SWA mean.

    ``dropout``: when the network's dropout layers are on. ``"before_collecting"`` (the
    default) trains with them as the network was built and holds them off while SWAG
    collects: the Gaussian describes the iterates of the network that predicts (dropout is
    off at prediction), and its spread, not dropout's noise, carries the uncertainty. With
    them on while collecting (``"on"``) the mixture of PyTorch's MNIST example trained for
    six epochs was underconfident (ECE five times the softmax's, NLL above it); off while
    collecting, ``bn.fit`` met 34 targets against 31 on five cells of dropout networks no
    decision saw, its NLL below the softmax's on each (RESULTS, "Dropout while SWAG
    collects"). ``"off"`` holds them off throughout. A network without dropout trains the
    same under every choice.

    ``cycles=K``: one training split into K equal cycles, each trained at ``lr`` for its
    first ``collect_from`` fraction (the first from the initial weights, the others moving
    on from the last cycle's mode) and collected at ``swa_lr`` for the rest; the K
    Gaussians are mixed with equal weights: several modes of one run, at one training's
    cost (Zhang et al. 2020's cyclical idea with SWAG in each cycle).

    ``starts=K``: MultiSWAG, K fits (the first from ``net``'s weights, the others from
    fresh initial weights, seeded ``seed + k``) mixed with equal weights. Under
    ``torchrun`` with ``run=bn.Run(distributed=True)``, start ``k`` runs on process
    ``k mod world`` and every process returns the whole mixture (one start: each process
    trains on its shard of the batches, gradients averaged). ``predict``
    draws ``num_samples`` by default; networks with BatchNorm recompute every draw's
    statistics on up to ``NORMALIZATION_INPUTS`` training inputs. ``info`` records the
    settings, each start's training history and the number of iterates collected.
    """
    if epochs < 1 or per_epoch < 1 or not 0 <= collect_from < 1 or scale < 0 or cycles < 1:
        raise ValueError(
            "need epochs >= 1, per_epoch >= 1, 0 <= collect_from < 1, scale >= 0 and "
            f"cycles >= 1; got {epochs}, {per_epoch}, {collect_from}, {scale}, {cycles}"
        )
    check_draws(num_samples)
    check_choice(dropout, DROPOUT_MODES, "dropout")
    device = resolve(device)
    settings = {
        "epochs": epochs,
        "optimizer": optimizer,
        "lr": lr,
        "weight_decay": weight_decay,
        "collect_from": collect_from,
        "swa_lr": swa_rate(lr) if swa_lr is None else swa_lr,
        "per_epoch": per_epoch,
        "rank": rank,
        "scale": scale,
        "cycles": cycles,
        "dropout": dropout,
        "num_samples": num_samples,
        "task": task,
    }

    inputs = inputs_from_loader(net, loader)  # one pass, shared by every start
    ranks = setup(device) if run.distributed else None
    parallel = ranks if ranks is not None and ranks.world > 1 and starts == 1 else None

    def one(member: nn.Module, k: int) -> Posterior:
        label = "swag" if starts == 1 else f"multiswag {k + 1}/{starts}"
        return _fit_one(member, loader, settings, inputs, label, progress, parallel)

    spread = None if parallel is not None else ranks  # one start: every rank trains it
    post = network_starts(net, one, starts, seed, device, "swag", loader, spread)
    with seeded(seed, device):  # the check's draws leave the caller's RNG alone too
        check_predictive(post, loader, training_null_nll(loader, post.model), "SWAG")
    check_still_learning(post.info)
    return post


def swa_rate(lr: float) -> float:
    """The learning rate SWAG collects at when not told: ``SWA_LR_FACTOR`` times the
    training's ``lr``, at most ``SWA_LR_MAX`` (on the battery four times Adam's ``2e-3``
    met the most targets; at ``1.2e-2`` and above the BatchNorm networks lost targets, and
    a regression network trained at ``5e-3`` no longer fitted its noise at ``2e-2``)."""
    return min(SWA_LR_FACTOR * lr, SWA_LR_MAX)


def dropout_on(mode: str, collecting: bool) -> bool:
    """Whether the network's dropout layers are on at a step under ``mode`` (one of
    ``DROPOUT_MODES``), given whether SWAG collects at it."""
    return mode == "on" or (mode == "before_collecting" and not collecting)


def collection_plan(epochs: int, steps: int, settings: dict[str, Any]) -> list[tuple[bool, int]]:
    """Per optimiser step of the whole run: whether it trains at ``swa_lr`` (its cycle is
    collecting) and the cycle whose moments collect the iterate after it (-1: none).
    Cycle ``k`` covers the steps ``[k T / K, (k + 1) T / K)`` of the ``T`` in all; its
    last ``1 - collect_from`` collects ``per_epoch`` iterates an epoch, at evenly spaced
    steps of each epoch (the epoch's last step among them)."""
    total, cycles = epochs * steps, settings["cycles"]
    per_epoch = min(settings["per_epoch"], steps)
    marks = {math.ceil((j + 1) * steps / per_epoch) - 1 for j in range(per_epoch)}
    plan = []
    for step in range(total):
        cycle = step * cycles // total
        begin, end = (math.ceil(c * total / cycles) for c in (cycle, cycle + 1))
        collecting = step >= begin + settings["collect_from"] * (end - begin)
        plan.append((collecting, cycle if collecting and step % steps in marks else -1))
    return plan


def collection_windows(plan: list[tuple[bool, int]], steps: int) -> list[tuple[int, int]]:
    """Per cycle of ``collection_plan``, the first and last epoch (0-based) it collects in."""
    epochs: dict[int, list[int]] = {}
    for step, (_, cycle) in enumerate(plan):
        if cycle >= 0:
            epochs.setdefault(cycle, []).append(step // steps)
    return [(min(e), max(e)) for e in epochs.values()]


def _fit_one(net, loader, settings, inputs, label, progress, parallel=None) -> Posterior:
    """One SWAG fit of ``net`` (trained in place): one Gaussian per cycle, mixed; with
    ``parallel`` ranks, data-parallel (each rank its shard of the batches, gradients
    averaged, so every rank holds the same weights and collects the same iterates)."""
    num_data = None
    if parallel is not None:
        num_data, loader = count_examples(loader), shard(loader, parallel)
        broadcast(net, parallel)
    steps = num_batches(loader)
    if steps == 0:
        raise ValueError("fit_swag needs a loader with a length (batches per epoch)")
    plan = collection_plan(settings["epochs"], steps, settings)
    collectors = [
        Collector(net, settings["rank"], settings["scale"]) for _ in range(settings["cycles"])
    ]
    rates = {True: settings["swa_lr"], False: settings["lr"]}
    opt = _optimizer(net, {**settings, "lr": rates[plan[0][0]]})
    params = [p for group in opt.param_groups for p in group["params"]]
    count = 0

    def after_step() -> None:
        nonlocal count
        cycle = plan[count][1]
        if cycle >= 0:
            collectors[cycle].collect()
        count += 1
        if count < len(plan):
            for group in opt.param_groups:
                group["lr"] = rates[plan[count][0]]
            if plan[count][0] != plan[count - 1][0]:  # a collection phase begins or ends
                hold_dropout(net, dropout_on(settings["dropout"], plan[count][0]))

    start = time.perf_counter()
    history, seen = train_net(
        net,
        loader,
        settings["epochs"],
        optimizer=opt,
        task=settings["task"],
        progress=progress,
        desc=label,
        dropout=dropout_on(settings["dropout"], plan[0][0]),
        after_step=after_step,
        after_backward=None if parallel is None else lambda: average_gradients(params, parallel),
    )
    fewest = min(c.count for c in collectors)
    if fewest < 2:
        raise ValueError(
            f"SWAG collected {fewest} iterate(s) in a cycle: lengthen the run, use fewer "
            "cycles, collect earlier (collect_from) or more often (per_epoch)"
        )
    load_flat(net, collectors[-1].moments.mean)
    info: dict[str, Any] = {
        "engine": "swag",
        **settings,
        "collected": sum(c.count for c in collectors),
        "history": history,
        "seconds": time.perf_counter() - start,
    }
    if settings["task"] == "classification":
        info["collection_fall"] = collection_fall(history, collection_windows(plan, steps))
    gaussians = [c.gaussian(settings["num_samples"]) for c in collectors]
    seen = num_data or seen  # a shard's examples are not the data's
    posts = [wrap(net, settings["task"], seen, g, info, loader, inputs) for g in gaussians]
    return posts[0] if len(posts) == 1 else Posterior.mixture(posts, info)


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
