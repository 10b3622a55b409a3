"""Toy problems where "far from the data" can be drawn: two moons (classification) and the
in-between regression of Foong et al. (2019)."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

__all__ = ["two_moons", "in_between", "GAP"]

#: the in-between problem's gap, between its two clusters of inputs
GAP = (-0.5, 0.5)


def two_moons(n: int = 200, noise: float = 0.1, seed: int = 0) -> TensorDataset:
    """scikit-learn's two interleaving half circles, standardised: inputs ``[n, 2]``,
    labels 0/1."""
    from sklearn.datasets import make_moons  # on use: see ``digits``

    x, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    x = torch.tensor(x, dtype=torch.float32)
    x = (x - x.mean(0)) / x.std(0)
    return TensorDataset(x, torch.tensor(y, dtype=torch.long))


def in_between(n: int = 160, noise: float = 0.1, seed: int = 0) -> TensorDataset:
    """Foong et al.'s "in-between" regression: inputs in two clusters, ``[-1, -0.5]`` and
    ``[0.5, 1]`` (``GAP`` between them), targets ``sin(3 x) + 0.5 x`` plus Gaussian noise of
    standard deviation ``noise``; ``[n, 1]`` each. A posterior should be unsure in the gap,
    where no data say what the function does; a point estimate's one noise level is not."""
    g = torch.Generator().manual_seed(seed)
    side = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    x = (side * (0.5 + 0.5 * torch.rand(n, generator=g)))[:, None]
    y = torch.sin(3 * x) + 0.5 * x + noise * torch.randn(n, 1, generator=g)
    return TensorDataset(x, y)
