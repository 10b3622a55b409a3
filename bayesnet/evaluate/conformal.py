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
  a new input's set takes every class whose more probable classes hold at most the
  threshold (MAPIE's ``include_last_label=True``: never smaller than the randomised set,
  so the guarantee holds, and deterministic at prediction). Classes of equal probability
  are treated alike: none counts in another's mass, so a saturated predictive (one-hot
  probabilities) keeps its tied classes in the set as the randomised set does;
- ``"raps"``: APS plus ``lam * max(0, rank(y) - k_reg)`` with ``rank`` counted from 1
  (1 + the number of more probable classes; Angelopoulos et al. 2021: unlikely classes
  are penalised, so sets stay small).

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
import warnings
from dataclasses import dataclass

import torch

from .metrics import predictive_mean

__all__ = [
    "SET_SCORES",
    "SmallCalibrationWarning",
    "Conformal",
    "class_scores",
    "label_scores",
    "calibrate",
    "check_alpha",
    "credible_sets",
    "set_stats",
]

SET_SCORES = ("lac", "aps", "raps")


class SmallCalibrationWarning(UserWarning):
    """The calibration split is too small for ``alpha``: every set holds every class."""


def _above(mean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per class ``[N, C]``: the mass of the classes strictly more probable, and how many
    they are (ties count for neither)."""
    ordered, order = mean.sort(-1, descending=True)
    before = ordered.cumsum(-1) - ordered  # the mass ranked before each position
    positions = torch.arange(mean.shape[-1], device=mean.device).expand_as(order)
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    first = (positions * starts).cummax(-1).values  # the first position of each tie
    mass = torch.empty_like(mean).scatter_(-1, order, before.gather(-1, first))
    count = torch.empty_like(order).scatter_(-1, order, first)
    return mass, count


def class_scores(mean: torch.Tensor, score: str, lam: float = 0.01, k_reg: int = 1) -> torch.Tensor:
    """The non-conformity of every class ``[N, C]`` under predictive ``mean`` before
    randomisation: ``1 - p_c`` (LAC), the mass of the classes ranked up to ``c`` (APS),
    plus the rank penalty (RAPS)."""
    if score not in SET_SCORES:
        raise ValueError(f"unknown set score {score!r}; choose from {SET_SCORES}")
    if score == "lac":
        return 1 - mean
    mass, count = _above(mean)
    if score == "aps":
        return mass + mean
    return mass + mean + lam * (count + 1 - k_reg).clamp_min(0)


def label_scores(
    mean: torch.Tensor,
    labels: torch.Tensor,
    score: str,
    u: torch.Tensor | None = None,
    **options: float,
) -> torch.Tensor:
    """The calibration score of each example's label ``[N]``; APS and RAPS subtract
    ``u * p_y`` with ``u`` uniform (drawn from torch's RNG unless given)."""
    _check_labels(mean, labels)
    index = labels.long()[:, None]
    found = class_scores(mean, score, **options).gather(-1, index).squeeze(-1)
    if score == "lac":
        return found
    u = torch.rand(len(found), dtype=mean.dtype, device=mean.device) if u is None else u
    return found - u.to(found) * mean.gather(-1, index).squeeze(-1)


def _check_labels(mean: torch.Tensor, labels: torch.Tensor) -> None:
    if labels.dim() != 1 or len(labels) != len(mean):
        raise ValueError(
            f"calibration needs one label per prediction: {len(mean)} predictions, labels of "
            f"shape {tuple(labels.shape)}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= mean.shape[-1]):
        raise ValueError(
            f"calibration labels must lie in 0..{mean.shape[-1] - 1} (the predictive's "
            f"classes); got {int(labels.min())}..{int(labels.max())}"
        )


def check_alpha(alpha: float) -> float:
    """``alpha`` if it lies in (0, 1); a ValueError otherwise."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    return alpha


def calibrate(scores: torch.Tensor, alpha: float) -> float:
    """The split-conformal threshold: the ``ceil((n + 1)(1 - alpha))``-th smallest
    calibration score. With fewer than ``1 / alpha - 1`` scores no threshold keeps the
    guarantee: the threshold is infinite (every class) and a ``SmallCalibrationWarning``
    says so; no scores at all is a ValueError."""
    check_alpha(alpha)
    n = len(scores)
    if n == 0:
        raise ValueError("the calibration split is empty")
    k = math.ceil((n + 1) * (1 - alpha))
    if k > n:
        warnings.warn(
            f"{n} calibration examples are too few for alpha = {alpha} (at least "
            f"{math.ceil(1 / alpha - 1)} are needed): every prediction set holds every class",
            SmallCalibrationWarning,
            stacklevel=3,
        )
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
        classes with ``1 - p_c <= q``; APS's and RAPS's classes whose score less their own
        probability (the mass of the classes above, and the rank penalty) is at most ``q``."""
        mean = mean.double()
        found = class_scores(mean, score, lam=self.lam, k_reg=self.k_reg)
        if score == "lac":
            return found <= self.thresholds[score]
        return found - mean <= self.thresholds[score]
