"""Splits of a labelled data set: a validation hold-out, and held-out classes as OOD."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import TensorDataset

__all__ = ["validation_split", "held_out_classes"]


def validation_split(
    dataset: TensorDataset, fraction: float = 0.1, seed: int = 0
) -> tuple[TensorDataset, TensorDataset]:
    """A random ``(train, validation)`` split (scikit-learn's ``train_test_split``),
    stratified by class for classification labels, as ``digits()`` splits train from test;
    temperature scaling fits on the second."""
    # scikit-learn loads here, not on import, as in digits()
    from sklearn.model_selection import train_test_split

    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must lie in (0, 1), got {fraction}")
    x, y = dataset.tensors
    n_val = max(1, round(fraction * len(y)))
    train, val = train_test_split(
        np.arange(len(y)), test_size=n_val, random_state=seed, stratify=_strata(y, n_val)
    )
    train, val = torch.from_numpy(train), torch.from_numpy(val)
    return TensorDataset(x[train], y[train]), TensorDataset(x[val], y[val])


def _strata(y: torch.Tensor, n_val: int) -> np.ndarray | None:
    """The class labels to stratify by, or None where stratifying cannot work: real-valued
    or multi-dimensional targets, a class with a single example, or fewer examples on
    either side than there are classes."""
    if y.dim() != 1 or y.is_floating_point():
        return None
    counts = y.unique(return_counts=True)[1]
    if counts.min() < 2 or min(n_val, len(y) - n_val) < len(counts):
        return None
    return y.numpy()


def held_out_classes(
    dataset: TensorDataset, classes: Sequence[int]
) -> tuple[TensorDataset, torch.Tensor]:
    """Drop ``classes`` from ``dataset``: the kept examples with labels renumbered
    ``0..K-1`` in order, and the dropped examples' inputs (an OOD set for a model trained
    on the rest)."""
    x, y = dataset.tensors
    classes = sorted(set(int(c) for c in classes))
    present = sorted(set(y.tolist()))
    if not classes or not set(classes) <= set(present):
        raise ValueError(f"held-out classes {classes} must be a non-empty subset of {present}")
    kept = [c for c in present if c not in classes]
    if len(kept) < 2:
        raise ValueError(f"holding out {classes} leaves fewer than two classes")
    out = torch.isin(y, torch.tensor(classes))
    renumber = torch.full((max(present) + 1,), -1, dtype=torch.long)
    renumber[kept] = torch.arange(len(kept))
    return TensorDataset(x[~out], renumber[y[~out]]), x[out]
