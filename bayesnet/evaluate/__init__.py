"""Evaluation: posterior predictive against the point-estimate softmax.

Everything loads on first use: metrics need scikit-learn and the figures matplotlib,
which ``import bayesnet`` should not pay for.
"""

import importlib

SUBMODULES = (
    "attacks",
    "comparison",
    "conformal",
    "corruptions",
    "findings",
    "metrics",
    "pixel",
    "plots",
    "regression",
    "report",
    "shift",
    "summary",
    "toy",
)
#: names re-exported from ``comparison``
COMPARISON = ("SECTIONS", "Report", "compare")


def __getattr__(name: str):
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in COMPARISON:
        return getattr(importlib.import_module(f"{__name__}.comparison"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [*COMPARISON, *SUBMODULES]
