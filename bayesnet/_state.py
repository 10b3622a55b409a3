"""The caller's state is the caller's: what a fit or a prediction may use and must give
back as it found it.

- ``seeded(seed, device)``: a fit given a seed draws from torch's global RNG (and Python's
  and NumPy's, which Pyro seeds too) seeded with it inside a fork, so the caller's
  generators are as they were afterwards; without a seed it draws from them as any torch
  operation does (advancing them, never reseeding them).
- ``preserved(*modules)``: every submodule's train/eval mode and every parameter's
  ``requires_grad`` flag, restored on exit, whatever a fit switched on the way.
- ``keeps_caller_state``: a fit's decorator doing both, from its ``seed`` and ``device``
  arguments and the module it is given first (a model, a network, or a posterior's
  model).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import random
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from .device import resolve

__all__ = ["seeded", "preserved", "keeps_caller_state"]

Fit = TypeVar("Fit", bound=Callable)


@contextlib.contextmanager
def seeded(seed: int | None, device: torch.device | str = "cpu") -> Iterator[None]:
    """Within: torch's global RNG (CPU, and ``device`` where it is CUDA), Python's and
    NumPy's seeded with ``seed``; afterwards: as they were. ``seed=None``: untouched."""
    if seed is None:
        yield
        return
    device = torch.device(device)
    cuda = []
    if device.type == "cuda":
        cuda = [device.index if device.index is not None else torch.cuda.current_device()]
    python, numpy = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(seed)
            random.seed(seed)
            np.random.seed(seed % 2**32)
            yield
    finally:
        random.setstate(python)
        np.random.set_state(numpy)


@contextlib.contextmanager
def preserved(*modules: nn.Module) -> Iterator[None]:
    """Restore, on exit, the ``training`` flag of every submodule of ``modules`` and the
    ``requires_grad`` flag of every parameter."""
    modes = [(m, m.training) for module in modules for m in module.modules()]
    flags = [(p, p.requires_grad) for module in modules for p in module.parameters()]
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training
        for p, requires_grad in flags:
            p.requires_grad_(requires_grad)


def keeps_caller_state(fit: Fit) -> Fit:
    """Run ``fit`` inside ``seeded(seed, device)`` and ``preserved(<its first argument>)``."""
    signature = inspect.signature(fit)

    @functools.wraps(fit)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        first = next(iter(bound.arguments.values()))
        module = first if isinstance(first, nn.Module) else getattr(first, "model", None)
        device = resolve(bound.arguments.get("device", "cpu"))
        modules = [module] if isinstance(module, nn.Module) else []
        with seeded(bound.arguments.get("seed"), device), preserved(*modules):
            return fit(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
