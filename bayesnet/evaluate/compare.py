"""Side-by-side comparison of predictive methods on the same test and OOD data.

Anything with ``predict(x, num_samples=...) -> [S, N, C]`` can be compared (a Posterior,
a point estimate, an ensemble); evaluation knows nothing else about the methods.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from . import metrics
from .plots import reliability_diagram

__all__ = ["compare", "Report", "Predictive"]


class Predictive(Protocol):
    def predict(self, x: torch.Tensor, num_samples: int | None = ...) -> torch.Tensor: ...


IN_DIST = "test"


@dataclass
class Report:
    """A tidy table, one row per (method, condition), plus the raw predictions."""

    rows: list[dict[str, Any]]
    probs: dict[str, dict[str, torch.Tensor]] = field(repr=False)
    labels: torch.Tensor = field(repr=False)

    def table(self) -> str:
        """A fixed-width text table for the terminal."""
        columns = list(self.rows[0])
        width = {c: max(len(c), *(len(_fmt(r.get(c))) for r in self.rows)) for c in columns}
        lines = ["  ".join(c.ljust(width[c]) for c in columns)]
        lines += ["  ".join(_fmt(r.get(c)).ljust(width[c]) for c in columns) for r in self.rows]
        return "\n".join(lines)

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.rows, indent=2)
        if path is not None:
            Path(path).write_text(text)
        return text

    def to_markdown(self, path: str | Path | None = None) -> str:
        columns = list(self.rows[0])
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in self.rows]
        text = "\n".join(lines) + "\n"
        if path is not None:
            Path(path).write_text(text)
        return text

    def reliability_diagram(self, path: str | Path) -> Path:
        return reliability_diagram(
            {m: p[IN_DIST] for m, p in self.probs.items()}, self.labels, path
        )

    def to_html(self, path: str | Path) -> Path:
        """One self-contained HTML file: the table and the figures embedded."""
        path = Path(path)
        figure = self.reliability_diagram(path.with_suffix(".reliability.png"))
        image = base64.b64encode(figure.read_bytes()).decode()
        figure.unlink()
        columns = list(self.rows[0])
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in columns) + "</tr>"
            for r in self.rows
        )
        path.write_text(
            "<!doctype html><meta charset='utf-8'><title>bayesnet report</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;"
            "border-bottom:1px solid #ccc;text-align:right}</style>"
            "<h1>Posterior predictive vs softmax</h1>"
            f"<h2>Metrics</h2><table><tr>{head}</tr>{body}</table>"
            f"<h2>Reliability</h2><img src='data:image/png;base64,{image}'>"
        )
        return path


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def compare(
    methods: dict[str, Predictive],
    test: tuple[torch.Tensor, torch.Tensor],
    ood: dict[str, torch.Tensor] | None = None,
    num_samples: int = 100,
) -> Report:
    """Evaluate every method on ``test = (x, y)`` and on each OOD input set.

    Rows: in-distribution accuracy, NLL, Brier, ECE (15 bins) and mean confidence; for
    each OOD set, the mean confidence there and the AUROC of predictive entropy (and of
    mutual information, for methods with more than one draw) for telling it from test.
    """
    if not methods:
        raise ValueError("compare needs at least one method")
    x, y = test
    if len(x) != len(y):
        raise ValueError(f"test inputs ({len(x)}) and labels ({len(y)}) differ in number")
    ood = ood or {}
    for name, xo in ood.items():
        if xo.shape[1:] != x.shape[1:]:
            raise ValueError(
                f"OOD set {name!r} has input shape {tuple(xo.shape[1:])}, test has {tuple(x.shape[1:])}"
            )
    rows: list[dict[str, Any]] = []
    probs: dict[str, dict[str, torch.Tensor]] = {}
    for method, post in methods.items():
        p_in = post.predict(x, num_samples=num_samples).cpu()
        probs[method] = {IN_DIST: p_in}
        ent_in = metrics.predictive_entropy(p_in)
        mi_in = metrics.mutual_information(p_in)
        rows.append(
            {
                "method": method,
                "data": IN_DIST,
                "accuracy": metrics.accuracy(p_in, y),
                "nll": metrics.nll(p_in, y),
                "brier": metrics.brier(p_in, y),
                "ece": metrics.ece(p_in, y),
                "confidence": metrics.max_probability(p_in).mean().item(),
                "auroc_entropy": None,
                "auroc_mi": None,
            }
        )
        for name, xo in ood.items():
            p_out = post.predict(xo, num_samples=num_samples).cpu()
            probs[method][name] = p_out
            multi = p_in.shape[0] > 1
            rows.append(
                {
                    "method": method,
                    "data": name,
                    "accuracy": None,
                    "nll": None,
                    "brier": None,
                    "ece": None,
                    "confidence": metrics.max_probability(p_out).mean().item(),
                    "auroc_entropy": metrics.ood_auroc(ent_in, metrics.predictive_entropy(p_out)),
                    "auroc_mi": metrics.ood_auroc(mi_in, metrics.mutual_information(p_out))
                    if multi
                    else None,
                }
            )
    return Report(rows, probs, y.cpu())
