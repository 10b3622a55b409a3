"""The recommended posterior of a plain network: ``fit(net, data) -> Posterior``.

What it runs was decided on the realistic battery (``benchmarks/battery.py``: real 28x28
MNIST digits and the 8x8 digits, four architectures, two seeds, four kinds of
out-of-distribution inputs, every column; the candidates within 1.5 trainings that beat
the softmax's NLL on every choosing cell, ranked over every column; confirmed on cells
that played no part in the choice): two SWAG fits from independent initial weights, each
three quarters of a training, collected at four times its learning rate with the
network's dropout layers off and sampled at half its fitted covariance, mixed (MultiSWAG
within one and a half trainings), and made distance-aware (``bn.distance_aware``: every
draw's logits flatten beyond the training data's distances in its feature space;
``benchmarks/distance_aware.py`` decided it the same way). ``benchmarks/RESULTS.md`` has
the numbers, the candidates it was chosen from and the targets it misses.
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from ...models import Classifier
from ...nn.distance import DistanceUnsupported
from ...posterior import Posterior
from ..networks.swag import fit_swag
from .distance import distance_aware

__all__ = ["fit", "STARTS", "BUDGET", "RULE", "DROPOUT_RULE", "epochs_per_start"]

#: how many SWAG fits the recommended posterior mixes
STARTS = 2
#: what the recommended fit may spend, in trainings of ``epochs`` epochs
BUDGET = 1.5
#: what ``fit`` ran, recorded in ``post.info["rule"]``
RULE = (
    "multiswag: {starts} SWAG fit(s) of {each} epoch(s) each from independent initial "
    "weights, each collected at learning rate {swa_lr:g} with any dropout layers {dropout} "
    "and sampled at {scale:g} x its fitted covariance, mixed (a budget of {budget:g} x "
    "{epochs} epochs){distance}"
)
#: what the rule says of each of ``fit_swag``'s dropout choices
DROPOUT_RULE = {"on": "on", "before_collecting": "off", "off": "off throughout"}
#: what the rule adds when the predictive is distance-aware
DISTANCE_RULE = "; distance-aware (alpha {alpha:g}, level {level:g})"


def epochs_per_start(epochs: int, starts: int, budget: float) -> int:
    """The epochs each of ``starts`` fits trains so that all of them together train at
    most ``budget`` times ``epochs`` epochs (rounded down to whole epochs, at least one
    each: ``epochs=10`` gives two starts 7 each, not the 16 epochs of rounding 7.5 up)."""
    if epochs < 1 or starts < 1 or not budget > 0:
        raise ValueError(
            f"need epochs >= 1, starts >= 1 and budget > 0; got {epochs}, {starts}, {budget}"
        )
    return max(1, math.floor(budget * epochs / starts + 1e-9))  # 0.29 * 100 is 28.999...


def fit(
    net: nn.Module,
    data: Any,
    *,
    epochs: int = 30,
    starts: int = STARTS,
    budget: float = BUDGET,
    distance: bool = True,
    **options: Any,
) -> Posterior:
    """The recommended posterior of ``net`` (a plain torch network, freshly built or
    trained) on ``data``.

    ``epochs`` is what one training of the network would take (the point estimate's);
    the fit spends ``budget`` such trainings (1.5 by default) on ``starts`` SWAG fits
    from independent initial weights (2: three quarters of ``epochs`` each, rounded down
    to whole epochs so that the fit never trains more than its budget; each collects at
    four times the learning rate, as ``fit_swag`` does unless told) and mixes them.
    ``starts=5, budget=5`` is the classic MultiSWAG, five full trainings: it costs what
    a deep ensemble costs (RESULTS says what it buys). Every other keyword is
    ``fit_swag``'s (``lr``, ``cycles``, ``device``, ``seed`` ...). A classifier's mixture
    is made distance-aware (``bn.distance_aware``: every draw's logits flatten beyond the
    training data's distances in its feature space; on the battery it met 73 of 80
    targets against 65 without, far-OOD detection above all); ``distance=False`` leaves
    the SWAG mixture alone. A regressor has no classes: ``distance`` does nothing there;
    nor on a network whose output is not its last ``nn.Linear``'s up to a shift per input
    (a log-softmax after it is such a shift; a convolutional head is not), where the rule
    in ``post.info["rule"]`` says why. ``post.info["rule"]`` says what ran. The caller's
    network and modules are left as they were; with a ``seed`` the fit draws from a fork
    of torch's RNG (the caller's is as it was after), without one from torch's global RNG,
    as any torch operation does (advancing it)."""
    each = epochs_per_start(epochs, starts, budget)
    post = fit_swag(net, data, epochs=each, starts=starts, **options)
    skipped = ""
    if distance and isinstance(post.model, Classifier):
        try:
            post = distance_aware(post, data)
        except DistanceUnsupported as why:  # the SWAG mixture stands; the rule says so
            skipped = f"; not distance-aware: {why}"
    info = post.info  # the settings that ran, every start's the same
    info["rule"] = RULE.format(
        starts=starts,
        each=each,
        swa_lr=info["swa_lr"],
        dropout=DROPOUT_RULE[info["dropout"]],
        scale=info["scale"],
        budget=budget,
        epochs=epochs,
        distance=DISTANCE_RULE.format(**info["distance"]) if "distance" in info else skipped,
    )
    return post
