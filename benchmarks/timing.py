"""Shared timing helpers: every ratio compares runs interleaved in the same process."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def seconds(fn: Callable[[], object], device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def interleaved(
    runs: dict[str, Callable[[], object]], device: torch.device, repeats: int, warmup: int = 1
):
    """Run every candidate once per round, ``warmup + repeats`` rounds; keep the timed ones.

    This machine's speed drifts by tens of percent from minute to minute: interleaving
    keeps each ratio between neighbours in time.
    """
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(warmup + repeats):
        for k, fn in runs.items():
            times[k].append(seconds(fn, device))
    return {k: v[warmup:] for k, v in times.items()}


def median_ratio(numerator: list[float], denominator: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def machine(device: torch.device) -> dict[str, object]:
    """Where a benchmark ran: the device (and GPU), threads, torch and Python versions."""
    return {
        "device": str(device),
        "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
