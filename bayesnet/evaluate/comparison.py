"""Side-by-side comparison of predictive methods on the same data: in distribution, out
of distribution, under shift of growing severity, and under attack.

Anything with ``predict(x, num_samples=...) -> [S, N, C]`` can be compared (a Posterior, a
point estimate, an ensemble); attacks also need ``sample_params`` and ``forward`` (every
``bayesnet.Posterior`` has them). The result is a tidy table, one row per method and
condition, plus the predictions the figures are drawn from.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from . import metrics, plots
from .attacks import ATTACKS
from .conformal import SET_SCORES, Conformal
from .corruptions import CORRUPTIONS, SEVERITIES, corrupt
from .findings import findings
from .shift import SHIFTS
from .streams import Source, batches, head
from .summary import Summary

__all__ = ["compare", "Report", "Predictive", "SECTIONS"]


class Predictive(Protocol):
    def predict(self, x: torch.Tensor, num_samples: int | None = ...) -> torch.Tensor: ...


IN_DIST = "test"
KEYS = ("method", "kind", "condition", "severity")
SECTIONS = (
    "Metrics",
    "Reliability",
    "Confidence and entropy in and out of distribution",
    "ROC curves",
    "Selective prediction",
    "Dataset shift",
    "Adversarial inputs",
    "Far from the data",
    "Per-pixel uncertainty",
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
    "Dataset shift": "Accuracy, NLL, ECE and mutual information as each shift grows (and, "
    "for the common corruptions, their mean with the prediction sets' coverage): a good "
    "predictive loses accuracy but knows it (NLL and ECE stay low, its sets keep covering).",
    "Adversarial inputs": "Accuracy, confidence and mutual information against the "
    "attack's size: confidence that stays high while accuracy falls is the failure.",
    "Far from the data": "Two moons: colour is confidence; the softmax is certain far from "
    "the data, a posterior predictive need not be.",
    "Per-pixel uncertainty": "Per-pixel confidence and mutual information on scenes with "
    "objects never seen in training (outlined).",
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

    def select(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.rows if kind is None or r["kind"] == kind]

    def columns(self, rows: list[dict[str, Any]]) -> list[str]:
        """Keys in first-seen order, dropping those empty in every row."""
        names = dict.fromkeys(k for r in rows for k in r)
        return [c for c in names if c in KEYS[:2] or any(r.get(c) is not None for r in rows)]

    def table(self, kind: str | None = None) -> str:
        """A fixed-width text table of the rows of ``kind`` (all by default)."""
        rows = self.select(kind)
        columns = self.columns(rows)
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
        parts = [f"## {FINDINGS}", *(f"**{f.claim}** {f.text}" for f in findings(self.rows))]
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

    def add_figure(self, section: str, figure: bytes | str | Path) -> None:
        """Attach a PNG (bytes or a file) to one of ``SECTIONS`` of the HTML report."""
        if section not in SECTIONS:
            raise ValueError(f"unknown report section {section!r}; choose from {SECTIONS}")
        data = figure if isinstance(figure, bytes) else Path(figure).read_bytes()
        self.figures.setdefault(section, []).append(data)

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
            fig = plots.metric_curves(means, "corruption", columns, "severity")
            drawn["Dataset shift"].append(plots.png(fig))
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
            f"<h3>{html.escape(f.claim)}</h3><p>{html.escape(f.text)}</p>"
            for f in findings(self.rows)
        ]
        body = [f"<h2 id='{_anchor(FINDINGS)}'>{FINDINGS}</h2>", *shown]
        for section in SECTIONS:
            images = figures[section]
            if not images:
                continue
            body.append(f"<h2 id='{_anchor(section)}'>{html.escape(section)}</h2>")
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
            f"<p>{index}</p>" + "\n".join(body)
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


ShiftSpec = Sequence[float] | tuple[Callable[[torch.Tensor, float], torch.Tensor], Sequence[float]]


def _shift_specs(shifts: dict[str, ShiftSpec] | None) -> dict[str, tuple[Callable, list[float]]]:
    """``{name: severities}`` for a known shift or ``{name: (fn, severities)}``."""
    specs = {}
    for name, spec in (shifts or {}).items():
        if isinstance(spec, tuple) and len(spec) == 2 and callable(spec[0]):
            fn, severities = spec
        elif name in SHIFTS:
            fn, severities = SHIFTS[name][0], spec
        else:
            raise ValueError(
                f"shift {name!r} is not one of {sorted(SHIFTS)}; pass (fn, severities) for your own"
            )
        if len(severities) == 0:
            raise ValueError(f"shift {name!r} has an empty severity list")
        specs[name] = (fn, [float(s) for s in severities])
    return specs


def _attack_specs(attacks: dict[str, Sequence[float]] | None) -> dict[str, list[float]]:
    specs = {}
    for name, epsilons in (attacks or {}).items():
        if name not in ATTACKS:
            raise ValueError(f"unknown attack {name!r}; choose from {sorted(ATTACKS)}")
        if len(epsilons) == 0:
            raise ValueError(f"attack {name!r} has an empty epsilon list")
        specs[name] = [float(e) for e in epsilons]
    return specs


def _scores(scores: Sequence[str], multi: bool) -> list[str]:
    """Scores that carry information for this method (MI, variation ratio need S > 1)."""
    return [s for s in scores if multi or s not in ("mi", "variation_ratio")]


def _uncertainty(summary: Summary) -> dict[str, float | None]:
    multi = summary.draws > 1
    return {
        "confidence": summary.mean("confidence"),
        "entropy": summary.mean("entropy"),
        "mi": summary.mean("mi") if multi else None,
    }


def _quality(summary: Summary, full: bool = False) -> dict[str, float]:
    """Accuracy, NLL, Brier and ECE; ``full`` adds MCE, adaptive and classwise ECE."""
    found = {
        "accuracy": summary.accuracy(),
        "nll": summary.nll(),
        "brier": summary.brier(),
        "ece": summary.ece(),
    }
    if full:
        found.update(
            mce=summary.mce(),
            adaptive_ece=summary.adaptive_ece(),
            classwise_ece=summary.classwise_ece(),
        )
    return found


def _sets(summary: Summary) -> dict[str, float]:
    """Each prediction set's mean size and (labelled data) coverage."""
    found = {}
    for name in summary.set_names:
        if summary.labelled:
            found[f"coverage_{name}"] = summary.coverage(name)
        found[f"size_{name}"] = summary.set_size(name)
    return found


