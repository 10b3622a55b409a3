"""Far from the data: the point-estimate softmax extrapolates with certainty, the posterior
predictive returns towards uncertainty (2-D inputs, e.g. ``bayesnet.data.two_moons``)."""

from __future__ import annotations

import math

import torch
from matplotlib.figure import Figure

from . import plots
from .metrics import max_probability

__all__ = ["far_points", "far_confidence", "toy_figure"]


def far_points(x_train: torch.Tensor, factor: float = 10.0, num: int = 64) -> torch.Tensor:
    """``num`` points on a circle ``factor`` times farther out than the farthest training
    input (2-D inputs only)."""
    if x_train.dim() != 2 or x_train.shape[1] != 2:
        raise ValueError(f"toy problems have 2-D inputs [N, 2], got {tuple(x_train.shape)}")
    radius = factor * x_train.norm(dim=1).max().item()
    angles = torch.linspace(0, 2 * math.pi, num + 1)[:-1]
    return radius * torch.stack([angles.cos(), angles.sin()], 1).to(x_train)


def far_confidence(posterior, x_train: torch.Tensor, factor: float = 10.0) -> float:
    """Mean max predictive probability on ``far_points``: near 1 means certain where there
    was never any data."""
    probs = posterior.predict(far_points(x_train, factor), num_samples=None)
    return max_probability(probs.cpu()).mean().item()


def toy_figure(
    methods: dict, train: tuple[torch.Tensor, torch.Tensor], extent: float = 6.0
) -> Figure:
    """Max predictive probability over ``[-extent, extent]^2``, one panel per method, with
    the training points; titles give the mean confidence far out (``far_confidence``)."""
    x, y = train
    grid = torch.linspace(-extent, extent, 120)
    gx, gy = torch.meshgrid(grid, grid, indexing="xy")
    points = torch.stack([gx.flatten(), gy.flatten()], 1).to(x)
    fig, axes = plots.grid(1, len(methods), 3.8, 3.6)
    for ax, (name, post) in zip(axes[0], methods.items(), strict=True):
        conf = max_probability(post.predict(points, num_samples=None).cpu()).view_as(gx)
        image = ax.contourf(
            gx, gy, conf, levels=torch.linspace(0.5, 1, 11).tolist(), cmap="viridis"
        )
        ax.scatter(*x.cpu().T, c=y.cpu(), cmap="coolwarm", s=6, edgecolors="white", linewidths=0.3)
        ax.set(title=f"{name}\nfar-away confidence {far_confidence(post, x):.3f}", aspect="equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="max probability")
    return fig
