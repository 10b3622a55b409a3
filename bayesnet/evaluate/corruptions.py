"""The common corruptions of Hendrycks & Dietterich (2019), at five severities, for
grayscale and colour images of any size.

``corrupt(x, name, severity)`` takes images ``[N, C, H, W]`` with values in ``[0, 1]``
(what every ``bn.data`` reader returns) and returns them corrupted; severity 0 is the
identity, 1-5 the benchmark's levels. The families are those of ImageNet-C / CIFAR-10-C
that apply to small images, as MNIST-C (Mu & Gilmer 2019) keeps them:

- noise: ``gaussian_noise``, ``shot_noise``, ``impulse_noise``;
- blur: ``defocus_blur``, ``motion_blur``, ``zoom_blur``;
- weather: ``fog`` (a fractal haze; snow, frost and spatter need photographs' textures);
- digital: ``contrast``, ``brightness``, ``pixelate``, ``jpeg_compression``,
  ``elastic_transform``.

The parameters are CIFAR-10-C's (the closest image size to MNIST's), with blur and
displacement radii in pixels scaled by the image's size over 32. Why our own: the
reference implementation (``imagecorruptions``) works on NumPy images one at a time through
OpenCV, scikit-image and Wand, and several of its corruptions need at least 32 pixels a
side; these are batched torch operations (Pillow only for JPEG), deterministic given
``seed``, on any device. ``compare(corruptions=...)`` averages accuracy, NLL and ECE over
them per severity, as Ovadia et al. (2019) report.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["CORRUPTIONS", "FAMILIES", "SEVERITIES", "corrupt"]

SEVERITIES = (1, 2, 3, 4, 5)
Corruption = Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]


def _level(values: tuple, severity: int):
    return values[severity - 1]


def _scale(x: torch.Tensor) -> float:
    """Pixel sizes relative to CIFAR's 32 for larger images (smaller ones keep CIFAR's:
    a blur below a pixel would be no corruption at all)."""
    return max(1.0, min(x.shape[-2:]) / 32)


def _conv(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Each channel convolved with ``kernel [k, k]`` (reflect padding; odd ``k``)."""
    n, c, h, w = x.shape
    pad = kernel.shape[-1] // 2
    padded = F.pad(
        x.reshape(n * c, 1, h, w), (pad,) * 4, mode="reflect" if pad < min(h, w) else "replicate"
    )
    return F.conv2d(padded, kernel[None, None].to(x)).reshape(n, c, h, w)


def gaussian_noise(x, severity, g):
    std = _level((0.04, 0.06, 0.08, 0.09, 0.10), severity)
    return x + torch.randn(x.shape, generator=g).to(x) * std


def shot_noise(x, severity, g):
    rate = _level((500.0, 250.0, 100.0, 75.0, 50.0), severity)
    return torch.poisson(x.cpu().double().clamp_min(0) * rate, generator=g).to(x) / rate


def impulse_noise(x, severity, g):
    amount = _level((0.01, 0.02, 0.03, 0.05, 0.07), severity)
    u = torch.rand(x.shape, generator=g).to(x)
    salt = torch.rand(x.shape, generator=g).to(x) < 0.5
    hit = u < amount
    return torch.where(hit, salt.to(x), x)


def defocus_blur(x, severity, g):
    """A disk of ``radius`` pixels whose edge falls off as a Gaussian of ``alias`` pixels
    (ImageNet-C's disk convolved with its aliasing blur)."""
    radius, alias = _level(((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.6), (1.5, 0.6)), severity)
    radius, alias = radius * _scale(x), alias * _scale(x)
    size = 2 * math.ceil(radius + 3 * alias) + 1
    grid = torch.arange(size, dtype=torch.float64) - size // 2
    outside = ((grid[:, None] ** 2 + grid[None] ** 2).sqrt() - radius).clamp_min(0)
    disk = torch.exp(-0.5 * (outside / alias) ** 2)
    return _conv(x, disk / disk.sum())


