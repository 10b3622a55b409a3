"""Device selection: ``"auto"`` is CUDA when present, else CPU; several GPUs share chains."""

from __future__ import annotations

import torch


def resolve(device: str | torch.device | None = "auto") -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but no CUDA device is available")
    return device


def chain_devices(device: torch.device, num_chains: int) -> list[torch.device]:
    """Where each of ``num_chains`` chains runs: chain ``i`` on ``cuda:i`` (round robin)
    when ``device`` is CUDA without an index and several GPUs are visible; every chain on
    ``device`` otherwise (a CPU, one GPU, or a GPU the caller named)."""
    count = torch.cuda.device_count() if device.type == "cuda" else 0
    if device.index is not None or count < 2:
        return [device] * num_chains
    return [torch.device("cuda", i % count) for i in range(num_chains)]
