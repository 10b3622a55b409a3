"""Inputs as streams of batches: tensors in memory and loaders alike.

``Posterior.predict_loader`` and ``bn.evaluate.compare`` take a data set as ``(x, y)`` tensors, unlabelled inputs ``x``, or any
iterable of batches (a ``DataLoader``, a generator) yielding ``(x, y, ...)`` or ``x``, and
never holds more than one batch of a method's draws.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .loaders import as_loader

__all__ = ["Source", "batches", "head", "unpack"]

Source = tuple[torch.Tensor, torch.Tensor] | torch.Tensor | Iterable[Any]


def batches(
    source: Source, batch_size: int = 500
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """``(x, y)`` batches of ``source`` (``y`` None for unlabelled inputs): inputs alone (a
    tensor or an array) cut into ``batch_size`` pieces; an ``(x, y)`` pair of tensors or
    arrays, or a Dataset, batched in order (``as_loader``); a loader's batches as they
    come."""
    if isinstance(source, np.ndarray):
        source = torch.from_numpy(source)
    if isinstance(source, torch.Tensor):
        yield from ((x, None) for x in source.split(batch_size))
        return
    if isinstance(source, (tuple, Dataset)):
        source = as_loader(source, batch_size=batch_size, shuffle=False)
    yield from map(unpack, source)


def unpack(batch: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One loader batch as ``(x, y)``: inputs alone (``y`` None) or ``(x, y, ...)``."""
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], torch.Tensor):
        return batch[0], batch[1] if len(batch) > 1 else None
    raise TypeError(f"a batch must be a tensor or a tuple (x, y, ...), got {type(batch).__name__}")


def head(source: Source, n: int | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The first ``n`` examples of ``source`` (all of them for None) as tensors."""
    xs, ys, seen = [], [], 0
    for x, y in batches(source):
        take = len(x) if n is None else min(len(x), n - seen)
        xs.append(x[:take])
        ys.append(None if y is None else y[:take])
        seen += take
        if n is not None and seen >= n:
            break
    if not xs:
        raise ValueError("the data set is empty")
    labels = None if any(y is None for y in ys) else torch.cat(ys)
    return torch.cat(xs), labels
