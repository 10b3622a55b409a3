"""bayesnet: Bayesian neural networks on Pyro and PyTorch.

The softmax of a trained network is not an uncertainty measure; the posterior
predictive of a Bayesian network is one. See README.md.
"""

import importlib

from . import data, nn, priors, zoo
from .infer import (
    CollapseWarning,
    ConvergenceWarning,
    baselines,
    distance_aware,
    fit,
    fit_hmc,
    fit_ivon,
    fit_laplace,
    fit_sgmcmc,
    fit_svi,
    fit_swag,
    ivon,
    swag,
)
from .models import Classifier, Regressor
from .nn import bayesianize
from .posterior import Posterior
from .run import Run

__version__ = "0.1.0"


#: subpackages that load on first use: diagnostics needs ArviZ (and xarray, pandas), which
#: costs a second and warns about its refactor on import; evaluate needs scikit-learn and
#: matplotlib. Users who never touch them should neither wait for them nor see the warning.
LAZY = ("diagnostics", "evaluate")


def __getattr__(name: str):
    if name in LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Classifier",
    "CollapseWarning",
    "ConvergenceWarning",
    "Posterior",
    "Regressor",
    "Run",
    "baselines",
    "bayesianize",
    "data",
    "diagnostics",
    "distance_aware",
    "evaluate",
    "fit",
    "fit_hmc",
    "fit_ivon",
    "fit_laplace",
    "fit_sgmcmc",
    "fit_svi",
    "fit_swag",
    "nn",
    "priors",
    "ivon",
    "swag",
    "zoo",
]
