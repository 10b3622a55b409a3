"""``bayesnet compare --task regression``: a regression network's point prediction with one
fitted noise level against its usual fixes and the recommended posterior of the same
architecture, on real tabular data (scikit-learn's diabetes, mlxtend's Auto MPG) and on
the in-between toy; writes the run directory as ``compare`` does."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import data, zoo
from ..evaluate import plots
from ..evaluate.regression_compare import compare_regression
from ..infer import baselines, fit
from .settings import CompareSettings

__all__ = ["REGRESSION_METHODS", "fit_regressors", "run_regression", "away_from_the_data"]

#: the methods, in the report's order: the point estimate with one fitted noise level, then
#: the heteroscedastic fixes of the same network and the recommended posterior
REGRESSION_METHODS = ("point", "heteroscedastic", "dropout", "ensemble", "recommended")


def fit_regressors(
    network: Callable[[int], nn.Module],
    train: Any,
    epochs: int,
    seed: int = 0,
    progress: bool = False,
    members: int = 5,
) -> dict[str, Any]:
    """Every method of ``REGRESSION_METHODS`` on ``train``; ``network(outputs)`` builds the
    architecture with ``outputs`` outputs (one per target, twice that for a mean and a
    scale). Every method starts from the same initial weights (``seed``)."""
    targets = train.tensors[1].shape[1] if hasattr(train, "tensors") else 1
    common = {"epochs": epochs, "seed": seed, "progress": progress}
    het = {**common, "task": "heteroscedastic"}

    def net(outputs: int) -> nn.Module:
        torch.manual_seed(seed)
        return network(outputs)

    return {
        "point": baselines.point_estimate(net(targets), train, task="regression", **common),
        "heteroscedastic": baselines.point_estimate(net(2 * targets), train, **het),
        "dropout": baselines.mc_dropout(net(2 * targets), train, **het),
        "ensemble": baselines.deep_ensemble(net(2 * targets), train, members=members, **het),
        "recommended": fit(net(2 * targets), train, **het),
    }


def away_from_the_data(x: torch.Tensor, distance: float = 4.0) -> torch.Tensor:
    """Test inputs moved ``distance`` standard deviations along the data's first principal
    component (the direction the data vary most: far from them, yet plausible-looking)."""
    centred = x - x.mean(0)
    direction = torch.linalg.svd(centred, full_matrices=False).Vh[0]
    spread = (centred @ direction).std()
    return x + distance * spread * direction


def run_regression(
    settings: CompareSettings, given: list[str] | None = None, argv: list[str] | None = None
) -> dict[str, Any]:
    """Fit every regression method on one standardised split of ``settings.data``
    (``diabetes`` or ``autompg``), compare them in distribution (a tenth of the training
    split calibrates the conformal intervals) and away from the data, draw the in-between
    figure, and write the run directory."""
    started = time.perf_counter()
    name = settings.data if settings.data in data.REGRESSION else "diabetes"
    split = next(data.standardized_splits(data.REGRESSION[name](), 1, seed=settings.seed))
    train, calibration = data.validation_split(split.train, settings.validation, seed=settings.seed)
    x, y = split.test.tensors
    width = train.tensors[0].shape[1]
    fitted = fit_regressors(
        lambda k: zoo.mlp(width, k, hidden=(50,)),
        train,
        settings.epochs,
        settings.seed,
        settings.progress,
        settings.members,
    )
    report = compare_regression(
        fitted,
        (x, y),
        ood={"principal_component": away_from_the_data(x)},
        calibration=calibration.tensors,
        alpha=settings.alpha,
        num_samples=settings.num_samples,
        scale=split.scale,
    )
    toy = data.in_between(seed=settings.seed)
    curves = fit_regressors(
        lambda k: zoo.mlp(1, k, hidden=(50, 50)), toy, 4 * settings.epochs, settings.seed
    )
    grid = torch.linspace(-2, 2, 200)[:, None]
    figure = plots.regression_bands(curves, *toy.tensors, grid, settings.num_samples)
    report.add_figure("In between the data", plots.png(figure))
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    seconds = time.perf_counter() - started
    command = " ".join(["bayesnet", *(argv or ["compare", "--task", "regression"])])
    report.provenance = (
        f"`{command}`: {'a --quick smoke test (not results)' if settings.quick_run else 'a full run'}; "
        f"data {name} (one split: {len(train)} train, {len(calibration)} calibration, "
        f"{len(x)} test; standardised on the training part); seed {settings.seed}; "
        f"{seconds:.0f} s"
    )
    summary = {"settings": asdict(settings), "given": given or [], "rows": report.rows}
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    report.to_markdown(out / "metrics.md")
    report.to_html(out / "report.html")
    for method, post in fitted.items():
        post.save(out / f"posterior_{method}.pt")
    return {"report": report, **fitted, "summary": summary}
