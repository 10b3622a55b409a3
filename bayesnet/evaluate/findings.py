"""What a comparison shows, in words: one short paragraph per claim about the softmax.

The claims are the package's seed question: the softmax is miscalibrated; it extrapolates
with certainty far from the data; imperceptible perturbations and unrecognisable images
get high confidence; it cannot separate aleatoric from epistemic uncertainty; and yet it
often flags unusual inputs reasonably well (Pearce et al.). Two more answer the question
practitioners ask next: does a softmax made into conformal sets keep its coverage under
shift, against the posterior's own credible sets; and does the posterior hold up on the
common-corruption benchmark. Each paragraph states this
run's numbers, read from the report's rows, and says so where the posterior predictive
does *not* do better. Nothing here is typed in by hand: a claim the rows cannot speak to
says that it was not part of the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Finding", "findings", "regression_findings", "BAYESIAN_METHODS"]

#: the methods whose predictive is "the posterior predictive", in order of preference
BAYESIAN_METHODS = (
    "multiswag",
    "hmc",
    "svi",
    "svi_local",
    "svi_flipout",
    "sgmcmc",
    "swag",
    "ivon",
    "laplace",
)

Rows = Sequence[dict[str, Any]]


@dataclass
class Finding:
    """One claim, the paragraph that answers it, and the numbers it quotes (``values``:
    ``(method, kind, condition, severity, column) -> value``, for checking against rows)."""

    claim: str
    text: str
    values: dict[tuple, float] = field(default_factory=dict)


class _Reader:
    """Reads values from the rows and remembers every value it hands out."""

    def __init__(self, rows: Rows) -> None:
        self.rows, self.used = rows, {}

    def get(self, method, kind, condition, column, severity=None) -> float | None:
        """The value, remembered as quoted."""
        value = self.peek(method, kind, condition, column, severity)
        if value is not None:
            self.used[(method, kind, condition, severity, column)] = value
        return value

    def peek(self, method, kind, condition, column, severity=None) -> float | None:
        """The value, not remembered (looked at, not quoted)."""
        for r in self.rows:
            if (r["method"], r["kind"], r["condition"], r["severity"]) == (
                method,
                kind,
                condition,
                severity,
            ):
                return r.get(column)
        return None

    def conditions(self, kind: str) -> list[str]:
        return list(dict.fromkeys(r["condition"] for r in self.rows if r["kind"] == kind))

    def severities(self, kind: str, condition: str) -> list[float]:
        found = {
            r["severity"] for r in self.rows if r["kind"] == kind and r["condition"] == condition
        }
        return sorted(s for s in found if s is not None)

    def take(self) -> dict[tuple, float]:
        used, self.used = self.used, {}
        return used


def _n(value: float) -> str:
    return f"{value:.3f}"


def findings(rows: Rows, reference: str = "softmax") -> list[Finding]:
    """The paragraphs of "What this run shows", from a report's rows."""
    methods = list(dict.fromkeys(r["method"] for r in rows if r["kind"] == "test"))
    bayes = next((m for m in BAYESIAN_METHODS if m in methods), None)
    if reference not in methods or bayes is None:
        return [
            Finding(
                "What this run compares",
                f"This run has no {'softmax' if reference not in methods else 'Bayesian'} "
                "method to compare with; the tables below hold its numbers.",
            )
        ]
    read = _Reader(rows)
    return [
        f(read, reference, bayes)
        for f in (
            _calibration,
            _far,
            _fooled,
            _aleatoric_epistemic,
            _flags_unusual,
            _coverage,
            _corruptions,
        )
    ]


def _better(ours: float, theirs: float, lower_is_better: bool = True) -> bool:
    return ours < theirs if lower_is_better else ours > theirs


