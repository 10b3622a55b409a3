"""Per-pixel uncertainty for segmentation: probabilities ``[S, N, C, H, W]`` as maps.

Every per-example metric applies per pixel once pixels are flattened into examples
(``flatten_pixels``); pixel ECE is the ECE over all pixels of all images.
"""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from . import metrics, plots

__all__ = ["flatten_pixels", "pixel_metrics", "uncertainty_maps", "pixel_figure"]


def flatten_pixels(probs: torch.Tensor) -> torch.Tensor:
    """``[S, N, C, *spatial]`` -> ``[S, N * prod(spatial), C]``."""
    if probs.dim() < 4:
        raise ValueError(
            f"expected per-pixel probabilities [S, N, C, H, W], got {tuple(probs.shape)}"
        )
    return probs.movedim(2, -1).reshape(probs.shape[0], -1, probs.shape[2])


def pixel_metrics(probs: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Pixel accuracy, NLL and ECE (15 bins) over every pixel; ``labels`` ``[N, *spatial]``."""
    flat, y = flatten_pixels(probs), labels.flatten()
    if flat.shape[1] != len(y):
        raise ValueError(f"{len(y)} pixel labels for {flat.shape[1]} pixel predictions")
    return {
        "pixel_accuracy": metrics.accuracy(flat, y),
        "pixel_nll": metrics.nll(flat, y),
        "pixel_ece": metrics.ece(flat, y),
    }


def uncertainty_maps(probs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-pixel maps ``[N, *spatial]``: confidence (max predictive probability), total
    entropy, aleatoric (expected entropy) and epistemic (mutual information) parts."""
    flat = flatten_pixels(probs)
    shape = (probs.shape[1], *probs.shape[3:])
    return {
        "confidence": metrics.max_probability(flat).view(shape),
        "entropy": metrics.predictive_entropy(flat).view(shape),
        "aleatoric": metrics.expected_entropy(flat).view(shape),
        "epistemic": metrics.mutual_information(flat).view(shape),
    }


def pixel_figure(
    point,
    posterior,
    images: torch.Tensor,
    outline: torch.Tensor | None = None,
    num_samples: int = 50,
) -> Figure:
    """One row per image: the input, the point estimate's softmax confidence, the posterior
    predictive confidence, and its aleatoric and epistemic maps. ``outline`` ``[N, H, W]``
    (e.g. unfamiliar objects) is drawn in red on every panel."""
    soft = uncertainty_maps(point.predict(images).cpu())["confidence"]
    maps = uncertainty_maps(posterior.predict(images, num_samples=num_samples).cpu())
    panels = {
        "input": (images[:, 0].cpu(), "gray", None),
        "softmax confidence": (soft, "magma", (0, 1)),
        "posterior confidence": (maps["confidence"], "magma", (0, 1)),
        "aleatoric (expected entropy)": (maps["aleatoric"], "viridis", None),
        "epistemic (mutual information)": (maps["epistemic"], "viridis", None),
    }
    rows = len(images)
    fig, axes = plots.grid(rows, len(panels), 2.6, 2.6)
    for j, (title, (values, cmap, limits)) in enumerate(panels.items()):
        vmin, vmax = limits or (0.0, max(values.max().item(), 1e-6))
        for i in range(rows):
            ax = axes[i][j]
            shown = ax.imshow(values[i], cmap=cmap, vmin=vmin, vmax=vmax)
            if outline is not None and outline[i].any():
                ax.contour(outline[i].float(), levels=[0.5], colors="red", linewidths=0.8)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=9)
        fig.colorbar(shown, ax=axes[:, j].tolist(), shrink=0.6)
    return fig
