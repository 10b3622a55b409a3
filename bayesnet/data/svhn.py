"""SVHN (cropped digits) from ``train_32x32.mat`` and ``test_32x32.mat`` in a local
directory: MATLAB files holding ``X`` (32 x 32 x 3 x N unsigned bytes) and ``y`` (N x 1,
the digit 0 stored as 10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import TensorDataset

from .files import DataFileError, find, to_dataset

__all__ = ["svhn"]

FILES = ("train_32x32.mat", "test_32x32.mat")


def _read(path: Path) -> TensorDataset:
    from scipy.io import loadmat  # scipy comes with scikit-learn; loaded on use

    # scipy's MATLAB parser, given damaged bytes, fails in any of its layers (header,
    # zlib, struct unpacking, string decoding, and its Cython reader's own bugs such as an
    # UnboundLocalError): whatever it raises, this file is not readable
    try:
        mat = loadmat(path)
    except Exception as err:
        raise DataFileError(f"{path}: not a readable MATLAB file ({err})") from err
    if "X" not in mat or "y" not in mat:
        raise DataFileError(f"{path}: expected variables 'X' and 'y', found {sorted(mat)}")
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"]).reshape(-1)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.dtype != np.uint8:
        raise DataFileError(
            f"{path}: X is {x.dtype} of shape {x.shape}, expected uint8 (32, 32, 3, N)"
        )
    if not np.issubdtype(y.dtype, np.number) or len(y) != x.shape[3]:
        raise DataFileError(f"{path}: y must hold one number per image, got {y.dtype} {y.shape}")
    y = np.where(y == 10, 0, y)
    if len(y) == 0 or y.min() < 0 or y.max() > 9 or (y != np.round(y)).any():
        raise DataFileError(f"{path}: labels outside 0-9 (and 10 for the digit 0)")
    return to_dataset(x.transpose(3, 2, 0, 1), y, str(path))


def svhn(root: str | Path) -> tuple[TensorDataset, TensorDataset]:
    """``(train, test)``: images ``[N, 3, 32, 32]`` in [0, 1], labels 0-9 (10 mapped to 0)."""
    paths = find(root, FILES)
    if any(p.suffix == ".gz" for p in paths.values()):
        raise DataFileError(f"{root}: unzip the .mat files first (found {list(paths.values())})")
    return _read(paths[FILES[0]]), _read(paths[FILES[1]])
