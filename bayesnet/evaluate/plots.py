"""Figures of a comparison. Each function returns a matplotlib ``Figure``; ``save`` writes
one to a file and ``png`` encodes it for embedding (the report inlines every figure).

Figures are built with matplotlib's object-oriented API (``Figure``, not ``pyplot``): no
backend is selected and no global figure registry is touched, so importing bayesnet leaves
a notebook's or a ``MPLBACKEND`` setting as it was."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from . import metrics
from .summary import Summary

__all__ = [
    "grid",
    "save",
    "png",
    "reliability_diagram",
    "histograms",
    "roc_curves",
    "risk_coverage_curves",
    "metric_curves",
]


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` (PNG, parents created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def png(fig: Figure) -> bytes:
    """``fig`` as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def grid(rows: int, cols: int, width: float = 3.6, height: float = 3.2):
    """A ``Figure`` and its ``[rows, cols]`` array of axes, each panel ``width x height``
    inches; every figure colours method number ``k`` as ``C{k}`` so a method keeps its
    colour in panels where others are missing."""
    fig = Figure(figsize=(width * cols, height * rows))
    return fig, fig.subplots(rows, cols, squeeze=False)


def reliability_diagram(summaries: dict[str, Summary]) -> Figure:
    """Accuracy against confidence per equal-width bin, one panel per method."""
    fig, axes = grid(1, len(summaries))
    for ax, (name, summary) in zip(axes[0], summaries.items(), strict=True):
        bins = summary.bins
        centres = (torch.arange(bins, dtype=torch.float64) + 0.5) / bins
        _, acc, _ = summary.calibration_bins()
        ax.bar(centres, acc.cpu(), width=1 / bins, edgecolor="black", alpha=0.8, label="accuracy")
        ax.plot([0, 1], [0, 1], "k--", lw=1, label="calibrated")
        ece = summary.ece()
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", title=f"{name}\nECE {ece:.3f}")
        ax.legend(loc="upper left", fontsize=8)
    axes[0][0].set_ylabel("accuracy")
    fig.tight_layout()
    return fig


def histograms(summaries: dict[str, dict[str, Summary]], in_name: str) -> Figure:
    """Per method (columns): the fraction of each set's inputs per bin of confidence (top,
    over ``[1/C, 1]``) and of predictive entropy (bottom, over ``[0, log C]``), the
    in-distribution set in black."""
    fig, axes = grid(2, len(summaries), height=2.8)
    classes = next(iter(next(iter(summaries.values())).values())).num_classes
    panels = (
        ("max probability", "confidence", (1 / classes, 1.0)),
        ("entropy", "entropy", (0.0, math.log(classes))),
    )
    for j, (method, sets) in enumerate(summaries.items()):
        for i, (label, key, limits) in enumerate(panels):
            ax = axes[i][j]
            for name, summary in sets.items():
                values = (summary.confidence if key == "confidence" else summary.score(key)).numpy()
                style = {"color": "black"} if name == in_name else {}
                ax.hist(
                    values,
                    bins=25,
                    range=limits,
                    weights=[1 / len(values)] * len(values),
                    histtype="step",
                    label=name,
                    **style,
                )
            ax.set(xlabel=label, ylabel="fraction of inputs", title=method if i == 0 else "")
        axes[0][j].legend(fontsize=7)
    fig.tight_layout()
    return fig


