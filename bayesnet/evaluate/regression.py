"""Regression with its uncertainty split: the predictive of a regressor is a mixture of the
draws' likelihoods, ``p(y | x) = mean_s N(y; mu_s(x), sigma_s^2(x))``.

- ``decompose``: the predictive mean and the law of total variance, ``Var[y] =
  E[sigma^2] + Var[mu]``: the aleatoric part (noise in the data, what more data would not
  remove) and the epistemic part (what the weights do not know);
- proper scores of the mixture: ``nll``, ``crps`` (closed form for a Gaussian mixture,
  Grimit et al. 2006), and ``rmse`` of its mean;
- calibration: ``pit`` (the predictive CDF at the target: uniform for a calibrated
  predictive) and ``calibration_error`` (Kuleshov et al. 2018), central ``intervals`` of
  the mixture and their ``coverage`` and width;
- ``ConformalIntervals``: split-conformal intervals around any predictive, from the
  absolute residual of its mean or conformalised quantile regression (Romano et al. 2019)
  on its central interval, with the finite-sample guarantee the credible intervals lack.

Every function takes the draws' means and variances ``[S, N, D]`` (``Posterior.
predict_moments``); per-example quantities are summed over the ``D`` targets where a
density is involved and averaged otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = [
    "LEVELS",
    "decompose",
    "nll",
    "rmse",
    "crps",
    "pit",
    "calibration_error",
    "intervals",
    "coverage",
    "ConformalIntervals",
]

#: the central interval levels reported by default
LEVELS = (0.5, 0.8, 0.9, 0.95)
_NORMAL = torch.distributions.Normal(0.0, 1.0)


def decompose(means: torch.Tensor, variances: torch.Tensor) -> dict[str, torch.Tensor]:
    """The predictive mean and variance of the mixture of the draws ``[N, D]`` each, and
    the variance split by the law of total variance: ``aleatoric = E_s[sigma_s^2]``,
    ``epistemic = Var_s[mu_s]`` (population variance over the draws), ``total`` their sum."""
    _check(means, variances)
    aleatoric = variances.mean(0)
    epistemic = means.var(0, unbiased=False)
    return {
        "mean": means.mean(0),
        "total": aleatoric + epistemic,
        "aleatoric": aleatoric,
        "epistemic": epistemic,
    }


def _check(means: torch.Tensor, variances: torch.Tensor, y: torch.Tensor | None = None) -> None:
    if means.dim() != 3 or means.shape != variances.shape:
        raise ValueError(
            f"means and variances must be [S, N, D] alike, got {tuple(means.shape)} and "
            f"{tuple(variances.shape)}"
        )
    if (variances <= 0).any():
        raise ValueError("variances must be positive")
    if y is not None and y.shape != means.shape[1:]:
        raise ValueError(
            f"targets {tuple(y.shape)} do not match predictions {tuple(means.shape[1:])}"
        )


def _log_densities(means, variances, y) -> torch.Tensor:
    """``log N(y; mu_s, sigma_s^2)`` summed over targets, ``[S, N]``."""
    z = (y - means).square() / variances
    return -0.5 * (z + variances.log() + math.log(2 * math.pi)).sum(-1)


def nll(means: torch.Tensor, variances: torch.Tensor, y: torch.Tensor) -> float:
    """Mean negative log density of the targets under the mixture of the draws."""
    _check(means, variances, y)
    log_mix = _log_densities(means, variances, y).logsumexp(0) - math.log(len(means))
    return float(-log_mix.mean())


def rmse(means: torch.Tensor, y: torch.Tensor) -> float:
    """Root mean squared error of the predictive mean (over examples and targets)."""
    return float((means.mean(0) - y).square().mean().sqrt())


def _a(mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """``E|X|`` for ``X ~ N(mu, var)``: ``2 sigma phi(mu / sigma) + mu (2 Phi(mu / sigma) - 1)``."""
    sigma = var.sqrt()
    z = mu / sigma
    return 2 * sigma * _NORMAL.log_prob(z).exp() + mu * (2 * _NORMAL.cdf(z) - 1)


def crps(means: torch.Tensor, variances: torch.Tensor, y: torch.Tensor) -> float:
    """Mean continuous ranked probability score of the mixture (lower is better), in closed
    form: ``E|X - y| - E|X - X'| / 2`` with ``X, X'`` independent draws of the mixture."""
    _check(means, variances, y)
    s = len(means)
    first = _a(y - means, variances).mean(0)
    pair_mu = means[:, None] - means[None]
    pair_var = variances[:, None] + variances[None]
    second = _a(pair_mu, pair_var).sum((0, 1)) / s**2
    return float((first - second / 2).mean())


def _cdf(means, variances, value) -> torch.Tensor:
    """The mixture's CDF at ``value`` ``[N, D]``."""
    return _NORMAL.cdf((value - means) / variances.sqrt()).mean(0)


