"""Digit scenes for per-pixel classification: 8x8 digits placed on a larger canvas.

Each scene is a ``grid x grid`` arrangement of 8x8 cells; some cells hold a digit, the rest
are empty. A pixel is labelled with its digit's class where the digit's ink exceeds
``ink``, and ``BACKGROUND`` (10) elsewhere. ``unfamiliar`` pastes objects the network has
never seen (squares, rings, crosses, checkerboards) into empty cells; their pixels are
marked in the returned mask and labelled background (a segmenter has no class for them).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import TensorDataset

__all__ = ["BACKGROUND", "Scenes", "digit_scenes", "SHAPES"]

BACKGROUND = 10
CELL = 8


def _shapes() -> dict[str, torch.Tensor]:
    i = torch.arange(CELL)
    r, c = torch.meshgrid(i, i, indexing="ij")
    edge = (r == 1) | (r == CELL - 2) | (c == 1) | (c == CELL - 2)
    inside = (r >= 1) & (r <= CELL - 2) & (c >= 1) & (c <= CELL - 2)
    return {
        "square": inside.float(),
        "ring": (edge & inside).float(),
        "cross": ((r == c) | (r == CELL - 1 - c)).float(),
        "checkerboard": ((r // 2 + c // 2) % 2 == 0).float(),
    }


SHAPES = _shapes()


@dataclass
class Scenes:
    """Images ``[N, 1, H, W]``, pixel labels ``[N, H, W]`` and the mask of unfamiliar
    objects' pixels ``[N, H, W]``."""

    images: torch.Tensor
    labels: torch.Tensor
    unfamiliar: torch.Tensor

    def dataset(self) -> TensorDataset:
        return TensorDataset(self.images, self.labels)


def digit_scenes(
    digits: TensorDataset,
    num_scenes: int,
    grid: int = 3,
    digits_per_scene: tuple[int, int] = (2, 4),
    unfamiliar: int = 0,
    ink: float = 0.25,
    seed: int = 0,
) -> Scenes:
    """``num_scenes`` scenes built from the 8x8 ``digits`` (inputs in [0, 1], labels 0-9):
    between ``digits_per_scene[0]`` and ``[1]`` digits each, plus ``unfamiliar`` pasted
    objects."""
    lo, hi = digits_per_scene
    if not 1 <= lo <= hi or hi + unfamiliar > grid * grid:
        raise ValueError(
            f"{digits_per_scene} digits and {unfamiliar} objects do not fit {grid * grid} cells"
        )
    x, y = digits.tensors
    if x.shape[1:] != (1, CELL, CELL):
        raise ValueError(f"scenes are built from 8x8 digits [N, 1, 8, 8], got {tuple(x.shape)}")
    g = torch.Generator().manual_seed(seed)
    size = grid * CELL
    images = torch.zeros(num_scenes, 1, size, size)
    labels = torch.full((num_scenes, size, size), BACKGROUND, dtype=torch.long)
    mask = torch.zeros(num_scenes, size, size, dtype=torch.bool)
    shapes = list(SHAPES.values())
    for n in range(num_scenes):
        count = int(torch.randint(lo, hi + 1, (), generator=g))
        cells = torch.randperm(grid * grid, generator=g)[: count + unfamiliar].tolist()
        for k, cell in enumerate(cells):
            rows = slice(cell // grid * CELL, cell // grid * CELL + CELL)
            cols = slice(cell % grid * CELL, cell % grid * CELL + CELL)
            if k < count:
                i = int(torch.randint(len(y), (), generator=g))
                images[n, 0, rows, cols] = x[i, 0]
                labels[n, rows, cols] = torch.where(x[i, 0] > ink, y[i], BACKGROUND)
            else:
                shape = shapes[int(torch.randint(len(shapes), (), generator=g))]
                images[n, 0, rows, cols] = shape
                mask[n, rows, cols] = shape > 0
    return Scenes(images, labels, mask)