def roc_curves(
    summaries: dict[str, dict[str, Summary]], in_name: str, scores: Sequence[str]
) -> Figure:
    """ROC of each uncertainty score (rows) for each OOD set (columns), one line per
    method; scores that are constant for a method (MI of a point estimate) are skipped."""
    out_names = [n for n in next(iter(summaries.values())) if n != in_name]
    fig, axes = grid(len(scores), len(out_names))
    for i, score in enumerate(scores):
        for j, out in enumerate(out_names):
            ax = axes[i][j]
            for k, (method, sets) in enumerate(summaries.items()):
                s_in, s_out = sets[in_name].score(score), sets[out].score(score)
                if torch.cat([s_in, s_out]).unique().numel() < 2:
                    continue
                truth = [0] * len(s_in) + [1] * len(s_out)
                fpr, tpr, _ = roc_curve(truth, torch.cat([s_in, s_out]).numpy())
                auroc = metrics.ood_auroc(s_in, s_out)
                ax.plot(fpr, tpr, color=f"C{k}", label=f"{method} ({auroc:.3f})")
            ax.plot([0, 1], [0, 1], "k:", lw=0.8)
            ax.set(
                title=f"{out}: {score}", xlabel="false positive rate", ylabel="true positive rate"
            )
            if len(ax.get_lines()) > 1:
                ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def risk_coverage_curves(summaries: dict[str, Summary], scores: Sequence[str]) -> Figure:
    """Error rate among the kept examples against coverage, one panel per score."""
    fig, axes = grid(1, len(scores))
    for ax, score in zip(axes[0], scores, strict=True):
        for method, summary in summaries.items():
            coverage, risk = summary.risk_coverage(score)
            ax.plot(coverage, risk, label=f"{method} (AURC {risk.mean().item():.4f})")
        ax.set(title=f"rejecting by {score}", xlabel="coverage", ylabel="risk (error rate)")
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def metric_curves(
    rows: list[dict[str, Any]], kind: str, columns: Sequence[str], xlabel: str
) -> Figure:
    """Each metric (rows of panels) against severity for each condition of ``kind``
    (columns of panels), one line per method."""
    rows = [r for r in rows if r["kind"] == kind]
    conditions = list(dict.fromkeys(r["condition"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig, axes = grid(len(columns), len(conditions), height=2.8)
    for j, condition in enumerate(conditions):
        for i, column in enumerate(columns):
            ax = axes[i][j]
            for k, method in enumerate(methods):
                points = [
                    (r["severity"], r[column])
                    for r in rows
                    if r["condition"] == condition
                    and r["method"] == method
                    and r.get(column) is not None
                ]
                if points:
                    xs, ys = zip(*points, strict=True)
                    ax.plot(xs, ys, color=f"C{k}", marker="o", ms=3, label=method)
            label = xlabel if kind == "corruption" else f"{condition} {xlabel}"
            ax.set(xlabel=label, ylabel=column)
        axes[0][j].set_title(condition)
        axes[0][j].legend(fontsize=7)
    fig.tight_layout()
    return fig


def regression_bands(
    methods: dict[str, Any], x: torch.Tensor, y: torch.Tensor, grid_x: torch.Tensor, draws: int = 50
) -> Figure:
    """One panel per regressor of one input: the training data, the predictive mean, and
    two-standard-deviation bands of its aleatoric part (inner) and of the total (outer:
    the epistemic part on top), over ``grid_x`` ``[G, 1]``."""
    from .regression import decompose  # the split the bands draw

    fig, axes = grid(1, len(methods), width=3.4, height=3.0)
    xs = grid_x[:, 0]
    for ax, (name, post) in zip(axes[0], methods.items(), strict=False):
        split = decompose(*post.predict_moments(grid_x, num_samples=draws))
        mean = split["mean"][:, 0]
        aleatoric, total = (2 * split[k][:, 0].sqrt() for k in ("aleatoric", "total"))
        ax.fill_between(
            xs, mean - total, mean + total, color="tab:orange", alpha=0.3, label="total"
        )
        ax.fill_between(
            xs, mean - aleatoric, mean + aleatoric, color="tab:blue", alpha=0.3, label="aleatoric"
        )
        ax.plot(xs, mean, color="black", lw=1)
        ax.scatter(x[:, 0], y[:, 0], s=4, color="black", alpha=0.5)
        ax.set_title(name)
        ax.set_xlabel("x")
    axes[0][0].legend(loc="upper left", fontsize=7)
    return fig
