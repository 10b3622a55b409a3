"""Prediction sets: split-conformal sets over any predictive, and a posterior's own
credible sets.

Split conformal prediction (Vovk et al. 2005; Angelopoulos & Bates 2021) turns any
predictive ``p(y | x)`` (a softmax, a tempered one, an ensemble, a posterior predictive)
into sets that contain the label with probability at least ``1 - alpha`` on exchangeable
data: a non-conformity score ``s(x, y)`` is computed on a held-out calibration split, its
``ceil((n + 1)(1 - alpha)) / n`` empirical quantile ``q`` is the threshold, and the set of a
new input is every class with ``s(x, c) <= q``. Scores:

- ``"lac"``: ``1 - p_y`` (least ambiguous sets, Sadinle et al. 2019: the smallest sets on
  average);
- ``"aps"``: the mass of the classes more probable than ``y`` plus ``u * p_y``, ``u``
  uniform (adaptive sets, Romano et al. 2020: sets grow where the predictive is unsure);
  a new input's set takes classes by decreasing probability up to and including the one
  whose mass reaches the threshold (MAPIE's ``include_last_label=True``: never smaller
  than the randomised set, so the guarantee holds, and deterministic at prediction);
- ``"raps"``: APS plus ``lam * max(0, rank(y) - k_reg)`` with ``rank`` counted from 1
  (Angelopoulos et al. 2021: unlikely classes are penalised, so sets stay small).

The guarantee holds whatever the predictive, and only in distribution. A posterior
promises something else: its credible set (the fewest classes holding ``1 - alpha`` of its
predictive mass, ``credible_sets``) covers ``1 - alpha`` of labels exactly when the
posterior is calibrated, with no calibration split, and under shift too if the posterior
stays honest there. ``compare`` reports both, in distribution and under every shift.

Why our own: the sets are computed batch by batch in the streaming evaluation
(``summary.py``), on tensors, for every method; MAPIE (checked, and the reference
``tests/test_conformal.py`` compares LAC and APS against) wants a scikit-learn estimator
and arrays in memory; TorchCP pulls torchvision, transformers and torch_geometric; puncc
pins numpy below 2; crepes has no APS or RAPS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .metrics import predictive_mean

__all__ = [
    "SET_SCORES",
    "Conformal",
    "class_scores",
    "label_scores",
    "calibrate",
    "credible_sets",
    "set_stats",
]

SET_SCORES = ("lac", "aps", "raps")


def class_scores(mean: torch.Tensor, score: str, lam: float = 0.01, k_reg: int = 1) -> torch.Tensor:
    """The non-conformity of every class ``[N, C]`` under predictive ``mean`` before
    randomisation: ``1 - p_c`` (LAC), the mass of the classes ranked up to ``c`` (APS),
    plus the rank penalty (RAPS)."""
    if score not in SET_SCORES:
        raise ValueError(f"unknown set score {score!r}; choose from {SET_SCORES}")
    if score == "lac":
        return 1 - mean
    ordered, order = mean.sort(-1, descending=True)
    cumulative = torch.empty_like(mean).scatter_(-1, order, ordered.cumsum(-1))
    if score == "aps":
        return cumulative
    rank = torch.empty_like(order).scatter_(
        -1, order, torch.arange(mean.shape[-1], device=mean.device).expand_as(order)
    )
    return cumulative + lam * (rank + 1 - k_reg).clamp_min(0)


def label_scores(
    mean: torch.Tensor,
    labels: torch.Tensor,
    score: str,
    u: torch.Tensor | None = None,
    **options: float,
) -> torch.Tensor:
    """The calibration score of each example's label ``[N]``; APS and RAPS subtract
    ``u * p_y`` with ``u`` uniform (drawn from torch's RNG unless given)."""
    index = labels.long()[:, None]
    found = class_scores(mean, score, **options).gather(-1, index).squeeze(-1)
    if score == "lac":
        return found
    u = torch.rand(len(found), dtype=mean.dtype, device=mean.device) if u is None else u
    return found - u.to(found) * mean.gather(-1, index).squeeze(-1)


def calibrate(scores: torch.Tensor, alpha: float) -> float:
    """The split-conformal threshold: the ``ceil((n + 1)(1 - alpha))``-th smallest
    calibration score (infinite, every class, when ``n`` is too small for ``alpha``)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    n = len(scores)
    k = math.ceil((n + 1) * (1 - alpha))
    if k > n:
        return math.inf
    return scores.double().sort().values[k - 1].item()


def credible_sets(mean: torch.Tensor, alpha: float) -> torch.Tensor:
    """The smallest set of classes holding at least ``1 - alpha`` of the predictive mass,
    per example ``[N, C]`` (bool): classes by decreasing probability until the mass is
    reached."""
    ordered, order = mean.sort(-1, descending=True)
    before = ordered.cumsum(-1) - ordered  # the mass of the classes ranked above
    keep = before < 1 - alpha - 1e-12
    return torch.zeros_like(keep).scatter_(-1, order, keep)


def set_stats(sets: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """Per example: the set's size and (given labels) whether it holds the label."""
    stats = {"size": sets.sum(-1).double()}
    if labels is not None:
        stats["covered"] = sets.gather(-1, labels.long()[:, None]).squeeze(-1).double()
    return stats


@dataclass(frozen=True)
class Conformal:
    """Split-conformal sets of one predictive at level ``alpha`` for each score, with its
    thresholds fitted on a calibration split (``fit``)."""

    alpha: float
    thresholds: dict[str, float]
    lam: float = 0.01
    k_reg: int = 1

    @classmethod
    def fit(
        cls,
        probs: torch.Tensor,
        labels: torch.Tensor,
        alpha: float = 0.1,
        scores: tuple[str, ...] = SET_SCORES,
        lam: float = 0.01,
        k_reg: int = 1,
        u: torch.Tensor | None = None,
    ) -> Conformal:
        """Thresholds from calibration draws ``[S, N, C]`` (or a predictive ``[N, C]``);
        ``u``: the uniform draws of APS/RAPS (torch's RNG by default)."""
        mean = predictive_mean(probs)
        labels = labels.to(mean.device)
        found = {
            s: calibrate(label_scores(mean, labels, s, u, lam=lam, k_reg=k_reg), alpha)
            for s in scores
        }
        return cls(alpha, found, lam, k_reg)

    def sets(self, mean: torch.Tensor, score: str) -> torch.Tensor:
        """The prediction sets ``[N, C]`` (bool) of a predictive ``mean [N, C]``: LAC's
        classes with ``1 - p_c <= q``; APS's and RAPS's classes by decreasing probability
        up to and including the one whose score reaches ``q``."""
        mean = mean.double()
        found = class_scores(mean, score, lam=self.lam, k_reg=self.k_reg)
        if score == "lac":
            return found <= self.thresholds[score]
        return found - mean < self.thresholds[score]
