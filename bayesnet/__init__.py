"""bayesnet: Bayesian neural networks on Pyro and PyTorch.

The softmax of a trained network is not an uncertainty measure; the posterior
predictive of a Bayesian network is one. See README.md.
"""

import importlib

from . import (
    data,
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


def __getattr__(name: str):
    # ArviZ (and xarray, pandas) load on first use of bn.diagnostics: importing them costs
    # a second and ArviZ warns about its refactor on import, which users of bayesnet who
    # never touch diagnostics should not see.
    if name == "diagnostics":
        return importlib.import_module(f"{__name__}.diagnostics")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