def _calibration(read: _Reader, ref: str, bayes: str) -> Finding:
    e_s, e_b = read.get(ref, "test", "test", "ece"), read.get(bayes, "test", "test", "ece")
    a_s, a_b = (read.get(m, "test", "test", "adaptive_ece") for m in (ref, bayes))
    n_s, n_b = read.get(ref, "test", "test", "nll"), read.get(bayes, "test", "test", "nll")
    text = (
        f"On the test digits the softmax's expected calibration error is {_n(e_s)} "
        f"(adaptive {_n(a_s)}), the posterior predictive's ({bayes}) {_n(e_b)} ({_n(a_b)}); "
        f"test NLL {_n(n_s)} against {_n(n_b)}. "
    )
    if _better(e_b, e_s) and _better(n_b, n_s):
        text += "The posterior predictive is the better calibrated here, on both."
    elif _better(n_b, n_s):
        text += "The posterior has the lower NLL but does not do better on ECE."
    elif _better(e_b, e_s):
        text += "The posterior has the lower ECE but not the lower NLL."
    else:
        text += "Here the posterior does not do better than the softmax on either."
    worse = []
    for shift in read.conditions("shift"):
        top = read.severities("shift", shift)[-1]
        s, b = (read.peek(m, "shift", shift, "nll", top) for m in (ref, bayes))
        if s is not None and b is not None and not _better(b, s):
            read.get(ref, "shift", shift, "nll", top), read.get(bayes, "shift", shift, "nll", top)
            worse.append(f"{shift} at {top:g} (NLL {_n(b)} vs {_n(s)})")
    if worse:
        text += " Under the strongest shifts it does worse on " + ", ".join(worse) + "."
    elif read.conditions("shift"):
        text += " Under the strongest severity of every shift its NLL is the lower."
    return Finding("Is the softmax calibrated?", text, read.take())


def _far(read: _Reader, ref: str, bayes: str) -> Finding:
    parts = []
    toy = read.conditions("toy")
    c_s, c_b = (read.peek(m, "toy", toy[0], "confidence") if toy else None for m in (ref, bayes))
    if c_s is not None and c_b is not None:
        read.get(ref, "toy", toy[0], "confidence"), read.get(bayes, "toy", toy[0], "confidence")
        hmc = read.get("hmc", "toy", toy[0], "confidence") if bayes != "hmc" else None
        parts.append(
            f"On the two-moons problem, ten times farther out than the training data, the "
            f"softmax's mean confidence is {_n(c_s)} and the posterior's {_n(c_b)}"
            + (f" (HMC: {_n(hmc)})" if hmc is not None else "")
            + "."
        )
    if "noise" in read.conditions("ood"):
        c_s, c_b = (read.get(m, "ood", "noise", "confidence") for m in (ref, bayes))
        parts.append(
            f"On uniform-noise images the softmax's mean confidence is {_n(c_s)}, the "
            f"posterior predictive's {_n(c_b)}."
        )
        if not _better(c_b, c_s):
            parts.append("The posterior is no less certain on noise here.")
    text = " ".join(parts) or "Far-from-the-data inputs were not part of this run."
    return Finding("Far from the data, is the softmax certain?", text, read.take())


def _fooled(read: _Reader, ref: str, bayes: str) -> Finding:
    parts = []
    for attack in read.conditions("attack"):
        top = read.severities("attack", attack)[-1]
        acc_s, acc_b = (read.get(m, "attack", attack, "accuracy", top) for m in (ref, bayes))
        con_s, con_b = (read.get(m, "attack", attack, "confidence", top) for m in (ref, bayes))
        if acc_b >= acc_s and con_b <= con_s:
            verdict = "better on both"
        elif acc_b <= acc_s and con_b >= con_s:
            verdict = "no better: it is fooled as much"
        else:
            verdict = "mixed"
        parts.append(
            f"Under {attack.upper()} at epsilon {top:g} the softmax keeps accuracy "
            f"{_n(acc_s)} with mean confidence {_n(con_s)}; the posterior {_n(acc_b)} with "
            f"{_n(con_b)} ({verdict})."
        )
    if "fooling" in read.conditions("ood"):
        c_s, c_b = (read.get(m, "ood", "fooling", "confidence") for m in (ref, bayes))
        parts.append(
            f"Images optimised to fool the softmax get its mean confidence {_n(c_s)}; the "
            f"posterior gives them {_n(c_b)}"
            + (" — no less: it is fooled too." if not _better(c_b, c_s) else ".")
        )
    text = " ".join(parts) or "Attacks and fooling images were not part of this run."
    return Finding("Perturbed and unrecognisable images: high confidence?", text, read.take())


