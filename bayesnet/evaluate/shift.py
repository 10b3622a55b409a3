"""Inputs away from the training distribution: shifts with a severity axis, noise images.

Every shift is ``fn(x, severity) -> x'`` on images ``[N, C, H, W]``; severity 0 (or angle
0) returns the inputs unchanged. ``SHIFTS`` holds each with its default severities.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .corruptions import CORRUPTIONS, corrupt

__all__ = [
    "rotate",
    "gaussian_noise",
    "blur",
    "invert",
    "noise_like",
    "natural_patches",
    "corruption",
    "SHIFTS",
]

Shift = Callable[[torch.Tensor, float], torch.Tensor]


def _images(x: torch.Tensor, what: str) -> None:
    if x.dim() != 4:
        raise ValueError(f"{what} expects images [N, C, H, W], got {tuple(x.shape)}")


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate images about their centre (bilinear, zero fill)."""
    _images(x, "rotate")
    theta = math.radians(degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    affine = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(affine.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


def gaussian_noise(x: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    """Add ``N(0, std^2)`` noise, clipped to the inputs' value range."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(x.shape, generator=generator).to(x) * std
    return (x + noise).clamp(x.min().item(), x.max().item())


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur with standard deviation ``sigma`` pixels (reflect padding).
    Hand-written: torchvision is not a dependency; a separable kernel is two conv2d calls."""
    _images(x, "blur")
    if sigma <= 0:
        return x.clone()
    radius = max(1, math.ceil(3 * sigma))
    radius = min(radius, x.shape[-1] - 1, x.shape[-2] - 1)
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = x.shape[1]
    padded = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def invert(x: torch.Tensor, amount: float) -> torch.Tensor:
    """Blend each pixel towards its inverse within the value range: ``amount`` 1 is the
    full negative image."""
    if not 0 <= amount <= 1:
        raise ValueError(f"inversion amount must lie in [0, 1], got {amount}")
    lo, hi = x.min().item(), x.max().item()
    return (1 - amount) * x + amount * (lo + hi - x)


def noise_like(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Uniform noise images with the value range and shape of ``x``: nothing like the data."""
    generator = torch.Generator().manual_seed(seed)
    lo, hi = x.min().item(), x.max().item()
    return (torch.rand(x.shape, generator=generator) * (hi - lo) + lo).to(x)


def natural_patches(x: torch.Tensor, seed: int = 0, zoom: int = 2) -> torch.Tensor:
    """Patches of real photographs, as many as ``x`` has images and of its shape: square
    crops of scikit-learn's two sample photographs (a temple, a flower; shipped with it,
    no download) at random places, ``zoom`` times the image size, averaged down to it, in
    grey (or colour, for 3-channel ``x``), stretched to ``x``'s value range. Natural
    images that are not the data: edges and textures, no digit or object of its classes."""
    _images(x, "natural_patches")
    from sklearn.datasets import load_sample_images  # loads on use, as digits() does

    n, channels, height, width = x.shape
    if channels not in (1, 3):
        raise ValueError(f"natural_patches makes 1- or 3-channel images, not {channels}")
    photos = [
        torch.tensor(im, dtype=torch.float32).permute(2, 0, 1) / 255
        for im in load_sample_images().images
    ]
    generator = torch.Generator().manual_seed(seed)
    crops = []
    for i in range(n):
        photo = photos[i % len(photos)]
        top = int(torch.randint(photo.shape[1] - zoom * height + 1, (1,), generator=generator))
        left = int(torch.randint(photo.shape[2] - zoom * width + 1, (1,), generator=generator))
        crops.append(photo[:, top : top + zoom * height, left : left + zoom * width])
    patches = F.avg_pool2d(torch.stack(crops), zoom)
    if channels == 1:
        patches = patches.mean(1, keepdim=True)
    low = patches.amin((1, 2, 3), keepdim=True)
    high = patches.amax((1, 2, 3), keepdim=True)
    patches = (patches - low) / (high - low).clamp_min(1e-6)
    lo, hi = x.min().item(), x.max().item()
    return (patches * (hi - lo) + lo).to(x)


def corruption(name: str) -> Shift:
    """A common corruption (``corruptions.CORRUPTIONS``) as a shift ``fn(x, severity,
    batch)``, severities 0-5, for ``compare(shifts={"fog": (corruption("fog"), [0, 1, 3,
    5])})``: each batch of a data set is corrupted with its own seed (its index), the same
    for every method."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; choose from {sorted(CORRUPTIONS)}")
    return lambda x, severity, batch=0: corrupt(x, name, severity, seed=batch)


SHIFTS: dict[str, tuple[Shift, tuple[float, ...]]] = {
    "rotation": (rotate, (0.0, 15.0, 30.0, 45.0, 60.0, 90.0)),
    "noise": (gaussian_noise, (0.0, 0.1, 0.2, 0.4, 0.6, 0.8)),
    "blur": (blur, (0.0, 0.5, 0.75, 1.0, 1.5, 2.0)),
    "inversion": (invert, (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)),
}
