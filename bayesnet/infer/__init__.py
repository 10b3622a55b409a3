"""Inference engines; each returns a ``bayesnet.Posterior``."""

from . import baselines
from .elbo import ELBOTerms, elbo_terms
from .guides import GUIDES, MeanFieldNormal, make_guide
from .mcmc import FunctionalPotential, fit_hmc
from .reparam import Flipout, LocalReparameterization, make_reparam
from .svi import TrainingDiverged, fit_svi, linear_warmup

__all__ = [
    "ELBOTerms",
    "Flipout",
    "FunctionalPotential",
    "GUIDES",
    "LocalReparameterization",
    "MeanFieldNormal",
    "TrainingDiverged",
    "baselines",
    "elbo_terms",
    "fit_hmc",
    "fit_svi",
    "linear_warmup",
    "make_guide",
    "make_reparam",
]
