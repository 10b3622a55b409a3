"""Detecting a SWAG fit that collected its iterates while the network was still learning.

SWAG's Gaussian describes the iterates around a mode (Maddox et al. 2019): collected
while the training loss still falls fast, it describes a path towards one, and a mixture
of such fits is underconfident. Chosen on the few-epoch cells of the battery and confirmed
on others (``benchmarks/convergence.py``, RESULTS "The default on few epochs"), when SWAG
collected at the training's own rate: every cell where ``bn.fit``'s test NLL was above the
softmax's had a start whose training NLL fell by 0.32 nats per example or more over the
epochs it collected in; of the 31 cells where it was below, one fell by more than 0.25.
Collecting at four times the rate (today's default), no cell of the battery's has
``bn.fit``'s NLL above the softmax's, and a start learns faster while it collects. One
network the battery's choices never saw did (PyTorch's MNIST example with BatchNorm, six
epochs on 1,500 real digits: no start's training NLL fell by more than 0.12, yet the
mixture was underconfident), and the loss did not say why: its dropout was on while SWAG
collected. Held off there (``fit_swag``'s ``dropout`` default since), its NLL is below the
softmax's (RESULTS, "Dropout while SWAG collects"); the warning reads the loss, not such
causes.
It marks networks still underfit, at a few epochs (where about half such mixtures were less
calibrated than the softmax) and on two 20-epoch fits of 30 (RESULTS says which).
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = [
    "ConvergenceWarning",
    "STILL_LEARNING_NATS",
    "collection_fall",
    "largest_fall",
    "check_still_learning",
]

#: a classification start whose training NLL falls by more than this (nats per example)
#: over the epochs it collects in was still learning
STILL_LEARNING_NATS = 0.25


class ConvergenceWarning(UserWarning):
    """A SWAG fit collected its iterates while its network was still learning."""


def collection_fall(history: list[dict[str, float]], windows: list[tuple[int, int]]) -> float:
    """The largest fall of the per-epoch training loss ``history`` from the first to the
    last epoch (0-based, inclusive) of any collection window."""
    return max(history[first]["loss"] - history[last]["loss"] for first, last in windows)


def largest_fall(info: dict[str, Any]) -> float | None:
    """The largest ``collection_fall`` of a fit's starts (``info["starts"]``, or the fit's
    own), None where none recorded one (a regression fit)."""
    falls = [i["collection_fall"] for i in info.get("starts", [info]) if "collection_fall" in i]
    return max(falls) if falls else None


def check_still_learning(info: dict[str, Any]) -> bool:
    """Warn with ``ConvergenceWarning`` when a start of the fit whose ``info`` this is
    recorded a ``collection_fall`` above ``STILL_LEARNING_NATS``."""
    fall = largest_fall(info)
    if fall is None or fall <= STILL_LEARNING_NATS:
        return False
    warnings.warn(
        f"SWAG collected while the network was still learning: the training NLL of a "
        f"start fell by {fall:.2f} nats per example over the epochs it collected in (more "
        f"than {STILL_LEARNING_NATS}). Its Gaussian then follows a path rather than "
        "surrounding a mode, and the network is underfit (on the battery's few-epoch cells "
        "such mixtures were often less calibrated than the softmax). Train longer: epochs "
        "is what one full training of the network takes (bn.fit spends 1.5 of them).",
        ConvergenceWarning,
        stacklevel=4,
    )
    return True
