"""Bayesian layers and network conversion."""

from .convert import bayesian_layers, bayesianize, deterministic, replace_modules
from .layers import (
    BAYES_OF,
    BayesConv1d,
    BayesConv2d,
    BayesConv3d,
    BayesConvTranspose2d,
    BayesianLayer,
    BayesLinear,
)

__all__ = [
    "BAYES_OF",
    "BayesConv1d",
    "BayesConv2d",
    "BayesConv3d",
    "BayesConvTranspose2d",
    "BayesLinear",
    "BayesianLayer",
    "bayesian_layers",
    "bayesianize",
    "deterministic",
    "replace_modules",
]
