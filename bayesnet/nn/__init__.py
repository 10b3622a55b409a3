"""Bayesian layers and network conversion."""

from .convert import bayesian_layers, bayesianize, deterministic, point_layers, replace_modules
from .dropout import MaskedDropout, insert_dropout, masked_dropout
from .layers import (
    BAYES_OF,
    BayesConv1d,
    BayesConv2d,
    BayesConv3d,
    BayesConvTranspose2d,
    BayesianLayer,
    BayesLinear,
)
from .linearized import Linearized
from .normalization import NORMALIZATION, normalization_layers, statistics_per_draw

__all__ = [
    "BAYES_OF",
    "BayesConv1d",
    "BayesConv2d",
    "BayesConv3d",
    "BayesConvTranspose2d",
    "BayesLinear",
    "BayesianLayer",
    "Linearized",
    "MaskedDropout",
    "NORMALIZATION",
    "bayesian_layers",
    "bayesianize",
    "deterministic",
    "insert_dropout",
    "masked_dropout",
    "normalization_layers",
    "point_layers",
    "replace_modules",
    "statistics_per_draw",
]
