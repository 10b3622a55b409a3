"""Two-dimensional toy problems, where "far from the data" can be drawn."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

__all__ = ["two_moons"]


def two_moons(n: int = 200, noise: float = 0.1, seed: int = 0) -> TensorDataset:
    """scikit-learn's two interleaving half circles, standardised: inputs ``[n, 2]``,
    labels 0/1."""
    from sklearn.datasets import make_moons  # on use: see ``digits``

    x, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    x = torch.tensor(x, dtype=torch.float32)
    x = (x - x.mean(0)) / x.std(0)
    return TensorDataset(x, torch.tensor(y, dtype=torch.long))
