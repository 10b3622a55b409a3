"""Inference engines; each returns a ``bayesnet.Posterior``.

Packages by kind: the engines over a Pyro model (``svi``, ``mcmc``: HMC and SG-MCMC), the
engines over a plain network (``networks``: SWAG, IVON, Laplace, the baselines), the
wrappers over any engine (``wrappers``: the recommendation, the distance-aware predictive) and the pieces they share
(``shared``: the loop, several starts, the temperature, the collapse check ...). Imports
flow shared -> engines -> wrappers, never back. The public names are re-exported here
(``bn.infer.MeanField``, ``bn.fit_svi`` ...), and the modules users reach by name keep
their short paths (``bn.infer.baselines``, ``bn.infer.swag``, ``bn.infer.ivon``,
``bn.infer.starts``, ``bn.infer.tempering``).
"""

from .mcmc.hmc import SamplingDiverged, fit_hmc
from .mcmc.sgmcmc import cyclical_lr, fit_sgmcmc
from .mcmc.start import FunctionalPotential
from .networks import baselines, ivon, swag
from .networks.ivon import fit_ivon
from .networks.laplace import LaplaceSampler, fit_laplace, laplace_predictive
from .networks.swag import SwagMoments, fit_swag
from .shared import starts, tempering
from .shared.collapse import CollapseWarning
from .shared.convergence import ConvergenceWarning
from .shared.gaussian import FlatGaussianSampler
from .shared.starts import multi_start
from .shared.tempering import TEMPERATURES, by_validation, choose_temperature
from .svi.elbo import ELBOTerms, elbo_terms
from .svi.families import (
    GUIDES,
    Delta,
    FullRank,
    GuideFamily,
    LowRank,
    MeanField,
    make_guide,
)
from .svi.fit import (
    DEFAULT_TEMPERATURE,
    NORMALIZED_TEMPERATURE,
    TrainingDiverged,
    fit_svi,
    linear_warmup,
    recommended_temperature,
)
from .svi.functional import FunctionalELBO
from .svi.guides import MeanFieldNormal, PointMass
from .svi.reparam import Flipout, LocalReparameterization, make_reparam
from .svi.sampler import GuideSampler
from .wrappers.distance import distance_aware
from .wrappers.recommended import fit

__all__ = [
    "CollapseWarning",
    "ConvergenceWarning",
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
    "starts",
    "tempering",
    "cyclical_lr",
    "distance_aware",
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
