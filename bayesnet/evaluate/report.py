"""The report of a comparison: the tidy rows, the per-example summaries the figures are
drawn from, and their renderings (text and Markdown tables, JSON, one self-contained
HTML page opening with what the run shows)."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import plots
from .findings import findings, regression_findings
from .summary import Summary

__all__ = ["Report", "SECTIONS", "IN_DIST", "KEYS"]

IN_DIST = "test"
KEYS = ("method", "kind", "condition", "severity")
SECTIONS = (
    "Metrics",
    "Reliability",
    "Confidence and entropy in and out of distribution",
    "ROC curves",
    "Selective prediction",
    "Dataset shift",
    "Common corruptions",
    "Adversarial inputs",
    "Far from the data",
    "Per-pixel uncertainty",
    "In between the data",
)
FINDINGS = "What this run shows"
#: how to read each section's figure, in one line
CAPTIONS = {
    "Metrics": "The test metrics of every method.",
    "Reliability": "Confidence against accuracy per bin: on the diagonal is calibrated, "
    "below it overconfident.",
    "Confidence and entropy in and out of distribution": "Histograms of confidence and "
    "entropy on test digits and on each out-of-distribution set: the less they overlap, "
    "the better the method tells them apart.",
    "ROC curves": "Detecting out-of-distribution inputs by each uncertainty score: the "
    "closer to the top-left corner, the better.",
    "Selective prediction": "Error among the examples kept when the least certain are "
    "set aside: lower is better at every coverage.",
    "Dataset shift": "Accuracy, NLL, ECE and mutual information as each shift (rotation, "
    "noise, blur, inversion) grows: a good predictive loses accuracy but knows it (NLL and "
    "ECE stay low).",
    "Common corruptions": "Accuracy, NLL, ECE and the prediction sets' coverage averaged "
    "over the common corruptions (Hendrycks & Dietterich), against their severity (1-5): "
    "a good predictive loses accuracy but knows it, and its sets keep covering.",
    "Adversarial inputs": "Accuracy, confidence and mutual information against the "
    "attack's size: confidence that stays high while accuracy falls is the failure.",
    "Far from the data": "Two moons: colour is confidence; the softmax is certain far from "
    "the data, a posterior predictive need not be.",
    "Per-pixel uncertainty": "Per-pixel confidence and mutual information on scenes with "
    "objects never seen in training (outlined).",
    "In between the data": "Regression on two clusters of data with a gap between them: "
    "each method's mean, its aleatoric band (the noise it attributes to the data) and its "
    "epistemic band (what its weights do not know), two standard deviations each; a "
    "posterior widens in the gap, a point estimate cannot.",
}
TABLE_TITLES = {
    "test": "Test metrics",
    "ood": "Out of distribution",
    "shift": "Dataset shift by severity",
    "corruption": "Common corruptions by severity (and their mean)",
    "attack": "Adversarial attacks by epsilon",
    "toy": "Far from the data (two moons)",
    "pixel": "Per-pixel uncertainty",
}
SHIFT_COLUMNS = ("accuracy", "nll", "ece", "mi")
#: the sets' coverage drawn against corruption severity
SET_COLUMNS = ("coverage_aps", "coverage_credible")
ATTACK_COLUMNS = ("accuracy", "confidence", "mi")


@dataclass
class Report:
    """The tidy table (``rows``), each method's per-example summaries in and out of
    distribution (``summaries[method][condition]``, what the figures are drawn from), and
    figures added by the caller (``add_figure``) for sections compare cannot compute."""

    rows: list[dict[str, Any]]
    summaries: dict[str, dict[str, Summary]] = field(repr=False)
    scores: tuple[str, ...] = ("max_prob", "entropy", "mi")
    figures: dict[str, list[bytes]] = field(default_factory=dict, repr=False)
    #: how the run was made (command, settings, version, data, duration): the first line
    provenance: str = ""
    #: per section, what its figures' reader must know first (a collapsed fit, say)
    notes: dict[str, str] = field(default_factory=dict)
    #: "classification" (the softmax's questions) or "regression" (the noise level's)
    task: str = "classification"

    def findings(self) -> list:
        """What this run shows, for its task."""
        if self.task == "regression":
            return regression_findings(self.rows)
        return findings(self.rows)

    def select(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.rows if kind is None or r["kind"] == kind]

    def columns(self, rows: list[dict[str, Any]]) -> list[str]:
        """Keys in first-seen order, dropping those empty in every row."""
        names = dict.fromkeys(k for r in rows for k in r)
        return [c for c in names if c in KEYS[:2] or any(r.get(c) is not None for r in rows)]

    def table(self, kind: str | None = None, columns: Sequence[str] | None = None) -> str:
        """A fixed-width text table of the rows of ``kind`` (all by default), of every
        column or of ``columns`` (those the rows have)."""
        rows = self.select(kind)
        found = self.columns(rows)
        columns = found if columns is None else [c for c in (*KEYS[:1], *columns) if c in found]
        width = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
        lines = ["  ".join(c.ljust(width[c]) for c in columns)]
        lines += ["  ".join(_fmt(r.get(c)).ljust(width[c]) for c in columns) for r in rows]
        return "\n".join(lines)

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.rows, indent=2)
        if path is not None:
            Path(path).write_text(text)
        return text

    def _kinds(self) -> list[str]:
        return list(dict.fromkeys(r["kind"] for r in self.rows))

    def to_markdown(self, path: str | Path | None = None) -> str:
        """What this run shows, then one table per kind of condition (test, ood, ...)."""
        parts = [f"## {FINDINGS}", *(f"**{f.claim}** {f.text}" for f in self.findings())]
        if self.provenance:
            parts.insert(0, f"*{self.provenance}*")
        for kind in self._kinds():
            rows = self.select(kind)
            columns = self.columns(rows)
            lines = [f"## {kind}", "", "| " + " | ".join(columns) + " |"]
            lines.append("|" + "---|" * len(columns))
            lines += ["| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in rows]
            parts.append("\n".join(lines))
        text = "\n\n".join(parts) + "\n"
        if path is not None:
            Path(path).write_text(text)
        return text

    def add_figure(self, section: str, figure: bytes | str | Path, note: str = "") -> None:
        """Attach a PNG (bytes or a file) to one of ``SECTIONS`` of the HTML report;
        ``note`` is shown above the section's figures (what they cannot show: a collapsed
        fit, say)."""
        if section not in SECTIONS:
            raise ValueError(f"unknown report section {section!r}; choose from {SECTIONS}")
        data = figure if isinstance(figure, bytes) else Path(figure).read_bytes()
        self.figures.setdefault(section, []).append(data)
        if note:
            self.notes[section] = note

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        """Append rows computed elsewhere (the toy problem, per-pixel metrics)."""
        for row in rows:
            missing = [k for k in KEYS if k not in row]
            if missing:
                raise ValueError(f"a report row needs {list(KEYS)}; missing {missing}")
        self.rows.extend(rows)

    def reliability_diagram(self, path: str | Path) -> Path:
        return plots.save(self._reliability(), path)

    def _reliability(self):
        return plots.reliability_diagram({m: s[IN_DIST] for m, s in self.summaries.items()})

    def _figures(self) -> dict[str, list[bytes]]:
        """Every section's figures: those compare can draw, then those added."""
        drawn: dict[str, list[bytes]] = {s: [] for s in SECTIONS}
        if not self.summaries:  # rows alone (a regression): the figures added
            for section, images in self.figures.items():
                drawn[section].extend(images)
            return drawn
        drawn["Reliability"].append(plots.png(self._reliability()))
        has_ood = len(next(iter(self.summaries.values()))) > 1
        if has_ood:
            drawn[SECTIONS[2]].append(plots.png(plots.histograms(self.summaries, IN_DIST)))
            drawn["ROC curves"].append(
                plots.png(plots.roc_curves(self.summaries, IN_DIST, self.scores))
            )
        test = {m: s[IN_DIST] for m, s in self.summaries.items()}
        drawn["Selective prediction"].append(
            plots.png(plots.risk_coverage_curves(test, self.scores))
        )
        if self.select("shift"):
            fig = plots.metric_curves(self.rows, "shift", SHIFT_COLUMNS, "severity")
            drawn["Dataset shift"].append(plots.png(fig))
        means = [r for r in self.select("corruption") if r["condition"] == "mean"]
        if means:
            columns = (*SHIFT_COLUMNS[:3], *(c for c in SET_COLUMNS if c in means[0]))
            fig = plots.metric_curves(
                means, "corruption", columns, "severity, mean of the corruptions"
            )
            drawn["Common corruptions"].append(plots.png(fig))
        if self.select("attack"):
            fig = plots.metric_curves(self.rows, "attack", ATTACK_COLUMNS, "epsilon")
            drawn["Adversarial inputs"].append(plots.png(fig))
        for section, images in self.figures.items():
            drawn[section].extend(images)
        return drawn

    def to_html(self, path: str | Path) -> Path:
        """One self-contained HTML file: what this run shows (``findings``, from the
        rows), then every section's figures with a caption on how to read them, then the
        tables, each collapsed and scrolling inside itself rather than widening the page."""
        path = Path(path)
        figures = self._figures()
        shown = [
            f"<h3>{html.escape(f.claim)}</h3><p>{html.escape(f.text)}</p>" for f in self.findings()
        ]
        body = [f"<h2 id='{_anchor(FINDINGS)}'>{FINDINGS}</h2>", *shown]
        for section in SECTIONS:
            images = figures[section]
            if not images:
                continue
            body.append(f"<h2 id='{_anchor(section)}'>{html.escape(section)}</h2>")
            if section in self.notes:
                body.append(f"<p><strong>{html.escape(self.notes[section])}</strong></p>")
            body += [
                f"<figure><img alt='{html.escape(section)}' "
                f"src='data:image/png;base64,{base64.b64encode(img).decode()}'>"
                f"<figcaption>{html.escape(CAPTIONS[section])}</figcaption></figure>"
                for img in images
            ]
        body.append("<h2 id='tables'>Tables</h2>")
        body += [self._html_table(kind) for kind in self._kinds()]
        index = " · ".join(
            f"<a href='#{_anchor(s)}'>{html.escape(s)}</a>"
            for s in (FINDINGS, *(s for s in SECTIONS if figures[s]), "Tables")
        )
        path.write_text(
            "<!doctype html><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<title>bayesnet report</title>"
            "<style>body{font-family:sans-serif;margin:2em auto;padding:0 1em;max-width:1100px;"
            "line-height:1.45}h3{margin-bottom:.2em}p{margin-top:.2em}"
            ".scroll{overflow-x:auto;max-width:100%}table{border-collapse:collapse}"
            "td,th{padding:3px 8px;border-bottom:1px solid #ccc;text-align:right;"
            "white-space:nowrap}img{max-width:100%;height:auto;display:block}"
            "figure{margin:1em 0}figcaption{color:#444;font-size:.95em}"
            "summary{cursor:pointer;font-weight:bold;margin:.6em 0}</style>"
            "<h1>Posterior predictive vs softmax, same architecture</h1>"
            + (f"<p><em>{html.escape(self.provenance)}</em></p>" if self.provenance else "")
            + f"<p>{index}</p>"
            + "\n".join(body)
        )
        return path

    def _html_table(self, kind: str) -> str:
        rows = self.select(kind)
        columns = self.columns(rows)
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        cells = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in columns) + "</tr>"
            for r in rows
        )
        summary = f"{html.escape(TABLE_TITLES.get(kind, kind))} ({len(rows)} rows)"
        return (
            f"<details><summary>{summary}</summary><div class='scroll'>"
            f"<table><tr>{head}</tr>{cells}</table></div></details>"
        )


def _anchor(section: str) -> str:
    return section.lower().replace(" ", "-")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)
