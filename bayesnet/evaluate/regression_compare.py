"""``compare_regression``: regressors of one architecture side by side, in distribution
(RMSE, NLL, CRPS, PIT calibration, credible and split-conformal intervals) and away from
the data (does the epistemic part flag inputs there: AUROC), as tidy rows of a
``Report`` whose findings are the regression ones.

A point estimate with one fitted noise level has no epistemic part: its variance is the
same everywhere, and its "AUROC" is 0.5 by construction. That is the question this
answers, as ``compare`` answers it for the softmax.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from . import metrics
from . import regression as reg
from .report import Report

__all__ = ["compare_regression", "interval_columns"]


def interval_columns(
    means, variances, y, levels: Sequence[float], scale: float = 1.0
) -> dict[str, float]:
    """Coverage and mean width (in the targets' units, given their ``scale``) of the
    central credible interval at each level."""
    found = {}
    for level in levels:
        low, high = reg.intervals(means, variances, level)
        cover, width = reg.coverage(low, high, y)
        tag = f"{round(100 * level)}"
        found[f"coverage_{tag}"], found[f"width_{tag}"] = cover, width * scale
    return found


def compare_regression(
    methods: dict[str, Any],
    test: tuple[torch.Tensor, torch.Tensor],
    ood: dict[str, torch.Tensor] | None = None,
    calibration: tuple[torch.Tensor, torch.Tensor] | None = None,
    alpha: float = 0.1,
    levels: Sequence[float] = reg.LEVELS,
    num_samples: int = 100,
    scale: float = 1.0,
) -> Report:
    """One ``test`` row per method (RMSE and NLL in the targets' units given their
    ``scale``, CRPS, PIT calibration error, mean aleatoric and epistemic variance,
    credible intervals at ``levels``, and with a ``calibration`` split the split-conformal
    intervals at ``1 - alpha``; widths and variances in the targets' units too), and one
    ``ood`` row per method and set (the AUROC of the
    epistemic and of the total variance against the test inputs'). Every method is a
    posterior of a ``Regressor`` (``predict_moments``), predicted with the same draws on
    every set."""
    x, y = test
    rows: list[dict[str, Any]] = []
    for method, post in methods.items():
        draws = post.sample_params(num_samples)
        means, variances = post.predict_moments(x, draws=draws)
        split = reg.decompose(means, variances)
        row = {
            "method": method,
            "kind": "test",
            "condition": "test",
            "severity": None,
            "rmse": reg.rmse(means, y) * scale,
            "nll": reg.nll(means, variances, y) + y.shape[1] * float(torch.tensor(scale).log()),
            "crps": reg.crps(means, variances, y) * scale,
            "pit_error": reg.calibration_error(reg.pit(means, variances, y)),
            "aleatoric": float(split["aleatoric"].mean()) * scale**2,
            "epistemic": float(split["epistemic"].mean()) * scale**2,
            **interval_columns(means, variances, y, levels, scale),
        }
        if calibration is not None:
            m_cal, v_cal = post.predict_moments(calibration[0], draws=draws)
            for score in ("residual", "cqr"):
                fitted = reg.ConformalIntervals.fit(m_cal, v_cal, calibration[1], alpha, score)
                cover, width = reg.coverage(*fitted.intervals(means, variances), y)
                row[f"coverage_conformal_{score}"] = cover
                row[f"width_conformal_{score}"] = width * scale
        rows.append(row)
        for name, x_out in (ood or {}).items():
            out = reg.decompose(*post.predict_moments(x_out, draws=draws))
            rows.append(
                {
                    "method": method,
                    "kind": "ood",
                    "condition": name,
                    "severity": None,
                    "epistemic": float(out["epistemic"].mean()) * scale**2,
                    "auroc_epistemic": _auroc(split["epistemic"], out["epistemic"]),
                    "auroc_total": _auroc(split["total"], out["total"]),
                }
            )
    return Report(rows, {}, scores=(), task="regression")


def _auroc(inside: torch.Tensor, outside: torch.Tensor) -> float:
    """AUROC of a variance (summed over targets) telling ``outside`` from ``inside``."""
    return metrics.ood_auroc(inside.sum(-1), outside.sum(-1))