class _Stream:
    """One method's predictive over streamed inputs, with the same draws for every
    condition: each is predicted by the same networks, and per-draw BatchNorm statistics
    are estimated once."""

    def __init__(self, post: Predictive, num_samples: int, batch_size: int, alpha: float):
        self.post, self.num_samples, self.batch_size, self.alpha = (
            post,
            num_samples,
            batch_size,
            alpha,
        )
        self.draws = post.sample_params(num_samples) if hasattr(post, "sample_params") else None
        self.conformal: Conformal | None = None
        self.shape: tuple[int, ...] | None = None  # the test inputs', once seen

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        if self.draws is None:
            return self.post.predict(x, num_samples=self.num_samples).cpu()
        return self.post.predict(x, draws=self.draws).cpu()

    def calibrate(self, source: Source, scores: Sequence[str]) -> None:
        """Conformal thresholds at ``alpha`` from a calibration split (its mean
        predictive ``[N, C]``, batch by batch); the APS/RAPS draws are seeded."""
        means, labels = [], []
        for x, y in batches(source, self.batch_size):
            if y is None:
                raise ValueError("the calibration split needs labels")
            means.append(self.predict(x).double().mean(0))
            labels.append(y.cpu())
        mean, y = torch.cat(means), torch.cat(labels)
        u = torch.rand(len(y), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        self.conformal = Conformal.fit(mean, y, self.alpha, tuple(scores), u=u)

    def summarize(
        self,
        source: Source,
        change: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
        name: str = IN_DIST,
    ) -> Summary:
        """A ``Summary`` of the predictive over ``source``, each batch (its index given)
        first passed through ``change``; every input must have the test inputs' shape."""
        summary = Summary(alpha=self.alpha, conformal=self.conformal)
        for i, (x, y) in enumerate(batches(source, self.batch_size)):
            self.shape = self.shape or tuple(x.shape[1:])
            if tuple(x.shape[1:]) != self.shape:
                raise ValueError(
                    f"{name!r} has input shape {tuple(x.shape[1:])}, the test set {self.shape}"
                )
            summary.update(self.predict(x if change is None else change(x, i)), y)
        if not len(summary):
            raise ValueError("a data set to evaluate on is empty")
        return summary


def compare(
    methods: dict[str, Predictive],
    test: Source,
    ood: dict[str, Source] | None = None,
    shifts: dict[str, ShiftSpec] | None = None,
    attacks: dict[str, Sequence[float]] | None = None,
    num_samples: int = 100,
    scores: Sequence[str] = ("max_prob", "entropy", "mi"),
    attack_size: int | None = 200,
    attack_samples: int = 20,
    *,
    calibration: Source | None = None,
    alpha: float = 0.1,
    set_scores: Sequence[str] = SET_SCORES,
    corruptions: Sequence[str] | None = None,
    severities: Sequence[int] = SEVERITIES,
    batch_size: int = 500,
) -> Report:
    """Evaluate every method on ``test``, on each OOD input set, along each shift's
    severities, under each corruption and against each attack's epsilons, streaming
    every data set in batches (``test``, ``ood`` and ``calibration`` are ``(x, y)``
    tensors, inputs ``x``, or loaders; ``streams.batches``), so no method's draws over a
    whole data set are ever held.

    ``shifts``: ``{"rotation": [0, 30, 60], ...}`` for the shifts in
    ``bayesnet.evaluate.shift.SHIFTS`` or ``{name: (fn(x, severity), severities)}``.
    ``corruptions``: names from ``corruptions.CORRUPTIONS`` at ``severities``; each gets a
    row per severity and the rows ``condition="mean"`` average accuracy, NLL, ECE and the
    sets over them (Ovadia et al. 2019). ``attacks``: ``{"fgsm": [0, 0.05, 0.1], ...}``,
    each method attacked through its own predictive (white box) on the first
    ``attack_size`` test examples. ``scores``: uncertainty scores (``metrics.SCORES``) for
    OOD detection and selective prediction. Every condition reports the credible sets at
    level ``1 - alpha`` (coverage and mean size); with a ``calibration`` split, split-
    conformal sets of each of ``set_scores`` too (``conformal.py``).
    """
    if not methods:
        raise ValueError("compare needs at least one method")
    unknown = sorted(set(scores) - set(metrics.SCORES))
    if unknown:
        raise ValueError(
            f"unknown uncertainty scores {unknown}; choose from {sorted(metrics.SCORES)}"
        )
    unknown = sorted(set(corruptions or ()) - set(CORRUPTIONS))
    if unknown:
        raise ValueError(f"unknown corruptions {unknown}; choose from {sorted(CORRUPTIONS)}")
    shift_specs, attack_specs = _shift_specs(shifts), _attack_specs(attacks)
    x_attack, y_attack = head(test, attack_size) if attack_specs else (None, None)
    rows: list[dict[str, Any]] = []
    summaries: dict[str, dict[str, Summary]] = {}
    for method, post in methods.items():
        stream = _Stream(post, num_samples, batch_size, alpha)
        if calibration is not None:
            stream.calibrate(calibration, set_scores)
        s_in = stream.summarize(test)
        if not s_in.labelled:
            raise ValueError("the test set needs labels")
        used = _scores(scores, s_in.draws > 1)
        summaries[method] = {IN_DIST: s_in}
        row = {"method": method, "kind": "test", "condition": IN_DIST, "severity": None}
        row.update(_quality(s_in, full=True))
        row.update(_uncertainty(s_in))
        row.update({f"aurc_{s}": s_in.aurc(s) for s in used})
        rows.append({**row, "set_level": 1 - alpha, **_sets(s_in)})
        for name, source in (ood or {}).items():
            s_out = stream.summarize(source, name=name)
            summaries[method][name] = s_out
            row = {"method": method, "kind": "ood", "condition": name, "severity": None}
            row.update(_uncertainty(s_out))
            for s in used:
                found = metrics.ood_detection(s_in.score(s), s_out.score(s))
                row.update({f"{k}_{s}": v for k, v in found.items()})
            rows.append({**row, **_sets(s_out)})
        for name, (fn, levels) in shift_specs.items():
            for severity in levels:
                shifted = stream.summarize(test, lambda x, i, fn=fn, s=severity: fn(x, s))
                row = {"method": method, "kind": "shift", "condition": name, "severity": severity}
                rows.append({**row, **_quality(shifted), **_uncertainty(shifted), **_sets(shifted)})
        rows += _corruption_rows(method, stream, test, corruptions or (), severities)
        for name, epsilons in attack_specs.items():
            for eps in epsilons:
                adv = ATTACKS[name](post, x_attack, y_attack, eps, num_samples=attack_samples)
                attacked = stream.summarize((adv, y_attack))
                row = {"method": method, "kind": "attack", "condition": name, "severity": eps}
                rows.append({**row, "accuracy": attacked.accuracy(), **_uncertainty(attacked)})
    return Report(rows, summaries, tuple(scores))


def _corruption_rows(
    method: str,
    stream: _Stream,
    test: Source,
    names: Sequence[str],
    severities: Sequence[int],
) -> list[dict[str, Any]]:
    """One row per corruption and severity (each batch corrupted with its own seed), and
    per severity their mean (``condition="mean"``)."""
    rows = []
    for severity in severities:
        found = []
        for name in names:
            summary = stream.summarize(
                test, lambda x, i, name=name, s=severity: corrupt(x, name, int(s), seed=i)
            )
            values = {**_quality(summary), **_uncertainty(summary), **_sets(summary)}
            found.append(values)
            rows.append(
                {"method": method, "kind": "corruption", "condition": name, "severity": severity}
                | values
            )
        if found:
            mean = {
                k: sum(v[k] for v in found) / len(found)
                for k in found[0]
                if all(v[k] is not None for v in found)
            }
            rows.append(
                {"method": method, "kind": "corruption", "condition": "mean", "severity": severity}
                | mean
            )
    return rows
