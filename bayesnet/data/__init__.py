"""Data sets: the embedded digits (no network needed), digit scenes, two moons, splits."""

from .digits import digits, to_loader
from .scenes import Scenes, digit_scenes
from .splits import held_out_classes, validation_split
from .toy import two_moons

__all__ = [
    "Scenes",
    "digit_scenes",
    "digits",
    "held_out_classes",
    "to_loader",
    "two_moons",
    "validation_split",
]
