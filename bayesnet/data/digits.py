"""scikit-learn's 8x8 handwritten digits, embedded in scikit-learn: no download."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, TensorDataset


def digits(seed: int = 0, test_fraction: float = 0.2) -> tuple[TensorDataset, TensorDataset]:
    """Train/test ``TensorDataset``s: images ``[N, 1, 8, 8]`` in [0, 1], labels 0-9.

    The split is stratified and deterministic given ``seed`` (1437 / 360 by default).
    """
    # scikit-learn loads here, not on import: it would add a second to ``import bayesnet``
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.long)
    idx_train, idx_test = train_test_split(
        torch.arange(len(y)).numpy(), test_size=test_fraction, random_state=seed, stratify=y.numpy()
    )
    return TensorDataset(x[idx_train], y[idx_train]), TensorDataset(x[idx_test], y[idx_test])


def to_loader(
    dataset, batch_size: int = 64, shuffle: bool = True, seed: int | None = None
) -> DataLoader:
    """A DataLoader with its own generator, so shuffling is reproducible and resumable."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)
