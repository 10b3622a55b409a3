"""Several starts of one fit, mixed: ``multi_start(fit, starts) -> Posterior``.

A fit finds one mode; fits from independent initial weights find several, and their
equal-weight mixture (``Posterior.mixture``) covers them all. A deep ensemble is starts of
the point estimate; MultiSWAG (Wilson & Izmailov 2020) is starts of SWAG, MultiIVON
starts of IVON.

Across processes (``ranks``: under ``torchrun``), start ``k`` runs on rank ``k mod world``
and every rank gathers every start (``distributed.gather_starts``): the same mixture on
every rank as one process makes with the same seeds, each start's loader shuffled from
its own seed (``seed + k``) so that it does not matter which process runs it.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from ..._checks import check_starts
from ..._state import seeded
from ...posterior import Posterior
from .distributed import Ranks, gather_starts

__all__ = ["multi_start", "network_starts", "reinitialized"]


def reinitialized(net: nn.Module) -> nn.Module:
    """A copy of ``net`` with fresh initial weights, drawn as torch's layers draw theirs
    (``reset_parameters`` of every module that has one, from the global RNG; torch's
    ``MultiheadAttention`` names its own ``_reset_parameters``). A module that holds
    parameters of its own and has no way to reset them would keep the first start's values
    in every start: it is refused with a ``ValueError`` that names it."""
    net = copy.deepcopy(net)
    for path, module in net.named_modules():
        reset = getattr(module, "reset_parameters", None)
        if reset is None and isinstance(module, nn.MultiheadAttention):
            reset = module._reset_parameters  # torch's one layer without the public name
        if reset is not None:
            reset()
        elif any(True for _ in module.parameters(recurse=False)):
            raise ValueError(
                f"cannot draw fresh initial weights for {path or 'the network'} "
                f"({type(module).__name__}): it holds parameters and has no "
                "reset_parameters(); give it one (independent starts need it), or fit one "
                "start (starts=1)"
            )
    return net


def multi_start(
    fit: Callable[[int, int | None], Posterior],
    starts: int,
    seed: int | None = None,
    engine: str | None = None,
    ranks: Ranks | None = None,
) -> Posterior:
    """``fit(k, seed_k)`` for ``k = 0 .. starts - 1`` mixed with equal weights; start ``k``
    is given the seed ``seed + k`` (None: each draws from the global RNG, advancing it). The mixture's
    ``info`` is the first start's, with every start's own under ``"starts"`` and
    ``collapsed`` if any start collapsed; ``engine`` renames it (``"multiswag"``). With
    ``ranks`` of several processes, each runs its share of the starts and every one
    returns the whole mixture."""
    check_starts(starts)
    if ranks is not None and ranks.world > 1:
        posts = gather_starts(fit, starts, seed, ranks)
    else:
        posts = [fit(k, None if seed is None else seed + k) for k in range(starts)]
    if starts == 1:
        return posts[0]
    infos = [p.info for p in posts]
    info: dict[str, Any] = {
        **infos[0],
        "starts": infos,
        "seconds": sum(i.get("seconds", 0.0) for i in infos),
        "collapsed": any(i.get("collapsed", False) for i in infos),
    }
    if engine is not None:
        info["engine"] = engine
    return Posterior.mixture(posts, info)


def network_starts(
    net: nn.Module,
    fit: Callable[[nn.Module, int], Posterior],
    starts: int,
    seed: int | None,
    device: torch.device,
    engine: str,
    loader: Iterable | None = None,
    ranks: Ranks | None = None,
) -> Posterior:
    """``multi_start`` over a plain network: start ``k`` calls ``fit(copy, k)`` on a copy of
    ``net`` on ``device`` (start 0 keeps ``net``'s weights, the others are re-initialised),
    with torch's RNG seeded ``seed + k`` inside and the caller's restored after, and, with
    several starts and a seed, ``loader``'s shuffling generator seeded ``seed + k`` (and
    put back as it was afterwards); the mixture's engine is ``"multi" + engine``."""

    def one(k: int, seed_k: int | None) -> Posterior:
        with seeded(seed_k, device), _shuffled(loader if starts > 1 else None, seed_k):
            member = (reinitialized(net) if k else copy.deepcopy(net)).to(device)
            return fit(member, k)

    engine = f"multi{engine}" if starts > 1 else None
    return multi_start(one, starts, seed, engine=engine, ranks=ranks)


@contextlib.contextmanager
def _shuffled(loader: Iterable | None, seed: int | None) -> Iterator[None]:
    """Within: ``loader``'s own shuffling generator (where it has one) seeded ``seed``;
    afterwards: as it was."""
    generator = getattr(loader, "generator", None)
    if seed is None or not isinstance(generator, torch.Generator):
        yield
        return
    state = generator.get_state()
    generator.manual_seed(seed)
    try:
        yield
    finally:
        generator.set_state(state)
