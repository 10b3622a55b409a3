"""Figures: reliability diagrams (more come with the evaluation suite)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from .metrics import calibration_bins, ece  # noqa: E402

__all__ = ["reliability_diagram"]


def reliability_diagram(
    probs: dict[str, torch.Tensor], labels: torch.Tensor, path: str | Path, bins: int = 15
) -> Path:
    """Accuracy against confidence per bin, one panel per method, written to ``path``."""
    fig, axes = plt.subplots(1, len(probs), figsize=(3.6 * len(probs), 3.6), squeeze=False)
    centres = (torch.arange(bins, dtype=torch.float64) + 0.5) / bins
    for ax, (name, p) in zip(axes[0], probs.items(), strict=True):
        _, acc, _ = calibration_bins(p, labels, bins)
        ax.bar(centres, acc.cpu(), width=1 / bins, edgecolor="black", alpha=0.8, label="accuracy")
        ax.plot([0, 1], [0, 1], "k--", lw=1, label="calibrated")
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1),
            xlabel="confidence",
            title=f"{name}\nECE {ece(p, labels, bins):.3f}",
        )
        ax.legend(loc="upper left", fontsize=8)
    axes[0][0].set_ylabel("accuracy")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
