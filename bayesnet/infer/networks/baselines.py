"""Baselines of the same architecture, each a ``Posterior`` (``predict`` -> ``[S, N, C]``).

- ``point_estimate``: the plain network trained by maximum likelihood; no draws, so
  ``predict`` returns its softmax ``[1, N, C]``.
- ``temperature_scaled``: any classifier posterior (a point estimate, an ensemble,
  ``bn.fit``'s mixture ...) whose logits are divided by a temperature fitted by NLL on
  held-out data (Guo et al. 2017).
- ``mc_dropout``: dropout kept on at test time (inserted when the network has none);
  draws are dropout masks (Gal & Ghahramani 2016).
- ``deep_ensemble``: M networks trained from independent initialisations; draws are the
  members' parameters (Lakshminarayanan et al. 2017).
"""

from __future__ import annotations

import copy
import math
import re
import time
import warnings
from collections.abc import Iterable
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..._checks import check_choice, check_finite
from ..._state import keeps_caller_state, seeded
from ...data.loaders import takes_data, training_batches
from ...device import resolve
from ...models import Classifier, Regressor
from ...nn.dropout import MaskedDropout, insert_dropout, masked_dropout
from ...posterior import DrawsSampler, Posterior, Sampler, log_mean_softmax
from ...run import Run, run_settings
from ..shared.loop import OPTIMIZERS, Hooks, first_batch, run_epoch
from ..shared.starts import reinitialized

__all__ = ["point_estimate", "temperature_scaled", "mc_dropout", "deep_ensemble", "hold_dropout"]

#: torch's dropout layers (their common base class is private)
DROPOUT = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)


def hold_dropout(net: nn.Module, on: bool) -> None:
    """Switch every dropout layer of ``net`` on (training mode) or off (evaluation mode),
    leaving every other module's mode as it is."""
    for module in net.modules():
        if isinstance(module, DROPOUT):
            module.train(on)


def _heteroscedastic_nll(out: torch.Tensor, y: torch.Tensor, model: Regressor) -> torch.Tensor:
    mean, variance = model.moments(out)
    return F.gaussian_nll_loss(mean, y, variance, full=True)


def _likelihood_nll(out: torch.Tensor, y: torch.Tensor, model: Regressor) -> torch.Tensor:
    """The model's negative log likelihood per target value (Student-t's has no fused
    torch loss)."""
    return -model.likelihood(out).log_prob(y).mean() / y.shape[-1]


#: each task: its model of a network (given the number of examples) and its training loss
#: ``loss(output, targets, model)``; a regression network's noise is fitted after training
TASKS = {
    "classification": (Classifier, lambda out, y, model: F.cross_entropy(out, y)),
    "regression": (
        lambda net, n: Regressor(net, n, noise=1.0),
        lambda out, y, model: F.mse_loss(out, y),
    ),
    "heteroscedastic": (
        lambda net, n: Regressor(net, n, likelihood="heteroscedastic"),
        _heteroscedastic_nll,
    ),
    "heteroscedastic_t": (
        lambda net, n: Regressor(net, n, likelihood="heteroscedastic_t"),
        _likelihood_nll,
    ),
}
#: draws of the predictive mean a regression baseline's noise is estimated around
RESIDUAL_DRAWS = 16


class DropoutSampler(Sampler):
    """MC dropout: fresh Bernoulli masks for every ``MaskedDropout`` buffer, ``{path.mask:
    (p, shape)}``; the network's weights stay at their trained values."""

    kind = "dropout"

    def __init__(self, masks: dict[str, tuple[float, list[int]]], num_samples: int = 100) -> None:
        if not masks:
            raise ValueError("MC dropout needs at least one MaskedDropout layer")
        self.masks, self.num_samples = masks, num_samples

    @classmethod
    def of(cls, net: nn.Module, num_samples: int = 100) -> DropoutSampler:
        """The sampler for every ``MaskedDropout`` in ``net``."""
        return cls(
            {
                f"{path}.mask": (m.p, list(m.mask.shape))
                for path, m in net.named_modules()
                if isinstance(m, MaskedDropout)
            },
            num_samples,
        )

    def natural_size(self):
        return self.num_samples

    def sample(self, num_samples):
        num_samples = self.num_samples if num_samples is None else num_samples
        return {
            name: torch.bernoulli(torch.full((num_samples, *shape), 1 - p)) / (1 - p)
            for name, (p, shape) in self.masks.items()
        }

    def state(self):
        return {"masks": self.masks, "num_samples": self.num_samples}

    @classmethod
    def from_state(cls, model, state, path):
        return cls(**state)


