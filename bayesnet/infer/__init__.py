"""Inference engines; each returns a ``bayesnet.Posterior``."""

from . import baselines
from .collapse import CollapseWarning
from .elbo import ELBOTerms, elbo_terms
from .functional import FunctionalELBO
from .guides import GUIDES, GuideSampler, MeanFieldNormal, PointMass, make_guide
from .laplace import LaplaceSampler, fit_laplace
from .mcmc import FunctionalPotential, SamplingDiverged, fit_hmc
from .reparam import Flipout, LocalReparameterization, make_reparam
from .sgmcmc import cyclical_lr, fit_sgmcmc
from .svi import (
    DEFAULT_TEMPERATURE,
    NORMALIZED_TEMPERATURE,
    TEMPERATURES,
    TrainingDiverged,
    fit_svi,
    linear_warmup,
    recommended_temperature,
)

__all__ = [
    "CollapseWarning",
    "DEFAULT_TEMPERATURE",
    "ELBOTerms",
    "Flipout",
    "FunctionalELBO",
    "FunctionalPotential",
    "GUIDES",
    "GuideSampler",
    "LaplaceSampler",
    "LocalReparameterization",
    "MeanFieldNormal",
    "NORMALIZED_TEMPERATURE",
    "PointMass",
    "SamplingDiverged",
    "TEMPERATURES",
    "TrainingDiverged",
    "baselines",
    "cyclical_lr",
    "elbo_terms",
    "fit_hmc",
    "fit_laplace",
    "fit_sgmcmc",
    "fit_svi",
    "linear_warmup",
    "make_guide",
    "make_reparam",
    "recommended_temperature",
]
