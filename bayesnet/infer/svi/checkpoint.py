"""SVI checkpoints: one file per phase, written atomically after every epoch and read
back by ``resume=True`` so that a resumed run ends where an uninterrupted one would."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ...checkpoint import load_safe, load_state, rng_state, save_atomic, set_rng_state
from ...posterior import architecture, check_architecture

__all__ = [
    "CHECKPOINT_NAME",
    "MAP_CHECKPOINT_NAME",
    "RunObjects",
    "save",
    "restore",
    "optimizer_settings",
]

CHECKPOINT_NAME = "svi.pt"
MAP_CHECKPOINT_NAME = "map.pt"
CHECKPOINT_FORMAT = "bayesnet.svi/1"
CHECKPOINT_KEYS = (
    "epoch",
    "spec",
    "arch",
    "model",
    "guide",
    "optimizer",
    "schedule",
    "rng",
    "history",
)


@dataclass(frozen=True)
class RunObjects:
    """The objects of a run whose state a checkpoint holds: the model, the guide, the
    optimiser, its learning-rate schedule, and the loader (its sampler's RNG)."""

    model: torch.nn.Module
    guide: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    loader: Iterable


def save(ckpt: Path, epoch: int, objects: RunObjects, spec: dict, lr: float, history: list) -> None:
    """Write the run's state after ``epoch`` epochs to ``ckpt`` (atomically)."""
    save_atomic(
        {
            "format": CHECKPOINT_FORMAT,
            "epoch": epoch,
            "spec": spec,
            "arch": architecture(objects.model),
            "model": objects.model.state_dict(),
            "guide": objects.guide.state_dict(),
            "optimizer": objects.optimizer.state_dict(),
            "schedule": objects.schedule.state_dict(),
            "optimizer_settings": optimizer_settings(objects.optimizer, lr),
            "rng": rng_state(objects.loader),
            "history": history,
        },
        ckpt,
    )


def optimizer_settings(opt: torch.optim.Optimizer, lr: float) -> dict[str, Any]:
    """What a resumed run must share with the stored one (else it warns)."""
    return {"optimizer": type(opt).__name__, "lr": float(lr)}


def restore(ckpt: Path, objects: RunObjects, info: dict, spec: dict, settings: dict) -> int:
    """Load a checkpoint written by ``save`` into a run's objects; the epoch it ended."""
    state = load_safe(ckpt, format=CHECKPOINT_FORMAT, keys=CHECKPOINT_KEYS)
    stored = state.get("optimizer_settings", settings)
    if stored != settings:
        warnings.warn(
            f"{ckpt} was written with {stored}; resuming continues its optimizer state and "
            f"schedule as stored, not {settings}. Start a new run (overwrite=True) to change "
            "them.",
            stacklevel=4,
        )
    check_architecture(objects.model, state["arch"], ckpt)
    if state["spec"] != spec:
        raise ValueError(f"{ckpt} was written with guide settings {state['spec']}, not {spec}")
    load_state(objects.model, state["model"], ckpt, "model state")
    load_state(objects.guide, state["guide"], ckpt, "guide state")
    load_state(objects.optimizer, state["optimizer"], ckpt, "optimizer state")
    load_state(objects.schedule, state["schedule"], ckpt, "learning-rate schedule")
    set_rng_state(state["rng"], objects.loader)
    info["history"][:] = state["history"]
    return int(state["epoch"])
