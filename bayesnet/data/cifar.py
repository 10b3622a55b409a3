"""CIFAR-10 and CIFAR-100 from their *binary* version in a local directory.

Each record is the label byte(s) then 3,072 pixel bytes: the red, green and blue 32x32
planes, row by row. CIFAR-10 has one label byte (``data_batch_1.bin`` ...
``data_batch_5.bin``, ``test_batch.bin``); CIFAR-100 two, coarse then fine (``train.bin``,
``test.bin``). The Python version of the archives is pickled: it is refused, never
unpickled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import TensorDataset

from .files import DataFileError, find, read_bytes, to_dataset

__all__ = ["cifar10", "cifar100"]

PIXELS = 3 * 32 * 32
CIFAR10_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR10_TEST = ("test_batch.bin",)
CIFAR100 = ("train.bin", "test.bin")
PICKLED = {
    "cifar10": ("data_batch_1", "cifar-10-batches-py", "cifar-10-binary.tar.gz"),
    "cifar100": ("train", "cifar-100-python", "cifar-100-binary.tar.gz"),
}


def _refuse_pickled(root: Path, which: str) -> None:
    name, folder, archive = PICKLED[which]
    for candidate in (root / name, root / folder / name):
        if candidate.is_file():
            raise DataFileError(
                f"{candidate} is from the Python (pickled) version of {which.upper()}, "
                f"which bayesnet does not unpickle: fetch the binary version ({archive}) "
                f"and point the reader at the directory it unpacks to"
            )


def _records(paths: list[Path], label_bytes: int, label: int) -> tuple[np.ndarray, np.ndarray]:
    record = label_bytes + PIXELS
    images, labels = [], []
    for path in paths:
        raw = np.frombuffer(read_bytes(path), dtype=np.uint8)
        if raw.size == 0 or raw.size % record:
            raise DataFileError(
                f"{path}: {raw.size} bytes is not a whole number of {record}-byte records "
                "(truncated, or not the binary CIFAR format)"
            )
        rows = raw.reshape(-1, record)
        labels.append(rows[:, label])
        images.append(rows[:, label_bytes:].reshape(-1, 3, 32, 32))
    return np.concatenate(images), np.concatenate(labels)


def _check_labels(labels: np.ndarray, num_classes: int, where: Path) -> None:
    if labels.max() >= num_classes:
        raise DataFileError(
            f"{where}: label {int(labels.max())} out of range for {num_classes} classes "
            "(not the binary CIFAR format?)"
        )


def cifar10(root: str | Path) -> tuple[TensorDataset, TensorDataset]:
    """``(train, test)`` from CIFAR-10's binary batches in ``root`` (or
    ``root/cifar-10-batches-bin``): images ``[N, 3, 32, 32]`` in [0, 1], labels 0-9."""
    root = Path(root)
    _refuse_pickled(root, "cifar10")
    paths = find(root, CIFAR10_TRAIN + CIFAR10_TEST, subdirs=("cifar-10-batches-bin",))
    split = []
    for names in (CIFAR10_TRAIN, CIFAR10_TEST):
        images, labels = _records([paths[n] for n in names], 1, 0)
        _check_labels(labels, 10, paths[names[0]])
        split.append(to_dataset(images, labels, str(paths[names[0]].parent)))
    return split[0], split[1]


def cifar100(root: str | Path, labels: str = "fine") -> tuple[TensorDataset, TensorDataset]:
    """``(train, test)`` from CIFAR-100's ``train.bin`` and ``test.bin`` in ``root`` (or
    ``root/cifar-100-binary``), with the 100 ``"fine"`` or the 20 ``"coarse"`` labels."""
    if labels not in ("fine", "coarse"):
        raise ValueError(f"labels must be 'fine' or 'coarse', got {labels!r}")
    root = Path(root)
    _refuse_pickled(root, "cifar100")
    paths = find(root, CIFAR100, subdirs=("cifar-100-binary",))
    column, classes = (1, 100) if labels == "fine" else (0, 20)
    split = []
    for name in CIFAR100:
        images, y = _records([paths[name]], 2, column)
        _check_labels(y, classes, paths[name])
        split.append(to_dataset(images, y, str(paths[name])))
    return split[0], split[1]
