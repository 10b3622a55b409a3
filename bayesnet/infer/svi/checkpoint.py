"""SVI checkpoints: one file per phase, written atomically after every epoch and read
back by ``resume=True`` so that a resumed run ends where an uninterrupted one would."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from ...checkpoint import load_safe, load_state, rng_state, save_atomic, set_rng_state
from ...posterior import architecture, check_architecture

__all__ = ["CHECKPOINT_NAME", "MAP_CHECKPOINT_NAME", "save", "restore", "optimizer_settings"]

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


def save(ckpt: Path, epoch: int, spec, model, guide, opt, schedule, lr: float, loader, history):
    """Write the run's state after ``epoch`` epochs to ``ckpt`` (atomically)."""
    save_atomic(
        {
            "format": CHECKPOINT_FORMAT,
            "epoch": epoch,
            "spec": spec,
            "arch": architecture(model),
            "model": model.state_dict(),
            "guide": guide.state_dict(),
            "optimizer": opt.state_dict(),
            "schedule": schedule.state_dict(),
            "optimizer_settings": optimizer_settings(opt, lr),
            "rng": rng_state(loader),
            "history": history,
        },
        ckpt,
    )


def optimizer_settings(opt: torch.optim.Optimizer, lr: float) -> dict[str, Any]:
    """What a resumed run must share with the stored one (else it warns)."""
    return {"optimizer": type(opt).__name__, "lr": float(lr)}


def restore(ckpt: Path, model, guide, opt, schedule, loader, info, spec, settings) -> int:
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
    check_architecture(model, state["arch"], ckpt)
    if state["spec"] != spec:
        raise ValueError(f"{ckpt} was written with guide settings {state['spec']}, not {spec}")
    load_state(model, state["model"], ckpt, "model state")
    load_state(guide, state["guide"], ckpt, "guide state")
    load_state(opt, state["optimizer"], ckpt, "optimizer state")
    load_state(schedule, state["schedule"], ckpt, "learning-rate schedule")
    set_rng_state(state["rng"], loader)
    info["history"][:] = state["history"]
    return int(state["epoch"])
