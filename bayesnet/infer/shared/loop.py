"""The minibatch loop every optimiser-driven fit runs: both phases of ``fit_svi`` (MAP
warm start and SVI) and the maximum-likelihood baselines (point estimate, ensemble
members, MC dropout). Each caller supplies the step's objective and keeps its own epochs
(progress bar, history, checkpoints); the loop owns the batches, the device moves, the
finite check, the optimiser step and the epoch's averages (one device sync per epoch)."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch

from ...data.loaders import training_batches

__all__ = ["OPTIMIZERS", "Hooks", "first_batch", "multi_tensor", "num_batches", "run_epoch"]

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}

#: ``(x, y, step) -> (loss, terms)``: the loss to minimise and the quantities to average
#: over the epoch (a 1-D tensor)
Objective = Callable[[torch.Tensor, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]


def multi_tensor(optimizer: type[torch.optim.Optimizer]) -> dict[str, bool]:
    """``foreach=True`` where the optimizer takes it: one kernel over all of its tensors
    instead of one per tensor (torch picks it by itself on CUDA only; on CPU it saves a
    sixth of a small CNN's SVI step, benchmarks/core.py)."""
    return {"foreach": True} if "foreach" in inspect.signature(optimizer).parameters else {}


def first_batch(loader: Iterable) -> tuple[torch.Tensor, torch.Tensor]:
    """The loader's first pair; a ValueError for an empty loader."""
    try:
        if len(loader) == 0:
            raise ValueError("the training loader is empty")
    except TypeError:
        pass
    for batch in training_batches(loader):
        return batch
    raise ValueError("the training loader is empty")


def num_batches(loader: Iterable) -> int:
    """Batches per epoch, or 0 where the loader cannot say."""
    try:
        return len(loader)
    except TypeError:
        return 0


@dataclass(frozen=True)
class Hooks:
    """What a fit adds to the loop's step, each optional: ``check(x, y)`` before the
    objective; ``around_gradient()``, a context the objective and backward run in (IVON
    evaluates the gradient at a weight draw it restores on exit); ``after_backward()``
    (averaging gradients across processes); ``schedule``, stepped after the optimiser;
    ``after_step()`` (SWAG collects its iterates there)."""

    check: Callable[[torch.Tensor, torch.Tensor], None] | None = None
    around_gradient: Callable[[], AbstractContextManager] | None = None
    after_backward: Callable[[], None] | None = None
    schedule: torch.optim.lr_scheduler.LRScheduler | None = None
    after_step: Callable[[], None] | None = None


def run_epoch(
    loader: Iterable,
    device: torch.device,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    on_nonfinite: Callable[[torch.Tensor, torch.Tensor, int], Exception],
    hooks: Hooks = Hooks(),
) -> tuple[torch.Tensor, int]:
    """One pass over ``loader``: per batch, the ``hooks``' check, the objective, a refusal
    of a non-finite loss (``on_nonfinite(loss, terms, step)`` is raised), backward, the
    optimiser's step, each hook where ``Hooks`` says. Returns the mean of ``terms`` over
    the batches and the number of examples seen."""
    sums, count, examples = None, 0, 0
    for step, (x, y) in enumerate(training_batches(loader)):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if hooks.check is not None:
            hooks.check(x, y)
        optimizer.zero_grad(set_to_none=True)
        around = hooks.around_gradient
        with around() if around is not None else contextlib.nullcontext():
            loss, terms = objective(x, y, step)
            if not torch.isfinite(loss):
                raise on_nonfinite(loss, terms, step)
            loss.backward()
        if hooks.after_backward is not None:
            hooks.after_backward()
        optimizer.step()
        if hooks.schedule is not None:
            hooks.schedule.step()
        if hooks.after_step is not None:
            hooks.after_step()
        sums = terms.detach() if sums is None else sums + terms.detach()
        count += 1
        examples += x.shape[0]
    if sums is None:
        raise ValueError("the training loader is empty")
    return sums / count, examples
