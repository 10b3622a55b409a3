"""Evaluation: posterior predictive against the point-estimate softmax."""

from . import attacks, metrics, pixel, plots, shift, toy
from .compare import SECTIONS, Report, compare

__all__ = ["SECTIONS", "Report", "attacks", "compare", "metrics", "pixel", "plots", "shift", "toy"]
