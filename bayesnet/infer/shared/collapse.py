"""Detecting a variational fit that ignores the data (collapsed to the prior).

With tens of thousands of weights and a few thousand examples, the KL term of an
untempered mean-field ELBO can outweigh everything the data could say: the optimum is
then the prior, and the posterior predictive is a uniform guess (Trippe & Turner 2018;
Coker et al. 2022). The check compares the fit's training NLL with the best predictor
that ignores the inputs; a fit no better than that has learned nothing.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch

from ...data.loaders import training_batches
from ...models import BayesianModel, Classifier
from ...posterior import Posterior

__all__ = [
    "CollapseWarning",
    "null_nll",
    "ignores_data",
    "check_collapse",
    "check_predictive",
    "predictive_nll",
    "training_null_nll",
    "EXPLAINED_MIN",
]

#: a fit that explains less than this fraction of the input-free NLL has collapsed
EXPLAINED_MIN = 0.1
#: the predictive check's least draws (a mixture's: one per component at least) and its
#: training examples, which are also the inputs each draw's BatchNorm statistics are
#: estimated on. A collapsed predictive is uniform (NLL at the input-free guess's, 2.3
#: nats for ten classes) and a fitted one is an order of magnitude below it, so two draws
#: on two batches show it; at 4 and 256 the check cost a tenth of a short fit
#: (``benchmarks/fit_cost.py --check``)
CHECK_DRAWS, CHECK_EXAMPLES = 2, 128


class CollapseWarning(UserWarning):
    """The fitted posterior ignores the data: its training NLL is that of a constant guess."""


def null_nll(y: torch.Tensor, classification: bool) -> float:
    """NLL per example of the best predictor that ignores the inputs, estimated on ``y``.

    Classification: the entropy of the label frequencies (nats); regression: a Gaussian at
    the targets' mean and variance, summed over output dimensions.
    """
    if classification:
        freq = torch.bincount(y.reshape(-1).long()).double()
        freq = freq[freq > 0] / freq.sum()
        return float(-(freq * freq.log()).sum()) * y[0].numel()  # per-pixel labels: a sum
    var = y.double().reshape(len(y), -1).var(0, unbiased=False).clamp_min(1e-12)
    return float((0.5 * torch.log(2 * math.pi * math.e * var)).sum())


def ignores_data(nll: float, null: float) -> bool:
    """Whether a training NLL of ``nll`` explains less than ``EXPLAINED_MIN`` of ``null``."""
    return (1 - nll / null if null > 0 else 1.0) < EXPLAINED_MIN


def check_collapse(info: dict[str, Any], null: float, model: BayesianModel) -> bool:
    """Warn with ``CollapseWarning`` when the last epoch's training NLL explains less than
    ``EXPLAINED_MIN`` of ``null``; record the verdict in ``info["collapsed"]``."""
    last = info["history"][-1]
    nll, kl = last["nll"], last["kl"]
    collapsed = ignores_data(nll, null)
    info["collapsed"] = collapsed
    info["null_nll"] = null
    if collapsed:
        warnings.warn(
            f"the {info.get('engine', 'svi')} posterior of {type(model.net).__name__} ignores "
            f"the data: its training NLL is {nll:.3f} nats per example "
            f"against {null:.3f} for a guess that ignores the inputs. The KL of "
            f"{model.num_weights} weights ({kl:.4g} nats) outweighs a data term the whole training "
            "set could lower by at most "
            f"{null * model.num_data:.4g} nats (or training stopped before it learned anything). "
            "Remedies: train longer (more epochs); fit_svi's defaults where they were changed "
            "(a MAP warm start, init='map', and a tempered posterior, temperature=0.01); "
            "temperature='auto'; a wider prior (bn.priors.Normal(1.0)); fewer Bayesian "
            "layers (bayesianize(..., last_layer=True)); or more data.",
            CollapseWarning,
            stacklevel=3,
        )
    return collapsed


def training_null_nll(loader, model: BayesianModel) -> float:
    """``null_nll`` of the labels of the whole training ``loader`` (one pass over it): a
    class-sorted first batch would say nothing about the rest."""
    targets = torch.cat([y.cpu() for _, y in training_batches(loader)])
    return null_nll(targets, isinstance(model, Classifier))


@torch.no_grad()
def predictive_nll(post: Posterior, x: torch.Tensor, y: torch.Tensor, draws: int) -> float:
    """Mean NLL per example of ``post``'s predictive (``draws`` draws) on ``(x, y)``."""
    params = post.sample_params(draws)
    out = post.forward(x, params, link=False)
    log_lik = post.model.log_likelihood_draws(out, y, params)
    return float(-(log_lik.logsumexp(0) - math.log(len(out))).mean())


def check_predictive(post: Posterior, loader, null: float, engine: str) -> bool:
    """Warn with ``CollapseWarning`` when ``post``'s predictive on up to ``CHECK_EXAMPLES``
    training examples explains less than ``EXPLAINED_MIN`` of the input-free ``null``;
    records ``collapsed``, ``train_predictive_nll`` and ``null_nll`` in ``post.info``."""
    xs, ys, count = [], [], 0
    for x, y in training_batches(loader):
        xs.append(x)
        ys.append(y)
        count += len(x)
        if count >= CHECK_EXAMPLES:
            break
    device = post.device
    x = torch.cat(xs)[:CHECK_EXAMPLES].to(device)
    y = torch.cat(ys)[:CHECK_EXAMPLES].to(device)
    statistics = None if post.normalization is None else post.normalization[:CHECK_EXAMPLES]
    draws = max(CHECK_DRAWS, len(getattr(post.sampler, "components", ())))  # every start
    nll = predictive_nll(Posterior(post.model, post.sampler, {}, statistics), x, y, draws)
    collapsed = ignores_data(nll, null)
    post.info.update(collapsed=collapsed, train_predictive_nll=nll, null_nll=null)
    if collapsed:
        warnings.warn(
            f"the {engine} posterior ignores the data: its predictive NLL on training examples "
            f"is {nll:.3f} nats against {null:.3f} for a guess that ignores the inputs. The "
            "network did not learn (train longer, or a lower learning rate if it diverged) "
            "or its draws leave the mode (a smaller scale or temperature).",
            CollapseWarning,
            stacklevel=4,
        )
    return collapsed
