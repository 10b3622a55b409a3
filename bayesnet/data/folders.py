"""Your own images: a folder per class (PNG or JPEG, read with Pillow), or arrays in one
``.npz`` file."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np
from torch.utils.data import TensorDataset

from .files import DataFileError, to_dataset

__all__ = ["image_folder", "arrays", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def _classes(root: Path) -> list[Path]:
    classes = sorted(p for p in root.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise DataFileError(
            f"{root}: expected one sub-directory per class (at least two), found "
            f"{[p.name for p in classes]}"
        )
    return classes


def _load_folder(root: Path, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image  # Pillow comes with matplotlib; loaded on use

    images, labels = [], []
    for label, name in enumerate(names):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataFileError(f"{root / name}: no {'/'.join(IMAGE_SUFFIXES)} images")
        for path in files:
            try:
                with Image.open(path) as image:
                    images.append((path, np.asarray(image.convert("RGB"))))
            except OSError as err:
                raise DataFileError(f"{path}: not a readable image ({err})") from err
            labels.append(label)
    (first, shape), *rest = [(p, a.shape) for p, a in images]
    odd = next(((p, s) for p, s in rest if s != shape), None)
    if odd is not None:
        raise DataFileError(
            f"{root}: images differ in size ({first.name} {shape[:2]}, {odd[0].name} "
            f"{odd[1][:2]}): resize them to one size"
        )
    x = np.stack([a for _, a in images]).transpose(0, 3, 1, 2)
    if (x[:, 0] == x[:, 1]).all() and (x[:, 1] == x[:, 2]).all():
        x = x[:, :1]  # grey images keep one channel
    return x, np.asarray(labels)


def image_folder(
    root: str | Path, test_fraction: float = 0.2, seed: int = 0
) -> tuple[TensorDataset, TensorDataset]:
    """``(train, test)`` from ``root/<class>/*.png|jpg``, classes numbered in sorted order.

    With ``root/train/<class>`` and ``root/test/<class>`` those are the split; otherwise
    one folder is split, stratified and reproducibly (``test_fraction``, ``seed``). Images
    must share one size; grey ones keep one channel, others are RGB.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataFileError(f"{root} is not a directory of class folders")
    if (root / "train").is_dir() and (root / "test").is_dir():
        names = [p.name for p in _classes(root / "train")]
        test_names = [p.name for p in _classes(root / "test")]
        if test_names != names:
            raise DataFileError(f"{root}: train classes {names} but test classes {test_names}")
        parts = [_load_folder(root / s, names) for s in ("train", "test")]
        return tuple(to_dataset(x, y, str(root)) for x, y in parts)
    from sklearn.model_selection import train_test_split  # on use, as in digits()

    names = [p.name for p in _classes(root)]
    x, y = _load_folder(root, names)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return to_dataset(x_train, y_train, str(root)), to_dataset(x_test, y_test, str(root))


def arrays(path: str | Path) -> tuple[TensorDataset, TensorDataset]:
    """``(train, test)`` from an ``.npz`` holding ``x_train``, ``y_train``, ``x_test``,
    ``y_test``. Images are ``[N, H, W]`` (one channel), ``[N, C, H, W]``, or
    ``[N, H, W, C]`` with C of 1 or 3; ``uint8`` is scaled to [0, 1], floats must already
    lie there. Labels are integer classes."""
    path = Path(path)
    # np.load reads an archive's members lazily: every read of a damaged one can fail, in
    # the zip, zlib or npy layer
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataFileError(f"{path}: a single array, not an .npz archive")
        with archive:
            missing = [k for k in ARRAYS if k not in archive.files]
            if missing:
                raise DataFileError(f"{path}: missing arrays {missing}; expected {list(ARRAYS)}")
            data = {k: archive[k] for k in ARRAYS}
    except DataFileError:
        raise
    except (
        OSError,
        ValueError,
        EOFError,
        KeyError,
        NotImplementedError,  # zipfile: a compression or flag it does not read
        RuntimeError,  # zipfile: an encrypted member
        zipfile.BadZipFile,
        zlib.error,
    ) as err:
        raise DataFileError(f"{path}: not a readable .npz file ({err})") from err
    return tuple(
        _dataset(data[f"x_{s}"], data[f"y_{s}"], f"{path} ({s})") for s in ("train", "test")
    )


def _dataset(x: np.ndarray, y: np.ndarray, where: str) -> TensorDataset:
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    elif x.ndim != 4:
        raise DataFileError(f"{where}: images of shape {x.shape}; expected 3 or 4 dimensions")
    if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1:
        raise DataFileError(f"{where}: labels must be integers [N], got {y.dtype} {y.shape}")
    if x.dtype == np.uint8:
        return to_dataset(x, y, where)
    if not np.issubdtype(x.dtype, np.floating) or x.min() < 0 or x.max() > 1:
        raise DataFileError(f"{where}: images must be uint8, or floats in [0, 1]")
    return to_dataset(x.astype(np.float32), y, where, scale=1.0)