def pit(means: torch.Tensor, variances: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The probability integral transform ``F(y)`` of each target ``[N, D]``: uniform on
    [0, 1] when the predictive is calibrated."""
    _check(means, variances, y)
    return _cdf(means, variances, y)


def calibration_error(values: torch.Tensor, bins: int = 20) -> float:
    """Kuleshov et al.'s calibration error of PIT values: ``mean_j (p_j - F_hat(p_j))^2``
    over ``bins`` levels ``p_j``, ``F_hat`` their empirical CDF (0 for a perfect one)."""
    levels = torch.linspace(0, 1, bins + 1, dtype=torch.float64)[1:]
    flat = values.reshape(-1).double()
    empirical = (flat[None] <= levels[:, None]).double().mean(1)
    return float((levels - empirical).square().mean())


def intervals(
    means: torch.Tensor, variances: torch.Tensor, level: float, steps: int = 60
) -> tuple[torch.Tensor, torch.Tensor]:
    """The mixture's central interval at ``level`` ``([N, D], [N, D])``: its quantiles
    ``(1 - level) / 2`` and ``(1 + level) / 2``, found by bisection on its CDF."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    spread = 8 * variances.max(0).values.sqrt() + (means.max(0).values - means.min(0).values)
    centre = means.mean(0)
    bounds = []
    for q in ((1 - level) / 2, (1 + level) / 2):
        low, high = centre - spread, centre + spread
        for _ in range(steps):
            mid = (low + high) / 2
            below = _cdf(means, variances, mid) < q
            low, high = torch.where(below, mid, low), torch.where(below, high, mid)
        bounds.append((low + high) / 2)
    return bounds[0], bounds[1]


def coverage(low: torch.Tensor, high: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """The fraction of targets in ``[low, high]`` and the intervals' mean width."""
    inside = (low <= y) & (y <= high)
    return float(inside.double().mean()), float((high - low).mean())


@dataclass(frozen=True)
class ConformalIntervals:
    """Split-conformal intervals at level ``1 - alpha`` around a predictive, fitted on a
    calibration split: ``"residual"`` scores ``|y - mean|`` (intervals ``mean +- q``);
    ``"cqr"`` conformalises the predictive's own central interval (scores
    ``max(low - y, y - high)``, intervals ``[low - q, high + q]``). On exchangeable data
    they cover at least ``1 - alpha`` of targets whatever the predictive."""

    alpha: float
    score: str
    threshold: float

    @classmethod
    def fit(
        cls,
        means: torch.Tensor,
        variances: torch.Tensor,
        y: torch.Tensor,
        alpha: float = 0.1,
        score: str = "residual",
    ) -> ConformalIntervals:
        _check(means, variances, y)
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
        scores = cls._scores(means, variances, y, alpha, score).reshape(-1)
        n = len(scores)
        k = math.ceil((n + 1) * (1 - alpha))
        threshold = math.inf if k > n else float(scores.double().sort().values[k - 1])
        return cls(alpha, score, threshold)

    @staticmethod
    def _scores(means, variances, y, alpha, score) -> torch.Tensor:
        if score == "residual":
            return (y - means.mean(0)).abs()
        if score == "cqr":
            low, high = intervals(means, variances, 1 - alpha)
            return torch.maximum(low - y, y - high)
        raise ValueError(f"unknown score {score!r}; choose 'residual' or 'cqr'")

    def intervals(self, means: torch.Tensor, variances: torch.Tensor):
        """The intervals ``(low, high)`` ``[N, D]`` of a predictive."""
        if self.score == "residual":
            centre = means.mean(0)
            return centre - self.threshold, centre + self.threshold
        low, high = intervals(means, variances, 1 - self.alpha)
        return low - self.threshold, high + self.threshold
