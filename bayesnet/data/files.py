"""What every reader of local data files shares: finding the files, naming what is wrong,
and the tensors every data set in bayesnet is made of (float images ``[N, C, H, W]`` in
[0, 1], int64 labels)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

__all__ = ["DataFileError", "find", "read_bytes", "to_dataset"]


class DataFileError(ValueError):
    """A data directory or file is missing or not in the format its reader expects."""


def find(root: str | Path, names: Sequence[str], subdirs: Sequence[str] = ()) -> dict[str, Path]:
    """Each of ``names`` (plain or ``.gz``) in ``root`` or one of its ``subdirs`` (the
    layouts the archives unpack to): all from one directory, or an error naming the
    directory, the expected names and those missing."""
    root = Path(root)
    if not root.is_dir():
        raise DataFileError(f"{root} is not a directory; expected it to hold {list(names)}")
    candidates = [root, *(root / s for s in subdirs)]
    for folder in candidates:
        found = {}
        for name in names:
            for option in (folder / name, folder / f"{name}.gz"):
                if option.is_file():
                    found[name] = option
                    break
        if len(found) == len(names):
            return found
    looked = ", ".join(str(c) for c in candidates)
    missing = [
        n
        for n in names
        if not any((c / n).exists() or (c / f"{n}.gz").exists() for c in candidates)
    ]
    raise DataFileError(
        f"missing {missing} (plain or .gz) in {looked}; this reader expects {list(names)} "
        "in one of those directories (nothing is downloaded)"
    )


def read_bytes(path: Path) -> bytes:
    """A file's bytes, gunzipped if its name ends in ``.gz``; a damaged or truncated gzip
    stream is a ``DataFileError`` naming the file."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as err:
        raise DataFileError(f"{path}: cannot be read ({type(err).__name__}: {err})") from err


def to_dataset(
    images: np.ndarray, labels: np.ndarray, where: str, scale: float = 255.0
) -> TensorDataset:
    """Images ``[N, C, H, W]`` (``uint8``, divided by ``scale``) and integer labels as a
    ``TensorDataset`` of float images in [0, 1] and int64 labels; counts must agree."""
    if len(images) != len(labels):
        raise DataFileError(f"{where}: {len(images)} images but {len(labels)} labels")
    x = torch.from_numpy(np.array(images, dtype=np.float32)).div_(scale)
    return TensorDataset(x, torch.from_numpy(np.asarray(labels, dtype=np.int64)))
