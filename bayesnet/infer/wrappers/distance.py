"""A distance-aware posterior: ``distance_aware(post, data) -> Posterior``.

Any classifier posterior with weight draws (SWAG and ``bn.fit``'s mixture, IVON, SVI,
MCMC, an ensemble) whose every draw's logits flatten with the input's distance from the
training data in that draw's feature space (``bayesnet.nn.distance``): what a mixture of a
few modes lacks far from the data, where its draws can agree confidently and wrongly.
"""

from __future__ import annotations

from typing import Any

from ...data.loaders import as_loader, sample_examples
from ...models import Classifier
from ...nn.distance import ALPHA, FOLDS, LEVEL, FeatureDistance, check_head
from ...nn.normalization import NORMALIZATION_INPUTS
from ...posterior import Posterior

__all__ = ["distance_aware"]


def distance_aware(
    posterior: Posterior,
    data: Any,
    *,
    alpha: float = ALPHA,
    level: float = LEVEL,
    size: int = NORMALIZATION_INPUTS,
    folds: int = FOLDS,
) -> Posterior:
    """``posterior`` with every draw's logits divided by ``sqrt(1 + pi / 8 * alpha *
    (r - r_level)_+)``: ``r`` the input's class-conditional Mahalanobis distance from the
    training features of that draw (the input of the network's last ``nn.Linear``), in
    units of the training examples' median, ``r_level`` their ``level`` quantile. Within
    the training data's distances nothing changes; beyond them each draw's predictive
    flattens towards uniform, as Gaussian logit noise of variance ``alpha * (r - r_level)``
    would flatten it.

    ``data`` is the training data in any form ``bn.fit`` takes; up to ``size`` labelled
    examples drawn uniformly from one pass over it give every draw's class means and
    shared covariance, estimated once per draw and kept with it (saved with the
    posterior). ``alpha=3, level=0.99`` were measured on the battery's cells
    (``benchmarks/RESULTS.md``, "The distance-aware predictive in the package"). The
    returned posterior shares the sampler, the kept draws and their normalisation
    statistics (their heads' statistics are estimated on the first prediction, as new
    draws' are); a network with BatchNorm estimates new draws' statistics on the same
    examples, so that one forward pass per draw gives both (half the first prediction's
    cost beyond its forward passes). A network without such a head (no ``nn.Linear``, or
    one whose output is not the network's up to a shift per input) raises
    ``bayesnet.nn.distance.DistanceUnsupported``, saying why. ``folds > 1`` reads the
    median and ``r_level`` off each example's distance under the other folds' statistics
    (fewer test inputs flattened, lower NLL; far inputs flattened less: not the default,
    RESULTS "The floor out of fold")."""
    if not isinstance(posterior.model, Classifier):
        raise ValueError("a distance-aware predictive is a classifier's; this is a regressor")
    if posterior.distance is not None:
        raise ValueError("this posterior is already distance-aware")
    inputs, labels = sample_examples(as_loader(data, shuffle=False), size)
    check_head(posterior.model.deterministic_net().eval(), inputs[:8].to(posterior.device))
    distance = FeatureDistance(inputs, labels, alpha, level, folds)
    info = {
        **posterior.info,
        "distance": {
            "alpha": distance.alpha,
            "level": distance.level,
            "folds": distance.folds,
            "examples": len(labels),
        },
    }
    # the kept draws and their statistics stay; their heads' are estimated when first used.
    # New draws' BatchNorm statistics are estimated on the same examples, so that one pass
    # per draw gives both (Posterior.sample_params)
    shared = None if posterior.normalization is None else distance.inputs
    return posterior.derive(info, distance=distance, normalization=shared)
