"""Real regression data that needs no download, and the protocol the BNN literature
reports them under.

- ``diabetes()``: scikit-learn's diabetes progression (442 patients, 10 inputs);
- ``autompg()``: mlxtend's Auto MPG (392 cars, 7 inputs: fuel efficiency), the
  ``benchmarks`` extra;
- ``standardized_splits``: random train/test splits with inputs and targets standardised
  on the training part (Hernandez-Lobato & Adams 2015: 20 splits of 90/10), each with the
  targets' scale, to report NLL and RMSE in the targets' own units.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import TensorDataset

__all__ = ["diabetes", "autompg", "Split", "standardized_splits", "REGRESSION"]


def diabetes() -> TensorDataset:
    """Inputs ``[442, 10]`` and targets ``[442, 1]`` (disease progression), float32."""
    from sklearn.datasets import load_diabetes  # on use, as digits()

    bunch = load_diabetes()
    return TensorDataset(
        torch.tensor(bunch.data, dtype=torch.float32),
        torch.tensor(bunch.target, dtype=torch.float32)[:, None],
    )


def autompg() -> TensorDataset:
    """Inputs ``[392, 7]`` and targets ``[392, 1]`` (miles per gallon), float32; the
    columns of mlxtend's copy without values (the car names) are left out."""
    try:
        from mlxtend.data import autompg_data
    except ImportError as error:
        raise ImportError('autompg needs mlxtend: pip install "bayesnet[benchmarks]"') from error
    x, y = autompg_data()
    x = torch.tensor(x, dtype=torch.float32)
    x = x[:, ~torch.isnan(x).any(0)]
    return TensorDataset(x, torch.tensor(y, dtype=torch.float32)[:, None])


#: the regression data sets by name
REGRESSION = {"diabetes": diabetes, "autompg": autompg}


@dataclass(frozen=True)
class Split:
    """One standardised split: ``train`` and ``test`` sets and the targets' scale (a
    standardised NLL plus ``log(scale)`` is the NLL in the targets' units; an RMSE times
    ``scale`` the RMSE in them)."""

    train: TensorDataset
    test: TensorDataset
    scale: float


def standardized_splits(
    data: TensorDataset, splits: int = 20, test_fraction: float = 0.1, seed: int = 0
) -> Iterator[Split]:
    """``splits`` random train/test splits of ``data`` (split ``k`` from ``seed + k``),
    inputs and targets standardised with the training part's mean and deviation."""
    x, y = data.tensors
    n_test = max(1, round(test_fraction * len(x)))
    for k in range(splits):
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + k))
        test, train = order[:n_test], order[n_test:]
        mx, sx = x[train].mean(0), x[train].std(0).clamp_min(1e-8)
        my, sy = y[train].mean(0), y[train].std(0).clamp_min(1e-8)
        yield Split(
            TensorDataset((x[train] - mx) / sx, (y[train] - my) / sy),
            TensorDataset((x[test] - mx) / sx, (y[test] - my) / sy),
            float(sy.item()),
        )
