"""Metrics on predictive draws ``probs [S, N, C]`` (S = 1 for a point estimate).

Accuracy, NLL, Brier score and the calibration errors use the posterior predictive mean
``p(y|x) = mean_s p_s``. The uncertainty decomposition follows Depeweg et al. (2018): total
predictive entropy ``H[mean_s p_s]`` = aleatoric ``mean_s H[p_s]`` + epistemic mutual
information. ROC and PR curves and their areas come from scikit-learn; what is written here
by hand (binned calibration errors, FPR at 95% TPR, risk-coverage) has no kept library
implementation and is tested against hand-computed cases.

Uncertainty *scores* (``SCORES``) are per-example, higher meaning less certain, so one
convention serves OOD detection (OOD is the positive class) and selective prediction.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

__all__ = [
    "check_probs",
    "predictive_mean",
    "accuracy",
    "nll",
    "brier",
    "calibration_bins",
    "bin_stats",
    "calibration_error",
    "equal_width_bins",
    "equal_mass_bins",
    "risk_from_hits",
    "TINY",
    "ece",
    "mce",
    "adaptive_ece",
    "classwise_ece",
    "max_probability",
    "predictive_entropy",
    "expected_entropy",
    "mutual_information",
    "variation_ratio",
    "SCORES",
    "CHECKED_SCORES",
    "ood_auroc",
    "ood_aupr",
    "fpr_at_95_tpr",
    "ood_detection",
    "risk_coverage",
    "aurc",
    "agreement",
    "total_variation",
]

TINY = 1e-12


def check_probs(probs: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Validate ``[S, N, C]`` probabilities (and labels ``[N]``); returns them as float64."""
    probs = torch.as_tensor(probs)
    if probs.dim() != 3:
        raise ValueError(f"expected probabilities of shape [S, N, C], got {tuple(probs.shape)}")
    if probs.shape[-1] < 2:
        raise ValueError("probabilities need at least two classes")
    if not torch.isfinite(probs).all():
        raise ValueError("probabilities contain NaN or Inf")
    sums = probs.sum(-1)
    if (probs < 0).any() or not torch.allclose(sums, torch.ones_like(sums), atol=1e-3):
        raise ValueError("probabilities must be non-negative and sum to one over classes")
    if labels is not None:
        if labels.shape != probs.shape[1:2]:
            raise ValueError(f"{labels.shape[0]} labels for {probs.shape[1]} predictions")
        if labels.min() < 0 or labels.max() >= probs.shape[-1]:
            raise ValueError(f"labels must lie in [0, {probs.shape[-1]})")
    return probs.double()


def predictive_mean(probs: torch.Tensor) -> torch.Tensor:
    """The predictive ``[N, C]``: the mean of draws ``[S, N, C]``, or ``[N, C]`` as given."""
    probs = torch.as_tensor(probs)
    return check_probs(probs[None] if probs.dim() == 2 else probs).mean(0)


def accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    mean = check_probs(probs, labels).mean(0)
    return (mean.argmax(-1) == labels.to(mean.device)).double().mean().item()


