"""IVON: ``fit_ivon(net, loader, ...) -> Posterior``.

Improved Variational Online Newton (Shen et al. 2024, "Variational Learning is Effective
for Large Deep Networks") learns a mean-field Gaussian posterior over every weight at
about the cost of Adam: each step evaluates the gradient at one weight draw, and the
draw's noise gives a reparameterisation estimate of the Hessian's diagonal that sets the
posterior precision ``ess * (hess + weight_decay)``. The optimizer is the authors' own
(``ivon-opt``, an optional extra: ``pip install "bayesnet[ivon]"``); this module trains
with it and turns its state into a ``Posterior`` whose draws come from that Gaussian.
"""

from __future__ import annotations

import copy
import importlib
import time
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from ..._checks import check_draws
from ..._state import seeded
from ...data.loaders import as_loader, count_examples, takes_data
from ...device import resolve
from ...nn.normalization import inputs_from_loader
from ...posterior import Posterior
from ...run import Run, run_settings
from ..shared.collapse import check_predictive, training_null_nll
from ..shared.distributed import broadcast, setup, shard
from ..shared.gaussian import FlatGaussianSampler, flatten, layout
from ..shared.loop import num_batches
from ..shared.starts import network_starts
from .baselines import train_net, wrap

__all__ = ["fit_ivon", "gaussian", "posterior", "INSTALL"]

INSTALL = 'fit_ivon needs the authors\' optimizer: pip install "bayesnet[ivon]" (ivon-opt)'


def _ivon():
    """ivon-opt's ``IVON`` optimizer, or an ImportError that says how to install it."""
    try:
        return importlib.import_module("ivon").IVON
    except ImportError as error:
        raise ImportError(INSTALL) from error


@run_settings(supports=("distributed",))
@takes_data
def fit_ivon(
    net: nn.Module,
    loader: Iterable,
    *,
    epochs: int = 30,
    lr: float = 0.5,
    temperature: float = 1.0,
    hess_init: float = 1.0,
    beta2: float = 0.999,
    weight_decay: float = 1e-4,
    clip_radius: float = float("inf"),
    starts: int = 1,
    num_samples: int = 30,
    task: str = "classification",
    device: str | torch.device = "auto",
    progress: bool = True,
    seed: int | None = None,
    run: Run | None = None,
) -> Posterior:
    """Train a copy of ``net`` with IVON on ``loader`` (``net`` itself is left untouched)
    and return its posterior ``N(m, 1 / (ess * (hess + weight_decay)))``.

    - ``lr`` falls to 0 on a cosine over ``epochs`` (the authors' recipe); ``hess_init``,
      ``beta2`` (the Hessian's running-average rate), and ``weight_decay`` (the prior
      precision per example) are IVON's own (one weight draw per step);
    - ``temperature``: the effective sample size is ``num_data / temperature``, the
      posterior tempered to ``p(w | D)^(1 / T)`` (1.0: untempered, IVON's ``ess = N``);
    - ``starts=K``: K fits from independent initial weights mixed with equal weights
      (MultiIVON), seeded ``seed + k``.

    Networks with BatchNorm recompute every draw's statistics on training inputs at
    prediction. ``info`` holds the settings, the history and the posterior's median
    standard deviation.
    """
    ivon = _ivon()
    if epochs < 1 or not temperature > 0:
        raise ValueError(f"need epochs >= 1 and temperature > 0; got {epochs}, {temperature}")
    check_draws(num_samples)
    device = resolve(device)
    settings = {
        "epochs": epochs,
        "lr": lr,
        "temperature": temperature,
        "hess_init": hess_init,
        "beta2": beta2,
        "weight_decay": weight_decay,
        "clip_radius": clip_radius,
        "num_samples": num_samples,
        "task": task,
        "num_data": count_examples(loader),  # what one epoch yields, not len(loader.dataset)
    }
    inputs = inputs_from_loader(net, loader)
    ranks = setup(device) if run.distributed else None
    parallel = ranks if ranks is not None and ranks.world > 1 and starts == 1 else None

    def one(member: nn.Module, k: int) -> Posterior:
        label = "ivon" if starts == 1 else f"multiivon {k + 1}/{starts}"
        return _fit_one(ivon, member, loader, settings, inputs, label, progress, parallel)

    spread = None if parallel is not None else ranks  # one start: every rank trains it
    post = network_starts(net, one, starts, seed, device, "ivon", loader, spread)
    with seeded(seed, device):  # the check's draws leave the caller's RNG alone too
        check_predictive(post, loader, training_null_nll(loader, post.model), "IVON")
    return post