def motion_blur(x, severity, g):
    """A one-sided streak of ``length`` pixels at a random angle, as a moving camera leaves,
    its points spread over their four nearest pixels (so the blur grows with the length
    even below a pixel). On images under 16 pixels a side the streak shrinks with the
    image: CIFAR's 11 pixels would cross an 8-pixel image, and a longer streak would then
    change it less."""
    side = min(x.shape[-2:])
    length = _level((3, 5, 7, 9, 11), severity) * _scale(x) * min(1.0, side / 16)
    angle = float(torch.rand((), generator=g)) * math.pi
    size = 2 * math.ceil(length) + 1
    t = torch.linspace(0, length, 8 * size, dtype=torch.float64)
    kernel = torch.zeros(size + 1, size + 1, dtype=torch.float64)
    cols, rows = size // 2 + t * math.cos(angle), size // 2 - t * math.sin(angle)
    c0, r0 = cols.floor(), rows.floor()
    for dr, dc in ((0, 0), (0, 1), (1, 0), (1, 1)):
        weight = (1 - (rows - r0 - dr).abs()) * (1 - (cols - c0 - dc).abs())
        kernel.index_put_(((r0 + dr).long(), (c0 + dc).long()), weight, accumulate=True)
    return _conv(x, kernel[:size, :size] / kernel[:size, :size].sum())


def zoom_blur(x, severity, g):
    """The mean of the image zoomed about its centre by factors from 1 to ``top``."""
    top = _level((1.06, 1.11, 1.16, 1.21, 1.26), severity)
    n = x.shape[0]
    total = x.clone()
    zooms = torch.arange(1.01, top + 1e-9, 0.02).tolist()
    for z in zooms:
        affine = torch.tensor([[1 / z, 0.0, 0.0], [0.0, 1 / z, 0.0]], dtype=x.dtype)
        grid = F.affine_grid(affine.expand(n, 2, 3), list(x.shape), align_corners=False)
        total += F.grid_sample(x, grid.to(x.device), align_corners=False)
    return total / (len(zooms) + 1)


def _fractal(n: int, h: int, w: int, decay: float, g: torch.Generator) -> torch.Tensor:
    """Smooth noise in [0, 1] (octaves of upsampled white noise, each ``decay`` times
    weaker than the one before: a plasma-fractal-like haze)."""
    field = torch.zeros(n, 1, h, w, dtype=torch.float64)
    for octave in range(int(math.log2(max(h, w))) + 1):
        cells = 2**octave
        noise = torch.rand(n, 1, cells + 1, cells + 1, generator=g, dtype=torch.float64)
        field += F.interpolate(noise, size=(h, w), mode="bilinear") * decay ** (-octave)
    low = field.amin((2, 3), keepdim=True)
    return (field - low) / (field.amax((2, 3), keepdim=True) - low).clamp_min(1e-12)


def fog(x, severity, g):
    strength, decay = _level(
        ((0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75)), severity
    )
    peak = x.amax((1, 2, 3), keepdim=True)
    haze = _fractal(x.shape[0], *x.shape[-2:], decay, g).to(x)
    return (x + strength * haze) * peak / (peak + strength)


def contrast(x, severity, g):
    c = _level((0.75, 0.5, 0.4, 0.3, 0.15), severity)
    mean = x.mean((1, 2, 3), keepdim=True)
    return (x - mean) * c + mean


def brightness(x, severity, g):
    return x + _level((0.05, 0.1, 0.15, 0.2, 0.3), severity)


def _blocks_of(n: int, size: float, like: torch.Tensor) -> torch.Tensor:
    """``[n, blocks]``: which block of ``size`` pixels each of ``n`` pixels falls in."""
    index = (torch.arange(n, dtype=torch.float64) / size).floor().long()
    return F.one_hot(index).to(like)