def train_net(
    net: nn.Module,
    loader: Iterable,
    epochs: int = 30,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    optimizer: str | torch.optim.Optimizer = "adam",
    task: str = "classification",
    progress: bool = True,
    desc: str = "point estimate",
    dropout: bool = True,
    **loop: Any,
) -> tuple[list[dict[str, float]], int]:
    """Train ``net`` in place by maximum likelihood; returns the per-epoch history and
    the number of training examples seen per epoch. ``optimizer`` is a name of
    ``OPTIMIZERS`` (built with ``lr`` and ``weight_decay``) or an optimizer over ``net``'s
    parameters, used as it is; ``dropout=False`` holds the network's dropout layers off
    while it trains; ``loop`` names the ``loop.Hooks`` of every epoch
    (``schedule``, ``around_gradient``, ``after_backward``, ``after_step``)."""
    model_cls, loss_fn = TASKS[check_choice(task, TASKS, "task")]
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    device = next(net.parameters()).device
    model = model_cls(net, 1)
    model.first_output(first_batch(loader)[0].to(device), net)  # names a shape mismatch
    opt = (
        optimizer
        if isinstance(optimizer, torch.optim.Optimizer)
        else OPTIMIZERS[check_choice(optimizer, OPTIMIZERS, "optimizer")](
            [p for p in net.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay
        )
    )
    largest: list[torch.Tensor] = []  # each first-epoch batch's largest label

    def objective(x, y, step, first=True):
        out = net(x)
        if first:
            check_finite(x, "training inputs")
            model.check_targets(y, out)
            if task == "classification":
                largest.append(y.max())
        loss = loss_fn(out, y, model)
        return loss, loss[None]

    history = []
    net.train()
    hold_dropout(net, dropout)
    for epoch in tqdm(range(epochs), desc=desc, disable=not progress):
        mean, seen = run_epoch(
            loader,
            device,
            partial(objective, first=epoch == 0),
            opt,
            lambda loss, terms, step, epoch=epoch: FloatingPointError(
                f"{desc} loss became {loss.item()} at epoch {epoch + 1}"
            ),
            Hooks(**loop),
        )
        history.append({"epoch": epoch + 1, "loss": mean.item()})
        if largest:
            model.check_width(int(torch.stack(largest).max()), re.sub(r" \d+/\d+$", "", desc))
            largest.clear()
    net.eval()
    return history, seen


def wrap(
    net: nn.Module,
    task: str,
    num_data: int,
    sampler: Sampler,
    info: dict,
    loader: Iterable,
    normalization: torch.Tensor | None = None,
) -> Posterior:
    """``net`` (trained on ``loader``) and its ``sampler`` as a ``Posterior`` of the
    ``task``'s model.

    ``normalization``: training inputs on which every draw's BatchNorm statistics are
    estimated (``inputs_from_loader``: for draws whose weights BatchNorm's running
    statistics do not belong to); None keeps the network's. A regression model gets the Gaussian noise
    that maximises the training likelihood around its predictive mean (the root mean
    squared residual, ``info["noise"]``), so it can be scored by likelihood (``to_arviz``,
    LOO) like the Bayesian regressors."""
    device = next(net.parameters()).device
    model = TASKS[check_choice(task, TASKS, "task")][0](net, num_data)
    inputs = normalization.to(device) if normalization is not None else None
    post = Posterior(model, sampler, info, inputs)
    if task == "regression":
        model.noise = post.info["noise"] = _residual_scale(post, loader)
    return post


@torch.no_grad()
def _residual_scale(post: Posterior, loader: Iterable) -> float:
    """The root mean squared residual of the predictive mean over the training loader."""
    draws = post.sample_params(RESIDUAL_DRAWS)
    total, count = 0.0, 0
    for x, y in training_batches(loader):
        mean = post.forward(x, draws).mean(0)
        total += (mean - y.to(mean)).square().sum().item()
        count += y.numel()
    return max(math.sqrt(total / count), 1e-6)


@run_settings()
@takes_data
@keeps_caller_state
def point_estimate(
    net: nn.Module,
    loader: Iterable,
    *,
    epochs: int = 30,
    task: str = "classification",
    device: str | torch.device = "auto",
    progress: bool = True,
    seed: int | None = None,
    run: Run | None = None,
    **train: Any,
) -> Posterior:
    """Train a copy of ``net`` by maximum likelihood; ``net`` itself is left untouched.
    ``train`` takes ``lr``, ``weight_decay`` and ``optimizer``."""
    net = copy.deepcopy(net).to(resolve(device))
    start = time.perf_counter()
    history, seen = train_net(net, loader, epochs, task=task, progress=progress, **train)
    info = {"engine": "point_estimate", "history": history, "seconds": time.perf_counter() - start}
    return wrap(net, task, seen, DrawsSampler({}), info, loader)


def temperature_scaled(
    posterior: Posterior,
    validation: tuple[torch.Tensor, torch.Tensor],
    *,
    num_samples: int | None = None,
    max_iter: int = 100,
) -> Posterior:
    """``posterior`` with every draw's logits divided by the temperature that minimises the
    NLL of its predictive (the mixture over draws) on the held-out ``validation = (x, y)``
    (Guo et al. 2017; for a mixture, the mixture's NLL). Accuracy is unchanged for a point
    estimate (the argmax of ``logits / T`` is the argmax of the logits).

    Any classifier posterior: a point estimate, an ensemble, MCMC draws, SWAG and
    ``bn.fit``'s mixture, a variational guide. The temperature is fitted on
    ``num_samples`` draws (None: the posterior's own number); the returned posterior shares
    the sampler, its kept draws and statistics, and saves its temperature with it.
    """
    if not isinstance(posterior.model, Classifier):
        raise ValueError("temperature scaling divides a classifier's logits; this is a regressor")
    x, y = validation
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"validation set has {len(x)} inputs and {len(y)} labels")
    device = posterior.device
    draws = posterior.sample_params(num_samples)
    with torch.no_grad():
        logits = posterior.forward(x, draws, link=False)  # [S, N, C], at its temperature
    y = y.to(device).long()
    posterior.model.check_targets(y, logits[0])
    log_t = torch.zeros((), device=device, requires_grad=True)
    if (logits.argmax(-1) == y).all():
        # Every draw gets every validation example right: the NLL falls all the way to
        # T -> 0, so the data cannot identify a temperature.
        warnings.warn(
            f"every one of the {len(y)} validation examples is classified correctly, so the "
            "validation NLL has no minimum (T -> 0); keeping T = 1. Use a larger validation "
            "split.",
            stacklevel=2,
        )
    else:
        opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = F.nll_loss(log_mean_softmax(logits / log_t.exp()), y)
            loss.backward()
            return loss

        opt.step(closure)
    value = log_t.exp().item()
    info = {
        **posterior.info,
        "engine": f"{posterior.info.get('engine')}+temperature",
        "temperature": value * posterior.temperature,
    }
    return posterior.derive(info, temperature=value * posterior.temperature)