def _fit_one(ivon, net, loader, settings, inputs, label, progress, parallel=None) -> Posterior:
    """One IVON fit of ``net`` (trained in place) on ``num_data`` examples an epoch; with
    ``parallel`` ranks, data-parallel (each rank its shard of the batches, the optimiser's
    gradient and Hessian estimates averaged across ranks: ``ivon-opt``'s ``sync``)."""
    num_data, task = settings["num_data"], settings["task"]
    if parallel is not None:
        loader = shard(loader, parallel)
        broadcast(net, parallel)
    steps = num_batches(loader)
    if steps == 0:
        raise ValueError("fit_ivon needs a loader with a length (batches per epoch)")
    params = [p for p in net.parameters() if p.requires_grad]
    opt = ivon(
        params,
        lr=settings["lr"],
        ess=num_data / settings["temperature"],
        hess_init=settings["hess_init"],
        beta2=settings["beta2"],
        weight_decay=settings["weight_decay"],
        clip_radius=settings["clip_radius"],
        sync=parallel is not None,
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, settings["epochs"] * steps)
    start = time.perf_counter()
    history, _ = train_net(
        net,
        loader,
        settings["epochs"],
        optimizer=opt,
        task=task,
        progress=progress,
        desc=label,
        schedule=schedule,
        around_gradient=lambda: opt.sampled_params(train=True),
    )
    sampler = gaussian(net, opt, settings["num_samples"])
    info: dict[str, Any] = {
        "engine": "ivon",
        **settings,
        "ess": num_data / settings["temperature"],
        "median_std": sampler.scale.median().item(),
        "history": history,
        "seconds": time.perf_counter() - start,
    }
    return wrap(net, task, num_data, sampler, info, loader, inputs)


def gaussian(net: nn.Module, optimizer: Any, num_samples: int = 30) -> FlatGaussianSampler:
    """IVON's posterior ``N(m, 1 / (ess * (hess + weight_decay)))`` over ``net``'s trainable
    parameters, from the state of the ``ivon.IVON`` optimiser that trains them (its mean is
    the network's weights outside ``sampled_params``); a trainable parameter the optimiser
    does not hold keeps its value (scale 0)."""
    stds = {}
    for group in optimizer.param_groups:
        if "hess" not in group:
            raise ValueError("the optimiser holds no IVON state: an ivon.IVON, after a step")
        std = (group["ess"] * (group["hess"] + group["weight_decay"])).rsqrt()
        sizes = [p.numel() for p in group["params"]]
        for p, part in zip(group["params"], std.split(sizes), strict=True):
            stds[id(p)] = part
    params = [p for p in net.parameters() if p.requires_grad]
    scale = torch.cat([stds.get(id(p), torch.zeros(p.numel()).to(p)) for p in params])
    return FlatGaussianSampler(layout(net), flatten(net), scale, None, num_samples)


def posterior(
    net: nn.Module,
    optimizer: Any,
    data: Any,
    *,
    task: str = "classification",
    num_samples: int = 30,
) -> Posterior:
    """The posterior of ``net`` trained in the caller's own loop with ``ivon.IVON``
    (``optimizer``): the same ``Posterior`` ``fit_ivon`` returns, with each draw's BatchNorm
    statistics estimated on ``data``'s inputs (the training data, in any form a fit
    takes), checked for collapse on it. The network is read, never changed."""
    check_draws(num_samples)
    sampler = gaussian(net, optimizer, num_samples)
    loader = as_loader(data, shuffle=False)
    copied = copy.deepcopy(net).eval()
    info = {"engine": "ivon", "median_std": sampler.scale.median().item()}
    inputs = inputs_from_loader(copied, loader)
    post = wrap(copied, task, count_examples(loader), sampler, info, loader, inputs)
    check_predictive(post, loader, training_null_nll(loader, post.model), "IVON")
    return post
