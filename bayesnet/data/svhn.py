"""SVHN (cropped digits) from ``train_32x32.mat`` and ``test_32x32.mat`` in a local
directory: MATLAB files holding ``X`` (32 x 32 x 3 x N unsigned bytes) and ``y`` (N x 1,
the digit 0 stored as 10)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from torch.utils.data import TensorDataset

from .files import DataFileError, find, to_dataset

__all__ = ["svhn"]

FILES = ("train_32x32.mat", "test_32x32.mat")


#: run by a child interpreter: scipy's MATLAB reader on each file, X and y to an .npz
_CHILD = """
import sys
import numpy as np
from scipy.io import loadmat

for source, target in zip(sys.argv[1::2], sys.argv[2::2]):
    try:
        mat = loadmat(source)
    except Exception as err:
        sys.exit(f"{source}: not a readable MATLAB file ({type(err).__name__}: {err})")
    arrays = {k: np.asarray(mat[k]) for k in ("X", "y") if k in mat}
    if len(arrays) < 2 or any(a.dtype.hasobject for a in arrays.values()):
        found = sorted(k for k in mat if not k.startswith("__"))
        sys.exit(f"{source}: expected variables 'X' and 'y' of numbers, found {found}")
    np.savez(target, **arrays)
"""


def _load_isolated(paths: list[Path]) -> list[dict[str, np.ndarray]]:
    """``X`` and ``y`` of each MATLAB file, read by scipy in a child process: on some
    damaged files scipy's compiled reader does not raise but crashes the interpreter (a
    segmentation fault, found by ``tests/test_fuzz.py``), and a data reader must not take
    its caller down. Any failure of the child is the files not being readable."""
    with tempfile.TemporaryDirectory() as tmp:
        targets = [Path(tmp) / f"{k}.npz" for k in range(len(paths))]
        pairs = [str(p) for pair in zip(paths, targets, strict=True) for p in pair]
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, *pairs], capture_output=True, text=True
        )
        if child.returncode < 0:
            where = ", ".join(map(str, paths))
            raise DataFileError(
                f"{where}: scipy's reader crashed on it (signal {-child.returncode})"
            )
        if child.returncode != 0:
            said = child.stderr.strip().splitlines() or [f"exit code {child.returncode}"]
            raise DataFileError(said[-1])
        loaded = []
        for target in targets:
            with np.load(target, allow_pickle=False) as arrays:
                loaded.append({k: arrays[k] for k in arrays.files})
        return loaded


def _dataset(path: Path, mat: dict[str, np.ndarray]) -> TensorDataset:
    """One file's ``X`` and ``y``, checked, as images ``[N, 3, 32, 32]`` and labels 0-9."""
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
    files = [paths[name] for name in FILES]
    train, test = (_dataset(p, m) for p, m in zip(files, _load_isolated(files), strict=True))
    return train, test
