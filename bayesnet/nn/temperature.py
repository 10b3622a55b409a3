"""Temperature scaling as a module: logits divided by a fitted scalar (Guo et al. 2017)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Temperature"]


class Temperature(nn.Module):
    """``logits / T``; ``T`` is a buffer so it is saved with the network but never trained
    with it."""

    def __init__(self, value: float = 1.0) -> None:
        super().__init__()
        if not value > 0:
            raise ValueError(f"temperature must be positive, got {value}")
        self.register_buffer("value", torch.tensor(float(value)))

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits / self.value

    def extra_repr(self) -> str:
        return f"T={self.value.item():.4g}"