def _aleatoric_epistemic(read: _Reader, ref: str, bayes: str) -> Finding:
    mi_in = read.get(bayes, "test", "test", "mi")
    parts = [
        "The softmax gives one distribution per input: its entropy cannot tell an ambiguous "
        "digit (aleatoric) from an unfamiliar input (epistemic)."
    ]
    if mi_in is None:
        parts.append(f"{bayes} has a single draw here, so it cannot split them either.")
        return Finding("Aleatoric or epistemic?", " ".join(parts), read.take())
    outside = [
        f"{_n(mi)} on {ood.replace('_', ' ')}"
        for ood in read.conditions("ood")
        if (mi := read.get(bayes, "ood", ood, "mi")) is not None
    ]
    parts.append(
        f"The posterior's mutual information (the epistemic part) is {_n(mi_in)} on test "
        "digits" + (" against " + ", ".join(outside) if outside else "") + "."
    )
    pixel = read.conditions("pixel")
    if pixel:
        mi_u = read.get(bayes, "pixel", pixel[0], "mi_unfamiliar")
        mi_d = read.get(bayes, "pixel", pixel[0], "mi_digits")
        if mi_u is not None and mi_d is not None:
            parts.append(
                f"Per pixel, on objects never seen in training its mean mutual information is "
                f"{_n(mi_u)} against {_n(mi_d)} on digits."
            )
    return Finding("Aleatoric or epistemic?", " ".join(parts), read.take())


#: AUROC bands of a detector, and what each is called
FLAG_BANDS = ((0.9, "a usable flag"), (0.7, "a weak flag"), (0.5, "barely better than chance"))


def _flag(auroc: float, familiar: str = "test digits") -> str:
    """What an AUROC makes of a detector (exactly 0.5: one score for every input, as a
    point estimate's single noise level gives; below 0.5: it ranks the unusual inputs as
    the more familiar ones, ``familiar`` naming the inputs it was trained like)."""
    if auroc == 0.5:
        return "no better than chance"
    for low, name in FLAG_BANDS:
        if auroc >= low:
            return name
    return f"worse than chance: more certain on them than on {familiar}"


def _flags_unusual(read: _Reader, ref: str, bayes: str) -> Finding:
    parts, usable = [], 0
    for ood in read.conditions("ood"):
        s, b = (read.get(m, "ood", ood, "auroc_entropy") for m in (ref, bayes))
        if s is None or b is None:
            continue
        usable += s >= FLAG_BANDS[0][0]
        if b > s and b >= 0.5:
            verdict = f"the posterior's is better: {_flag(b)}"
        elif b > s:
            verdict = "the posterior's is higher but still worse than chance"
        else:
            verdict = "the posterior's is no better"
        parts.append(
            f"{ood.replace('_', ' ')}: AUROC {_n(s)} for the softmax ({_flag(s)}) and "
            f"{_n(b)} for the posterior ({verdict})"
        )
    if not parts:
        return Finding(
            "Does the softmax flag unusual inputs anyway?",
            "Out-of-distribution inputs were not part of this run.",
            read.take(),
        )
    if usable == len(parts):
        opening = "Here the softmax's own entropy is a usable flag for every kind of unusual input"
    elif usable == 0:
        opening = (
            "Here the softmax's own entropy is not a usable flag for any kind of unusual input"
        )
    else:
        opening = (
            f"Here the softmax's own entropy flags {usable} of {len(parts)} kinds of unusual "
            "input well (AUROC 0.9 or more)"
        )
    text = f"{opening} (entropy against test digits): " + "; ".join(parts) + "."
    return Finding("Does the softmax flag unusual inputs anyway?", text, read.take())


#: the conformal score quoted for the softmax (adaptive, as a credible set is)
QUOTED_SET = "aps"


