"""Inputs away from the training distribution: rotations and noise images."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["rotate", "noise_like"]


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate images ``[N, C, H, W]`` about their centre (bilinear, zero fill)."""
    if x.dim() != 4:
        raise ValueError(f"rotate expects images [N, C, H, W], got {tuple(x.shape)}")
    theta = math.radians(degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    affine = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(affine.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


def noise_like(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Uniform noise images with the value range and shape of ``x``: nothing like the data."""
    generator = torch.Generator().manual_seed(seed)
    lo, hi = x.min().item(), x.max().item()
    return (torch.rand(x.shape, generator=generator) * (hi - lo) + lo).to(x)
