"""Side-by-side comparison of predictive methods on the same data: in distribution, out
of distribution, under shift and the common corruptions of growing severity, with
prediction sets, and under attack.

Anything with ``predict(x, num_samples=...) -> [S, N, C]`` can be compared (a Posterior, a
point estimate, an ensemble); attacks also need ``sample_params`` and ``forward`` (every
``bayesnet.Posterior`` has them). Every data set is streamed in batches into per-example
summaries (``summary.py``). The result is a ``Report`` (``report.py``): a tidy table, one
row per method and condition, plus the summaries the figures are drawn from.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch

from ..data.streams import Source, batches, head
from . import metrics
from .attacks import ATTACKS
from .conformal import SET_SCORES, Conformal, check_alpha
from .corruptions import CORRUPTIONS, SEVERITIES, corrupt
from .report import IN_DIST, SECTIONS, Report
from .shift import SHIFTS
from .summary import Summary

__all__ = ["compare", "Report", "Predictive", "SECTIONS"]


class Predictive(Protocol):
    def predict(self, x: torch.Tensor, num_samples: int | None = ...) -> torch.Tensor: ...


ShiftSpec = Sequence[float] | tuple[Callable[[torch.Tensor, float], torch.Tensor], Sequence[float]]


def _shift_specs(shifts: dict[str, ShiftSpec] | None) -> dict[str, tuple[Callable, list[float]]]:
    """``{name: severities}`` for a known shift or ``{name: (fn, severities)}``; each as
    ``change(x, batch_index, severity)`` (a shift ``fn(x, severity, batch)`` that takes a
    third argument is given the batch's index: its randomness seeded per batch, the same for
    every method)."""
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
        specs[name] = (_by_batch(fn), [float(s) for s in severities])
    return specs


def _by_batch(fn: Callable) -> Callable[[torch.Tensor, int, float], torch.Tensor]:
    """``fn(x, severity[, batch])`` as ``change(x, batch, severity)``."""
    try:
        takes_batch = len(inspect.signature(fn).parameters) >= 3
    except (TypeError, ValueError):  # a builtin without a signature
        takes_batch = False
    if takes_batch:
        return lambda x, i, s: fn(x, s, i)
    return lambda x, i, s: fn(x, s)


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
        labelled: bool = True,
    ) -> Summary:
        """A ``Summary`` of the predictive over ``source``, each batch (its index given)
        first passed through ``change``; every input must have the test inputs' shape.
        ``labelled=False`` ignores labels (an OOD set's are not the test classes')."""
        summary = Summary(alpha=self.alpha, conformal=self.conformal)
        for i, (x, y) in enumerate(batches(source, self.batch_size)):
            self.shape = self.shape or tuple(x.shape[1:])
            if tuple(x.shape[1:]) != self.shape:
                raise ValueError(
                    f"{name!r} has input shape {tuple(x.shape[1:])}, the test set {self.shape}"
                )
            summary.update(
                self.predict(x if change is None else change(x, i)), y if labelled else None
            )
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
    tensors, inputs ``x``, or loaders; ``bn.data.streams.batches``), so no method's draws over a
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
    check_alpha(alpha)
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
            s_out = stream.summarize(source, name=name, labelled=False)
            summaries[method][name] = s_out
            row = {"method": method, "kind": "ood", "condition": name, "severity": None}
            row.update(_uncertainty(s_out))
            for s in used:
                found = metrics.ood_detection(s_in.score(s), s_out.score(s))
                row.update({f"{k}_{s}": v for k, v in found.items()})
            rows.append({**row, **_sets(s_out)})
        for name, (fn, levels) in shift_specs.items():
            for severity in levels:
                shifted = stream.summarize(test, lambda x, i, fn=fn, s=severity: fn(x, i, s))
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
