"""The recommended posterior of a plain network: ``fit(net, loader) -> Posterior``.

What it runs was decided on the realistic battery (``benchmarks/battery.py``: real 28x28
MNIST digits and the 8x8 digits, a BatchNorm CNN, a plain CNN, LeNet-5 and a small
ResNet, three seeds, four kinds of out-of-distribution inputs, every column): MultiSWAG,
five SWAG posteriors from independent initial weights, mixed. It was the one candidate
with a lower NLL than a deep ensemble of five at the same training cost on both data sets,
with the ensemble's out-of-distribution detection; ``benchmarks/RESULTS.md`` has the
numbers, the candidates it was chosen from and the targets it misses.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import nn

from ..posterior import Posterior
from .swag import fit_swag

__all__ = ["fit", "STARTS", "RULE"]

#: how many SWAG fits the recommended posterior mixes (a deep ensemble's five members)
STARTS = 5
#: what ``fit`` ran, recorded in ``post.info["rule"]``
RULE = "multiswag: {starts} SWAG fit(s) of the network (fit_swag's defaults), mixed"


def fit(net: nn.Module, loader: Iterable, *, starts: int = STARTS, **options: Any) -> Posterior:
    """The recommended posterior of ``net`` (a plain torch network, freshly built or
    trained) on ``loader``: ``fit_swag(net, loader, starts=5)``, MultiSWAG.

    It costs what a deep ensemble of five costs to train (five trainings of ``epochs``
    epochs); ``starts=1`` is the option that costs one network's training (SWAG). Every
    other keyword is ``fit_swag``'s (``epochs``, ``lr``, ``device``, ``seed`` ...).
    ``post.info["rule"]`` says what ran; the caller's network, RNG and modules are left
    as they were."""
    post = fit_swag(net, loader, starts=starts, **options)
    post.info["rule"] = RULE.format(starts=starts)
    return post