def _coverage(read: _Reader, ref: str, bayes: str) -> Finding:
    claim = "Does a conformal set still cover under shift, and how large do the sets get?"
    conformal = f"coverage_{QUOTED_SET}"
    c_s = read.peek(ref, "test", "test", conformal)
    c_b = read.peek(bayes, "test", "test", "coverage_credible")
    if c_s is None or c_b is None:
        return Finding(claim, "Conformal prediction sets were not part of this run.")
    level = read.get(ref, "test", "test", "set_level")
    c_s = read.get(ref, "test", "test", conformal)
    c_b = read.get(bayes, "test", "test", "coverage_credible")
    z_s = read.get(ref, "test", "test", f"size_{QUOTED_SET}")
    z_b = read.get(bayes, "test", "test", "size_credible")
    parts = [
        f"Sets at level {_n(level)}: on test digits the softmax's split-conformal sets "
        f"({QUOTED_SET.upper()}, calibrated on held-out data, guaranteed at least that "
        f"coverage here) cover {_n(c_s)} of labels with {_n(z_s)} classes on average; the "
        f"posterior's credible sets ({bayes}, no calibration) cover {_n(c_b)} with "
        f"{_n(z_b)}."
    ]
    if z_b > 2 * z_s and z_b >= 3:
        parts.append(
            f"Credible sets of {_n(z_b)} classes cover almost whatever the posterior does: "
            "their coverage says little here, their size says the posterior is unsure."
        )
    worst = _worst_condition(read)
    if worst is not None:
        kind, condition, severity, label = worst
        w_s = read.get(ref, kind, condition, conformal, severity)
        w_b = read.get(bayes, kind, condition, "coverage_credible", severity)
        y_s = read.get(ref, kind, condition, f"size_{QUOTED_SET}", severity)
        y_b = read.get(bayes, kind, condition, "size_credible", severity)
        parts.append(
            f"Under {label} the guarantee no longer applies: the softmax's sets cover "
            f"{_n(w_s)} (size {_n(y_s)}), the credible sets {_n(w_b)} (size {_n(y_b)})."
        )
        if not _better(w_b, w_s, lower_is_better=False):
            parts.append("Here the posterior's sets do not cover more than the softmax's.")
    if "noise" in read.conditions("ood"):
        o_s = read.get(ref, "ood", "noise", f"size_{QUOTED_SET}")
        o_b = read.get(bayes, "ood", "noise", "size_credible")
        if o_s is not None and o_b is not None:
            parts.append(
                f"On uniform noise, where no set can be right, the softmax's sets hold "
                f"{_n(o_s)} classes and the credible sets {_n(o_b)}: the larger set is the "
                "more honest one."
            )
    return Finding(claim, " ".join(parts), read.take())


def _worst_condition(read: _Reader) -> tuple[str, str, float, str] | None:
    """The strongest corruption level (their mean) if the run has corruptions, else the
    strongest level of the first shift."""
    if "mean" in read.conditions("corruption"):
        top = read.severities("corruption", "mean")[-1]
        n = len([c for c in read.conditions("corruption") if c != "mean"])
        return "corruption", "mean", top, f"the {n} corruptions at severity {top:g} (mean)"
    shifts = read.conditions("shift")
    if not shifts:
        return None
    top = read.severities("shift", shifts[0])[-1]
    return "shift", shifts[0], top, f"{shifts[0]} at {top:g}"


