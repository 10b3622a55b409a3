"""The temperature of any engine, chosen by validation: ``by_validation(fit, loader)``.

A tempered posterior counts the likelihood ``1/T`` times. Which ``T`` predicts best is an
empirical question, answered here the same way for every engine that takes a temperature
(``fit_svi``, ``fit_ivon``, ``fit_sgmcmc``, ``fit_laplace``): fit on the training data
less a held-out fraction at each candidate ``T``, keep the ``T`` whose posterior has the
lowest predictive NLL on that fraction, then fit on all the data at that ``T``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch.utils.data import DataLoader, Subset

from ..posterior import Posterior
from .collapse import predictive_nll

__all__ = ["TEMPERATURES", "VALIDATION_DRAWS", "by_validation", "choose_temperature"]

#: the candidates, warmest first
TEMPERATURES = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003)
#: draws of each candidate's predictive on the held-out fraction
VALIDATION_DRAWS = 32

#: ``fit(temperature, loader) -> Posterior``: one engine's fit at one temperature
Fit = Callable[[float, DataLoader], Posterior]


def split(loader: Iterable, fraction: float) -> tuple[DataLoader, tuple[torch.Tensor, ...]]:
    """The loader's data set less a random ``fraction`` (from torch's RNG), as a shuffled
    loader of the same batch size, and that fraction as tensors."""
    dataset = getattr(loader, "dataset", None)
    if dataset is None or not hasattr(dataset, "__len__"):
        raise ValueError("choosing a temperature needs a DataLoader over a sized data set")
    if not 0 < fraction < 1:
        raise ValueError(f"validation must lie in (0, 1), got {fraction}")
    order = torch.randperm(len(dataset)).tolist()
    held = max(1, round(fraction * len(dataset)))
    rest = DataLoader(Subset(dataset, order[held:]), batch_size=loader.batch_size, shuffle=True)
    validation = next(iter(DataLoader(Subset(dataset, order[:held]), batch_size=held)))
    return rest, tuple(validation)


def choose_temperature(
    fit: Fit,
    loader: Iterable,
    *,
    validation: float = 0.1,
    temperatures: Sequence[float] = TEMPERATURES,
) -> tuple[float, dict[float, float]]:
    """The temperature of ``temperatures`` whose ``fit`` on ``loader``'s data less a
    ``validation`` fraction predicts that fraction best, and every candidate's NLL."""
    rest, (x, y) = split(loader, validation)
    scores = {}
    for t in temperatures:
        post = fit(t, rest)
        scores[t] = predictive_nll(post, x.to(post.device), y.to(post.device), VALIDATION_DRAWS)
    return min(scores, key=scores.get), scores


def by_validation(
    fit: Fit,
    loader: Iterable,
    *,
    validation: float = 0.1,
    temperatures: Sequence[float] = TEMPERATURES,
) -> Posterior:
    """``fit(T, loader)`` at the ``T`` that ``choose_temperature`` picks; ``info`` records
    ``temperature`` and ``temperature_scores``. For example, IVON's temperature::

        by_validation(lambda t, data: bn.fit_ivon(net, data, temperature=t), loader)
    """
    chosen, scores = choose_temperature(
        fit, loader, validation=validation, temperatures=temperatures
    )
    post = fit(chosen, loader)
    post.info.update({"temperature": chosen, "temperature_scores": scores})
    return post
