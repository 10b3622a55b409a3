"""Randomness that leaves the caller's alone: a fit given a seed draws from torch's global
RNG seeded with it inside a fork, so the caller's global state is as it was afterwards;
without a seed it draws from the global RNG as any torch operation does (advancing it,
never reseeding it)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["seeded"]


@contextlib.contextmanager
def seeded(seed: int | None, device: torch.device | str = "cpu") -> Iterator[None]:
    """Within: torch's global RNG (CPU, and ``device`` where it is CUDA) seeded with
    ``seed``; afterwards: as it was before. ``seed=None``: the global RNG, untouched."""
    if seed is None:
        yield
        return
    device = torch.device(device)
    cuda = []
    if device.type == "cuda":
        cuda = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield
