"""bayesnet: Bayesian neural networks on Pyro and PyTorch.

The softmax of a trained network is not an uncertainty measure; the posterior
predictive of a Bayesian network is one. See README.md.
"""

from . import (
    _pyro,  # noqa: F401  (settings first, before any PyroModule exists)
    data,
    diagnostics,
    evaluate,
    nn,
    priors,
    zoo,
)
from .infer import CollapseWarning, baselines, fit_hmc, fit_svi
from .models import Classifier, Regressor
from .nn import bayesianize
from .posterior import Posterior

__version__ = "0.1.0"

__all__ = [
    "Classifier",
    "CollapseWarning",
    "Posterior",
    "Regressor",
    "baselines",
    "bayesianize",
    "data",
    "diagnostics",
    "evaluate",
    "fit_hmc",
    "fit_svi",
    "nn",
    "priors",
    "zoo",
]
