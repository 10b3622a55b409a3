"""Evaluation: posterior predictive against the point-estimate softmax."""

from . import metrics, plots, shift
from .compare import Report, compare

__all__ = ["Report", "compare", "metrics", "plots", "shift"]