@run_settings()
@takes_data
@keeps_caller_state
def mc_dropout(
    net: nn.Module,
    loader: Iterable,
    *,
    p: float = 0.1,
    epochs: int = 30,
    num_samples: int = 100,
    task: str = "classification",
    device: str | torch.device = "auto",
    progress: bool = True,
    seed: int | None = None,
    run: Run | None = None,
    **train: Any,
) -> Posterior:
    """Train ``net`` with dropout and keep it on at test time. A network without dropout
    gets ``nn.Dropout(p)`` before every weight layer but the first; existing dropout layers
    keep their rates. ``predict`` draws one mask per sample (``num_samples`` by default)."""
    device = resolve(device)
    has_dropout = any(isinstance(m, DROPOUT) for m in net.modules())
    net = (copy.deepcopy(net) if has_dropout else insert_dropout(net, p)).to(device)
    example = first_batch(loader)[0][:1].to(device)
    net = masked_dropout(net, example)
    start = time.perf_counter()
    history, seen = train_net(
        net, loader, epochs, task=task, progress=progress, desc="MC dropout", **train
    )
    info = {"engine": "mc_dropout", "history": history, "seconds": time.perf_counter() - start}
    return wrap(net, task, seen, DropoutSampler.of(net, num_samples), info, loader)


@run_settings()
@takes_data
def deep_ensemble(
    net: nn.Module,
    loader: Iterable,
    *,
    members: int = 5,
    epochs: int = 30,
    task: str = "classification",
    device: str | torch.device = "auto",
    progress: bool = True,
    seed: int | None = None,
    run: Run | None = None,
    **train: Any,
) -> Posterior:
    """``members`` copies of ``net``, each re-initialised and trained independently (the
    data order differs only if the loader shuffles); member ``m`` draws from torch's RNG
    seeded ``seed + m`` (None: the global RNG, advancing it). Draws are the members'
    parameters and buffers, so ``predict`` returns ``[members, N, C]``."""
    if members < 1:
        raise ValueError(f"an ensemble needs at least one member, got {members}")
    device = resolve(device)
    states, histories = [], []
    start = time.perf_counter()
    for m in tqdm(range(members), desc="deep ensemble", disable=not progress):
        with seeded(None if seed is None else seed + m, device):
            member = reinitialized(net).to(device)
            history, seen = train_net(
                member, loader, epochs, task=task, progress=False, desc=f"member {m}", **train
            )
        histories.append(history)
        states.append(member.state_dict())
    draws = {k: torch.stack([s[k] for s in states]) for k in states[0]}
    info = {"engine": "deep_ensemble", "history": histories, "seconds": time.perf_counter() - start}
    return wrap(member, task, seen, DrawsSampler(draws), info, loader)