def _corruptions(read: _Reader, ref: str, bayes: str) -> Finding:
    claim = "On the common corruptions, does the posterior hold up?"
    levels = read.severities("corruption", "mean")
    if not levels:
        return Finding(claim, "The corruption benchmark was not part of this run.")
    n = len([c for c in read.conditions("corruption") if c != "mean"])
    said = []
    for level in dict.fromkeys((levels[0], levels[-1])):
        a_s, a_b = (read.get(m, "corruption", "mean", "accuracy", level) for m in (ref, bayes))
        n_s, n_b = (read.get(m, "corruption", "mean", "nll", level) for m in (ref, bayes))
        e_s, e_b = (read.get(m, "corruption", "mean", "ece", level) for m in (ref, bayes))
        said.append(
            f"at severity {level:g} the softmax has accuracy {_n(a_s)}, NLL {_n(n_s)} and ECE "
            f"{_n(e_s)}, the posterior {_n(a_b)}, {_n(n_b)} and {_n(e_b)}"
        )
    parts = [f"Averaged over {n} corruptions (Ovadia et al.'s protocol), " + "; ".join(said) + "."]
    for column, label in (("nll", "NLL"), ("ece", "ECE")):
        worse = [
            f"{level:g}"
            for level in levels
            if not _better(
                *(read.peek(m, "corruption", "mean", column, level) for m in (bayes, ref))
            )
        ]
        if worse:
            parts.append(f"Its {label} is not the lower at severity {', '.join(worse)}.")
        else:
            parts.append(f"Its {label} is the lower at every severity.")
    return Finding(claim, " ".join(parts), read.take())


def regression_findings(rows: Rows, reference: str = "point") -> list[Finding]:
    """The paragraphs of "What this run shows" for regressors: does the point estimate's
    one noise level flag inputs away from the data, does the posterior's epistemic part,
    are the intervals calibrated, and which method predicts best."""
    methods = list(dict.fromkeys(r["method"] for r in rows if r["kind"] == "test"))
    others = [m for m in methods if m != reference]
    if reference not in methods or not others:
        return [
            Finding("What this run compares", "This run has no point estimate to compare with.")
        ]
    read = _Reader(rows)
    return [f(read, reference, others) for f in (_noise_level, _intervals, _scores)]


def _noise_level(read: _Reader, ref: str, others: list[str]) -> Finding:
    claim = "Does the point estimate's noise level flag inputs away from the data?"
    parts = []
    for ood in read.conditions("ood"):
        s = read.get(ref, "ood", ood, "auroc_total")
        said = [
            f"{m} {_n(a)}"
            for m in others
            if (a := read.get(m, "ood", ood, "auroc_epistemic")) is not None
        ]
        parts.append(
            f"{ood.replace('_', ' ')}: the point estimate's predictive variance separates them "
            f"from test inputs with AUROC {_n(s)} ({_flag(s, 'test inputs')}); the epistemic "
            "variance of " + ", ".join(said)
        )
    text = (
        "; ".join(parts) + "." if parts else "Inputs away from the data were not part of this run."
    )
    return Finding(claim, text, read.take())


def _intervals(read: _Reader, ref: str, others: list[str]) -> Finding:
    claim = "Are the intervals calibrated?"
    said = []
    for m in (ref, *others):
        cover = read.get(m, "test", "test", "coverage_90")
        width = read.get(m, "test", "test", "width_90")
        pit = read.get(m, "test", "test", "pit_error")
        verdict = "calibrated" if 0.85 <= cover <= 0.95 else "over-" if cover > 0.95 else "under-"
        verdict = verdict if verdict == "calibrated" else f"{verdict}covering"
        said.append(f"{m} {_n(cover)} (width {_n(width)}, PIT error {pit:.4f}: {verdict})")
    text = "90% central intervals on test data cover: " + "; ".join(said) + "."
    conformal = read.get(ref, "test", "test", "coverage_conformal_cqr")
    if conformal is not None:
        text += (
            f" Split-conformal intervals around the point estimate (CQR) cover {_n(conformal)}, "
            "guaranteed at least 0.9 on data like the calibration split, not away from it."
        )
    return Finding(claim, text, read.take())


def _scores(read: _Reader, ref: str, others: list[str]) -> Finding:
    claim = "Which predicts best?"
    nlls = {m: read.get(m, "test", "test", "nll") for m in (ref, *others)}
    rmses = {m: read.get(m, "test", "test", "rmse") for m in (ref, *others)}
    best = min(nlls, key=nlls.get)
    text = (
        "Test NLL (lower is better): "
        + ", ".join(f"{m} {_n(v)}" for m, v in nlls.items())
        + "; RMSE: "
        + ", ".join(f"{m} {_n(v)}" for m, v in rmses.items())
        + f". The lowest NLL is {best}'s."
    )
    return Finding(claim, text, read.take())
