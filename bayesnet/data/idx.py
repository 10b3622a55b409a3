"""MNIST, Fashion-MNIST and KMNIST from their IDX files in a local directory.

An IDX file is a big-endian header — two zero bytes, a type code (``0x08``: unsigned
bytes), the number of dimensions — then one 4-byte size per dimension, then the data.
Images are ``idx3`` (count, rows, columns), labels ``idx1`` (count). Files may be gzipped.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from torch.utils.data import TensorDataset

from .files import DataFileError, find, read_bytes, to_dataset

__all__ = ["mnist", "fashion_mnist", "kmnist", "read_idx"]

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
UBYTE = 0x08


def read_idx(path: str | Path) -> np.ndarray:
    """The array an IDX file holds (unsigned bytes only), checked against its header."""
    path = Path(path)
    raw = read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != UBYTE:
        raise DataFileError(
            f"{path}: bad magic number {raw[:4].hex() or 'empty'} (an IDX file of unsigned "
            f"bytes starts with 0000 08 followed by its number of dimensions)"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(f"{path}: truncated header ({len(raw)} bytes)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    size = math.prod(shape)  # exact: numpy's product wraps around on absurd headers
    if len(raw) - header != size:
        raise DataFileError(
            f"{path}: holds {len(raw) - header} data bytes, its header {shape} says {size} "
            "(truncated or corrupt)"
        )
    if math.prod(d for d in shape if d) > np.iinfo(np.intp).max:  # an empty array, but
        raise DataFileError(f"{path}: its header's shape {shape} is too large for an array")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _read(root: str | Path, subdir: str) -> tuple[TensorDataset, TensorDataset]:
    names = [n for pair in FILES.values() for n in pair]
    paths = find(root, names, subdirs=(f"{subdir}/raw", subdir))
    split = []
    for images_name, labels_name in FILES.values():
        images, labels = read_idx(paths[images_name]), read_idx(paths[labels_name])
        if images.ndim != 3 or labels.ndim != 1:
            raise DataFileError(
                f"{paths[images_name]} / {paths[labels_name]}: expected images [N, H, W] and "
                f"labels [N], got {images.shape} and {labels.shape}"
            )
        split.append(to_dataset(images[:, None], labels, str(paths[images_name].parent)))
    return split[0], split[1]


def mnist(root: str | Path) -> tuple[TensorDataset, TensorDataset]:
    """``(train, test)`` from MNIST's four IDX files in ``root`` (or ``root/MNIST/raw``,
    torchvision's layout): images ``[N, 1, 28, 28]`` in [0, 1], labels 0-9."""
    return _read(root, "MNIST")


def fashion_mnist(root: str | Path) -> tuple[TensorDataset, TensorDataset]:
    """Fashion-MNIST, same files and layout as ``mnist`` (or ``root/FashionMNIST/raw``)."""
    return _read(root, "FashionMNIST")


def kmnist(root: str | Path) -> tuple[TensorDataset, TensorDataset]:
    """Kuzushiji-MNIST, same files and layout as ``mnist`` (or ``root/KMNIST/raw``)."""
    return _read(root, "KMNIST")
