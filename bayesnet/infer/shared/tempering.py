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
from torch.utils.data import DataLoader, TensorDataset

from ...data.loaders import materialize
from ...posterior import Posterior
from .collapse import predictive_nll
from .loop import first_batch

__all__ = ["TEMPERATURES", "VALIDATION_DRAWS", "by_validation", "choose_temperature"]

#: the candidates, warmest first
TEMPERATURES = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003)
#: draws of each candidate's predictive on the held-out fraction
VALIDATION_DRAWS = 32

#: ``fit(temperature, loader) -> Posterior``: one engine's fit at one temperature
Fit = Callable[[float, DataLoader], Posterior]


def split(loader: Iterable, fraction: float) -> tuple[DataLoader, tuple[torch.Tensor, ...]]:
    """What one pass over ``loader`` yields, less a random ``fraction`` (from torch's RNG),
    as a shuffled loader of the loader's batch size, and that fraction as tensors. The
    examples are those the loader yields (its sampler, ``collate_fn`` and batches apply),
    held in memory for the choice."""
    if not 0 < fraction < 1:
        raise ValueError(f"validation must lie in (0, 1), got {fraction}")
    x, y = materialize(loader)
    if len(x) < 2:
        raise ValueError(f"choosing a temperature needs at least 2 examples, got {len(x)}")
    batch_size = len(first_batch(loader)[0])
    order = torch.randperm(len(x))
    held = min(len(x) - 1, max(1, round(fraction * len(x))))
    rest = order[held:]
    train = DataLoader(TensorDataset(x[rest], y[rest]), batch_size=batch_size, shuffle=True)
    return train, (x[order[:held]], y[order[:held]])


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