def pixelate(x, severity, g):
    """The image at a fraction ``c`` of its resolution: each pixel takes the mean of its
    block, pixel ``i`` in block ``floor(i c)`` along each side (blocks of ``1 / c`` pixels
    on average; resampling down and up at a non-integer factor misaligns the two grids, so
    a coarser level could change the image less). The fractions are coarser than
    CIFAR-10-C's 0.95-0.65, which leave 28-pixel digits whole."""
    size = 1 / _level((0.8, 0.65, 0.5, 0.4, 0.3), severity)
    rows, cols = (_blocks_of(n, size, x) for n in x.shape[-2:])
    means = torch.einsum("hb,nchw,wd->ncbd", rows, x, cols)
    means = means / torch.outer(rows.sum(0), cols.sum(0))
    return torch.einsum("hb,ncbd,wd->nchw", rows, means, cols)


def jpeg_compression(x, severity, g):
    from PIL import Image  # Pillow comes with matplotlib

    quality = _level((80, 65, 58, 50, 40), severity)
    images = (x.detach().cpu().clamp(0, 1) * 255).round().byte()
    out = []
    for image in images:
        array = image.permute(1, 2, 0).numpy()
        mode = "L" if array.shape[-1] == 1 else "RGB"
        buffer = io.BytesIO()
        Image.fromarray(array.squeeze(-1) if mode == "L" else array, mode).save(
            buffer, "JPEG", quality=quality
        )
        decoded = np.asarray(Image.open(buffer).convert(mode), dtype=np.float32) / 255
        out.append(torch.from_numpy(decoded.reshape(*array.shape)).permute(2, 0, 1))
    return torch.stack(out).to(x)


def elastic_transform(x, severity, g):
    """A smooth random displacement field (Simard et al. 2003), ``alpha`` pixels at most."""
    alpha = _level((0.5, 1.0, 1.5, 2.0, 2.5), severity) * _scale(x)
    n, _, h, w = x.shape
    field = (_fractal(2 * n, h, w, 4.0, g) * 2 - 1).reshape(n, 2, h, w)
    shift = field.permute(0, 2, 3, 1) * alpha * 2 / torch.tensor([w, h], dtype=torch.float64)
    base = F.affine_grid(
        torch.eye(2, 3, dtype=torch.float64).expand(n, 2, 3), [n, 1, h, w], align_corners=False
    )
    return F.grid_sample(x, (base + shift).to(x), padding_mode="border", align_corners=False)


CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "defocus_blur": defocus_blur,
    "motion_blur": motion_blur,
    "zoom_blur": zoom_blur,
    "fog": fog,
    "contrast": contrast,
    "brightness": brightness,
    "pixelate": pixelate,
    "jpeg_compression": jpeg_compression,
    "elastic_transform": elastic_transform,
}
FAMILIES = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "motion_blur", "zoom_blur"),
    "weather": ("fog",),
    "digital": ("contrast", "brightness", "pixelate", "jpeg_compression", "elastic_transform"),
}


def corrupt(x: torch.Tensor, name: str, severity: int, seed: int = 0) -> torch.Tensor:
    """``x`` under corruption ``name`` at ``severity`` (0: unchanged, 1-5; a whole number),
    clipped to ``[0, 1]``; random corruptions draw from a generator seeded with ``seed``.
    ``x`` must hold images with values in ``[0, 1]`` (standardised inputs would be swamped
    by the clipping: corrupt before standardising)."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; choose from {sorted(CORRUPTIONS)}")
    if (
        isinstance(severity, bool)
        or not isinstance(severity, (int, float))
        or severity != int(severity)
    ):
        raise ValueError(f"severity must be a whole number 0-5, got {severity!r}")
    severity = int(severity)
    if severity not in (0, *SEVERITIES):
        raise ValueError(f"severity must be 0-5, got {severity!r}")
    if x.dim() != 4:
        raise ValueError(f"corruptions expect images [N, C, H, W], got {tuple(x.shape)}")
    if len(x) and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"corruptions expect images with values in [0, 1], got {x.min().item():.3g} to "
            f"{x.max().item():.3g}: corrupt the images before standardising them"
        )
    if severity == 0:
        return x.clone()
    generator = torch.Generator().manual_seed(seed)
    return CORRUPTIONS[name](x, severity, generator).clamp(0, 1)