def nll(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean negative log predictive probability of the true class (nats)."""
    mean = check_probs(probs, labels).mean(0)
    true = mean.gather(-1, labels.to(mean.device).long()[:, None]).squeeze(-1)
    return -true.clamp_min(TINY).log().mean().item()


def brier(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over examples of ``sum_c (p_c - 1[y = c])^2`` (0 is perfect, 2 is worst)."""
    mean = check_probs(probs, labels).mean(0)
    onehot = torch.nn.functional.one_hot(labels.to(mean.device).long(), mean.shape[-1])
    return (mean - onehot).square().sum(-1).mean().item()


def bin_stats(
    conf: torch.Tensor, hit: torch.Tensor, index: torch.Tensor, bins: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per bin: the number of examples, mean ``hit`` and mean ``conf`` (NaN when empty)."""
    zeros = torch.zeros(bins, dtype=conf.dtype, device=conf.device)
    count = zeros.index_add(0, index, torch.ones_like(conf))
    safe, empty = count.clamp_min(1), torch.full_like(zeros, torch.nan)
    acc = torch.where(count > 0, zeros.index_add(0, index, hit) / safe, empty)
    mean_conf = torch.where(count > 0, zeros.index_add(0, index, conf) / safe, empty)
    return count, acc, mean_conf


def calibration_error(conf, hit, index, bins: int) -> torch.Tensor:
    """``sum_b |B_b| / N * |acc(B_b) - conf(B_b)|``."""
    count, acc, mean_conf = bin_stats(conf, hit, index, bins)
    return (count * torch.nan_to_num((acc - mean_conf).abs())).sum() / count.sum()


def equal_width_bins(conf: torch.Tensor, bins: int) -> torch.Tensor:
    """Bin index of each confidence: bins ``(lo, hi]``, the first ``[0, hi]``."""
    edges = torch.linspace(0, 1, bins + 1, dtype=conf.dtype, device=conf.device)
    return torch.bucketize(conf, edges[1:-1].contiguous())


def equal_mass_bins(conf: torch.Tensor, bins: int) -> torch.Tensor:
    """Bin index of each confidence, edges at the confidence quantiles."""
    levels = torch.linspace(0, 1, bins + 1, dtype=conf.dtype, device=conf.device)
    return torch.bucketize(conf, torch.quantile(conf, levels[1:-1]))


def _top_label(probs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Confidence of the predicted class and whether it is right (0/1), per example."""
    conf, pred = check_probs(probs, labels).mean(0).max(-1)
    return conf, (pred == labels.to(conf.device)).double()


def calibration_bins(
    probs: torch.Tensor, labels: torch.Tensor, bins: int = 15
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per equal-width confidence bin: the number of examples, their accuracy and their
    mean confidence (NaN for empty bins)."""
    conf, hit = _top_label(probs, labels)
    return bin_stats(conf, hit, equal_width_bins(conf, bins), bins)


def ece(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    """Expected calibration error over 15 equal-width confidence bins (Guo et al. 2017)."""
    conf, hit = _top_label(probs, labels)
    return calibration_error(conf, hit, equal_width_bins(conf, bins), bins).item()


def mce(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    """Maximum calibration error: the largest ``|acc - conf|`` over non-empty bins."""
    _, acc, conf = calibration_bins(probs, labels, bins)
    return torch.nan_to_num((acc - conf).abs(), nan=0.0).max().item()


def adaptive_ece(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    """ECE over equal-mass bins, edges at the confidence quantiles (Nixon et al. 2019);
    tied confidences share a bin."""
    conf, hit = _top_label(probs, labels)
    return calibration_error(conf, hit, equal_mass_bins(conf, bins), bins).item()


def classwise_ece(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    """Mean over classes ``c`` of the calibration error of ``p_c`` against ``1[y = c]``
    in equal-width bins (Kull et al. 2019)."""
    mean = check_probs(probs, labels).mean(0)
    onehot = torch.nn.functional.one_hot(labels.to(mean.device).long(), mean.shape[-1]).double()
    errors = [
        calibration_error(p, onehot[:, c], equal_width_bins(p, bins), bins)
        for c, p in enumerate(mean.T.contiguous())
    ]
    return torch.stack(errors).mean().item()


def max_probability(probs: torch.Tensor) -> torch.Tensor:
    """Max predictive probability per example ``[N]``."""
    return _max_probability(check_probs(probs))


def predictive_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Total uncertainty ``H[mean_s p_s]`` per example ``[N]``."""
    return _predictive_entropy(check_probs(probs))


def expected_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Aleatoric part ``mean_s H[p_s]`` per example ``[N]``."""
    return _expected_entropy(check_probs(probs))


def mutual_information(probs: torch.Tensor) -> torch.Tensor:
    """Epistemic part: total - aleatoric, per example ``[N]`` (0 when all draws agree)."""
    return _mutual_information(check_probs(probs))


def variation_ratio(probs: torch.Tensor) -> torch.Tensor:
    """``1 - (draws voting for the modal class) / S`` per example ``[N]`` (Gal 2016); 0 for a
    point estimate."""
    return _variation_ratio(check_probs(probs))


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * p.clamp_min(TINY).log()).sum(-1)


def _max_probability(p: torch.Tensor) -> torch.Tensor:
    return p.mean(0).max(-1).values


def _predictive_entropy(p: torch.Tensor) -> torch.Tensor:
    return _entropy(p.mean(0))


def _expected_entropy(p: torch.Tensor) -> torch.Tensor:
    return _entropy(p).mean(0)


def _mutual_information(p: torch.Tensor) -> torch.Tensor:
    return _predictive_entropy(p) - _expected_entropy(p)


def _variation_ratio(p: torch.Tensor) -> torch.Tensor:
    votes = p.argmax(-1)  # [S, N]
    mode_count = torch.nn.functional.one_hot(votes, p.shape[-1]).sum(0).max(-1).values
    return 1 - mode_count.double() / votes.shape[0]


#: the uncertainty scores of draws already validated by ``check_probs`` (what a caller that
#: validates each batch once, the streaming ``Summary``, computes them from)
CHECKED_SCORES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "max_prob": lambda p: 1 - _max_probability(p),
    "entropy": _predictive_entropy,
    "aleatoric": _expected_entropy,
    "mi": _mutual_information,
    "variation_ratio": _variation_ratio,
}
#: the uncertainty scores of any ``[S, N, C]`` draws, per example, higher = less certain
SCORES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    name: (lambda probs, score=score: score(check_probs(probs)))
    for name, score in CHECKED_SCORES.items()
}


def _detection_inputs(score_in: torch.Tensor, score_out: torch.Tensor):
    score_in, score_out = torch.as_tensor(score_in), torch.as_tensor(score_out)
    if len(score_in) == 0 or len(score_out) == 0:
        raise ValueError("OOD detection needs in-distribution and OOD scores, got an empty set")
    labels = np.r_[np.zeros(len(score_in)), np.ones(len(score_out))]
    return labels, torch.cat([score_in.cpu(), score_out.cpu()]).double().numpy()


def ood_auroc(score_in: torch.Tensor, score_out: torch.Tensor) -> float:
    """AUROC for telling out-of-distribution inputs (higher score) from in-distribution."""
    return float(roc_auc_score(*_detection_inputs(score_in, score_out)))


def ood_aupr(score_in: torch.Tensor, score_out: torch.Tensor) -> float:
    """Area under the precision-recall curve with OOD as the positive class (average
    precision)."""
    return float(average_precision_score(*_detection_inputs(score_in, score_out)))


def fpr_at_95_tpr(score_in: torch.Tensor, score_out: torch.Tensor) -> float:
    """Fraction of in-distribution inputs flagged at the threshold that catches 95% of OOD."""
    fpr, tpr, _ = roc_curve(*_detection_inputs(score_in, score_out), drop_intermediate=False)
    return float(fpr[np.searchsorted(tpr, 0.95, side="left")])


def ood_detection(score_in: torch.Tensor, score_out: torch.Tensor) -> dict[str, float]:
    """AUROC, AUPR and FPR at 95% TPR of one uncertainty score."""
    return {
        "auroc": ood_auroc(score_in, score_out),
        "aupr": ood_aupr(score_in, score_out),
        "fpr95": fpr_at_95_tpr(score_in, score_out),
    }


def risk_coverage(
    probs: torch.Tensor, labels: torch.Tensor, score: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Selective prediction: keep the ``k`` most certain examples (lowest ``score``) for
    ``k = 1..N``; returns coverage ``k / N`` and the error rate (risk) among those kept."""
    return risk_from_hits(_top_label(probs, labels)[1], score)


def risk_from_hits(hit: torch.Tensor, score: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``risk_coverage`` from whether each prediction is right (1/0) and its score."""
    score = torch.as_tensor(score).to(hit.device)
    if score.shape != hit.shape:
        raise ValueError(f"{len(score)} scores for {len(hit)} predictions")
    errors = (1 - hit[score.argsort(stable=True)]).cumsum(0)
    kept = torch.arange(1, len(hit) + 1, dtype=hit.dtype, device=hit.device)
    return kept / len(hit), errors / kept


def aurc(probs: torch.Tensor, labels: torch.Tensor, score: torch.Tensor) -> float:
    """Area under the risk-coverage curve: mean risk over ``k = 1..N`` (Geifman et al. 2019).
    Lower is better; a perfect ranking reaches ``r + (1 - r) ln(1 - r)`` at error rate r."""
    return risk_coverage(probs, labels, score)[1].mean().item()


def _fidelity_pair(probs: torch.Tensor, reference: torch.Tensor):
    p, q = predictive_mean(probs), predictive_mean(reference)
    if p.shape != q.shape:
        raise ValueError(
            f"predictive {tuple(p.shape)} and reference {tuple(q.shape)} differ in shape [N, C]"
        )
    return p, q.to(p.device)


def agreement(probs: torch.Tensor, reference: torch.Tensor) -> float:
    """Fraction of inputs whose top-1 class matches the reference predictive's (Izmailov et
    al. 2021: fidelity to an HMC reference). Each argument is ``[S, N, C]`` or ``[N, C]``."""
    p, q = _fidelity_pair(probs, reference)
    return (p.argmax(-1) == q.argmax(-1)).double().mean().item()


def total_variation(probs: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean over inputs of the total variation distance ``0.5 * sum_c |p_c - q_c|`` between
    the predictive and the reference predictive (0: identical, 1: disjoint)."""
    p, q = _fidelity_pair(probs, reference)
    return (0.5 * (p - q).abs().sum(-1)).mean().item()
