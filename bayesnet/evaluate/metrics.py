"""Metrics on predictive draws ``probs [S, N, C]`` (S = 1 for a point estimate).

Accuracy, NLL and Brier score use the posterior predictive mean ``p(y|x) = mean_s p_s``.
The uncertainty decomposition follows Depeweg et al. (2018): total predictive entropy
``H[mean_s p_s]`` = aleatoric ``mean_s H[p_s]`` + epistemic mutual information.
ROC areas come from scikit-learn.
"""

from __future__ import annotations

import torch
from sklearn.metrics import roc_auc_score

__all__ = [
    "check_probs",
    "predictive_mean",
    "accuracy",
    "nll",
    "brier",
    "calibration_bins",
    "ece",
    "confidence",
    "predictive_entropy",
    "expected_entropy",
    "mutual_information",
    "ood_auroc",
]

_TINY = 1e-12


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
    return check_probs(probs).mean(0)


def accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    mean = check_probs(probs, labels).mean(0)
    return (mean.argmax(-1) == labels.to(mean.device)).double().mean().item()


def nll(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean negative log predictive probability of the true class (nats)."""
    mean = check_probs(probs, labels).mean(0)
    true = mean.gather(-1, labels.to(mean.device).long()[:, None]).squeeze(-1)
    return -true.clamp_min(_TINY).log().mean().item()


def brier(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over examples of ``sum_c (p_c - 1[y = c])^2`` (0 is perfect, 2 is worst)."""
    mean = check_probs(probs, labels).mean(0)
    onehot = torch.nn.functional.one_hot(labels.to(mean.device).long(), mean.shape[-1])
    return (mean - onehot).square().sum(-1).mean().item()


def calibration_bins(
    probs: torch.Tensor, labels: torch.Tensor, bins: int = 15
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per equal-width confidence bin ``(lo, hi]`` (the first ``[0, hi]``): the number of
    examples, their accuracy and their mean confidence (NaN for empty bins)."""
    mean = check_probs(probs, labels).mean(0)
    conf, pred = mean.max(-1)
    correct = (pred == labels.to(mean.device)).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=conf.dtype, device=conf.device)
    index = torch.bucketize(conf, edges[1:-1], right=False)
    zeros = torch.zeros(bins, dtype=conf.dtype, device=conf.device)
    count = zeros.index_add(0, index, torch.ones_like(conf))
    safe = count.clamp_min(1)
    empty = torch.full_like(zeros, torch.nan)
    acc = torch.where(count > 0, zeros.index_add(0, index, correct) / safe, empty)
    mean_conf = torch.where(count > 0, zeros.index_add(0, index, conf) / safe, empty)
    return count, acc, mean_conf


def ece(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    """Expected calibration error, ``sum_b |B_b| / N * |acc(B_b) - conf(B_b)|`` (Guo et al.)."""
    count, acc, conf = calibration_bins(probs, labels, bins)
    gaps = torch.nan_to_num((acc - conf).abs())
    return ((count * gaps).sum() / count.sum()).item()


def confidence(probs: torch.Tensor) -> torch.Tensor:
    """Max predictive probability per example ``[N]``."""
    return check_probs(probs).mean(0).max(-1).values


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * p.clamp_min(_TINY).log()).sum(-1)


def predictive_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Total uncertainty ``H[mean_s p_s]`` per example ``[N]``."""
    return _entropy(check_probs(probs).mean(0))


def expected_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Aleatoric part ``mean_s H[p_s]`` per example ``[N]``."""
    return _entropy(check_probs(probs)).mean(0)


def mutual_information(probs: torch.Tensor) -> torch.Tensor:
    """Epistemic part: total - aleatoric, per example ``[N]`` (0 when all draws agree)."""
    return predictive_entropy(probs) - expected_entropy(probs)


def ood_auroc(score_in: torch.Tensor, score_out: torch.Tensor) -> float:
    """AUROC for telling out-of-distribution inputs (higher score) from in-distribution."""
    labels = [0] * len(score_in) + [1] * len(score_out)
    scores = torch.cat([torch.as_tensor(score_in), torch.as_tensor(score_out)]).cpu().numpy()
    return float(roc_auc_score(labels, scores))
