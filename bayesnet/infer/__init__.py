"""Inference engines; each returns a ``bayesnet.Posterior``."""

from . import baselines, ivon, swag
from .collapse import CollapseWarning
from .elbo import ELBOTerms, elbo_terms
from .functional import FunctionalELBO
from .gaussian import FlatGaussianSampler
from .guide_families import (
    GUIDES,
    Delta,
    FullRank,
    GuideFamily,
    LowRank,
    MeanField,
    make_guide,
)
from .guide_sampler import GuideSampler
from .guides import MeanFieldNormal, PointMass
from .hmc_start import FunctionalPotential
from .ivon import fit_ivon
from .laplace import LaplaceSampler, fit_laplace, laplace_predictive
from .mcmc import SamplingDiverged, fit_hmc
from .recommended import fit
from .reparam import Flipout, LocalReparameterization, make_reparam
from .sgmcmc import cyclical_lr, fit_sgmcmc
from .starts import multi_start
from .svi import (
    DEFAULT_TEMPERATURE,
    NORMALIZED_TEMPERATURE,
    TrainingDiverged,
    fit_svi,
    linear_warmup,
    recommended_temperature,
)
from .swag import SwagMoments, fit_swag
from .tempering import TEMPERATURES, by_validation, choose_temperature

__all__ = [
    "CollapseWarning",
    "DEFAULT_TEMPERATURE",
    "ELBOTerms",
    "FlatGaussianSampler",
    "Flipout",
    "FunctionalELBO",
    "FunctionalPotential",
    "GUIDES",
    "Delta",
    "FullRank",
    "GuideFamily",
    "LowRank",
    "MeanField",
    "GuideSampler",
    "LaplaceSampler",
    "LocalReparameterization",
    "MeanFieldNormal",
    "NORMALIZED_TEMPERATURE",
    "PointMass",
    "SamplingDiverged",
    "SwagMoments",
    "TEMPERATURES",
    "TrainingDiverged",
    "baselines",
    "ivon",
    "swag",
    "cyclical_lr",
    "elbo_terms",
    "fit",
    "fit_hmc",
    "fit_ivon",
    "fit_laplace",
    "laplace_predictive",
    "fit_sgmcmc",
    "fit_svi",
    "fit_swag",
    "linear_warmup",
    "make_guide",
    "make_reparam",
    "multi_start",
    "by_validation",
    "choose_temperature",
    "recommended_temperature",
]
