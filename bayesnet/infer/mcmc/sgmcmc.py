"""Stochastic-gradient MCMC: ``fit_sgmcmc(model, loader, ...) -> Posterior``.

Samples the posterior from minibatches, so it scales past full-batch HMC: SGHMC (Chen et
al. 2014; its dynamics integrated with the BAOA splitting, Leimkuhler & Matthews 2015) or
SGLD (Welling & Teh 2011), the updates of the ``posteriors`` library, on the
log posterior written once over the plain-torch network (``logjoint.LogJoint``, the HMC
potential with the likelihood scaled by ``num_data / batch``). With
``schedule="cyclical"`` (Zhang et al. 2020) the step size follows ``cycles`` cosine
cycles: the first ``exploration`` part of each cycle moves without noise (SGD with
momentum, finding a mode), the rest adds the sampler's noise and keeps draws, so the
draws come from several modes.

Units are those of SGD on the mean loss: the log posterior is divided by ``num_data``
and the temperature with it (``posteriors``' recommended pairing), so ``lr`` is the step
size one would give SGD on the mean cross-entropy, and ``momentum_decay`` the fraction of
the velocity lost per step (1 - the SGD momentum). The target is ``p(w | D)^(1/T)``.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..._checks import check_choice, check_finite
from ..._state import keeps_caller_state
from ...checkpoint import check_run_dir, load_safe, rng_state, save_atomic, set_rng_state
from ...data.loaders import takes_data, training_batches
from ...device import resolve
from ...models import BayesianModel
from ...nn.normalization import inputs_from_loader, normalization_layers
from ...posterior import DrawsSampler, Posterior, architecture, check_architecture
from ...run import Run, run_settings
from ..shared.loop import first_batch, num_batches
from .logjoint import LogJoint, expressible, warn_fixed_point_layers

__all__ = ["fit_sgmcmc", "cyclical_lr", "METHODS", "SCHEDULES"]

METHODS = ("sghmc", "sgld")
SCHEDULES = ("cyclical", "constant")
CHECKPOINT_NAME = "sgmcmc.pt"
CHECKPOINT_FORMAT = "bayesnet.sgmcmc/1"
CHECKPOINT_KEYS = ("epoch", "step", "params", "momenta", "draws", "stats", "arch", "settings")
STATS = ("step_size", "lp", "epoch", "cycle")
#: the (peak) step size by method, measured on the digits (benchmarks/quality.py): SGHMC's
#: is the recommended sampler; SGLD, without momentum, needs a larger step to explore (at
#: 1.0 its noise swamps the zoo CNN) and is unreliable at this one (RESULTS.md)
DEFAULT_LR = {"sghmc": 0.1, "sgld": 0.5}
#: draws kept by default (``thin=None``), spread evenly over the sampling steps
DEFAULT_DRAWS = 64

#: ``f(epoch, stats, draws_so_far)`` after every epoch; returning True stops the run
Callback = Callable[[int, dict[str, float], int], bool | None]


def cyclical_lr(lr: float, step: int, steps_per_cycle: int) -> float:
    """Zhang et al.'s cosine step size: ``lr`` at the start of each cycle, near 0 at its
    end, ``lr / 2 * (cos(pi * position) + 1)`` in between."""
    position = (step % steps_per_cycle) / steps_per_cycle
    return lr / 2 * (math.cos(math.pi * position) + 1)


@run_settings(supports=("callbacks", "checkpoint_dir", "resume", "overwrite"))
@takes_data
@keeps_caller_state
def fit_sgmcmc(
    model: BayesianModel,
    loader: Iterable,
    *,
    method: str = "sghmc",
    schedule: str = "cyclical",
    epochs: int = 60,
    cycles: int = 4,
    lr: float | None = None,
    momentum_decay: float = 0.1,
    temperature: float = 1.0,
    exploration: float = 0.75,
    burn_in: int = 0,
    thin: int | None = None,
    init: str | Posterior = "point_estimate",
    device: str | torch.device = "auto",
    draws_device: str | torch.device | None = "cpu",
    progress: bool = True,
    seed: int | None = None,
    run: Run | None = None,
) -> Posterior:
    """Sample the posterior of ``model`` with stochastic-gradient MCMC on ``loader``.

    - ``method``: ``"sghmc"`` (with momentum, ``momentum_decay`` lost per step) or
      ``"sgld"`` (Langevin, no momentum);
    - ``schedule``: ``"cyclical"`` (default: ``cycles`` cosine cycles over ``epochs``;
      draws in the last ``1 - exploration`` of each cycle, noise only there) or
      ``"constant"`` (step size ``lr`` throughout, noise always, draws after ``burn_in``
      epochs);
    - ``lr``: the (peak) step size, in the units of SGD on the mean loss (None:
      ``DEFAULT_LR`` for the method);
    - ``temperature``: the target is ``p(w | D)^(1/T)``;
    - ``burn_in``: epochs from the start in which no draw is kept (both schedules);
    - ``thin``: keep a draw every ``thin`` steps of the sampling stages (None: about
      ``DEFAULT_DRAWS`` draws in all, evenly spaced; more cost memory, not accuracy);
    - ``init``: the network's current weights (``"point_estimate"``) or a ``Posterior``'s
      first draw;
    - draws are kept on ``draws_device`` (CPU by default);
    - ``run`` (``bn.Run``): ``checkpoint_dir`` holds the sampler's state and its draws
      after every epoch (``resume=True`` continues it, ``overwrite=True`` replaces it);
      ``callbacks`` are called after every epoch as ``f(epoch, row, draws)``.

    The posterior's draws form one chain per cycle (``schedule="cyclical"``) or a single
    chain, with per-draw ``step_size``, ``lp`` (the minibatch estimate of the log
    posterior) and ``epoch`` for ``to_arviz``; ``info`` records the schedule.
    """
    plan = Schedule(
        method, schedule, epochs, cycles, lr, momentum_decay, temperature, exploration, burn_in
    ).checked()
    if thin is not None and thin < 1:
        raise ValueError(f"thin must be >= 1 or None, got {thin}")
    if not expressible(model):
        raise ValueError(
            "fit_sgmcmc needs fixed priors and no latent sites besides the weights "
            "(no hierarchical prior scales, no learned regression noise)"
        )
    warn_fixed_point_layers(model, "fit_sgmcmc")
    device = resolve(device)
    log_posterior = _log_posterior(model, loader, device)
    steps = num_batches(loader)
    if steps == 0:
        raise ValueError("fit_sgmcmc needs a loader with a length (batches per epoch)")
    plan = plan.over(steps, thin)
    update, state = _sampler(plan.method, _start(model, init, device))
    chain = Chain(plan, draws_device or device, model.num_data)
    ckpt = Path(run.checkpoint_dir) / CHECKPOINT_NAME if run.checkpoint_dir is not None else None
    start = 0
    if ckpt is not None:
        check_run_dir(ckpt.parent, (CHECKPOINT_NAME,), run.resume, run.overwrite)
        if run.resume and ckpt.exists():
            start = _restore(ckpt, model, state, chain, loader)
    bar = tqdm(range(start, epochs), desc=method, disable=not progress, initial=start, total=epochs)
    for epoch in bar:
        state, row = _epoch(plan, chain, update, state, log_posterior, loader, epoch, device)
        bar.set_postfix(
            lr=f"{row['step_size']:.2e}", draws=row["draws"], ex_s=f"{row['examples_per_s']:.0f}"
        )
        if ckpt is not None:
            _save(ckpt, epoch + 1, model, state, chain, loader)
        if any(cb(epoch + 1, row, row["draws"]) for cb in run.callbacks):
            break
    if not chain.stats["lp"]:
        raise ValueError("fit_sgmcmc kept no draws: lengthen the run, lower burn_in or exploration")
    return _posterior(model, chain, loader)


@dataclass(frozen=True)
class Schedule:
    """What the sampler does at every step: its method and step sizes, when it adds noise
    and keeps draws (``sampling``), and how thinly (``thin``, set by ``over``)."""

    method: str
    schedule: str
    epochs: int
    cycles: int
    lr: float | None
    momentum_decay: float
    temperature: float
    exploration: float
    burn_in: int
    steps_per_epoch: int = 0
    thin: int = 1

    def checked(self) -> Schedule:
        """This schedule, its ``lr`` defaulted by method, or a ValueError naming what is
        wrong."""
        check_choice(self.method, METHODS, "method")
        check_choice(self.schedule, SCHEDULES, "schedule")
        lr = DEFAULT_LR[self.method] if self.lr is None else self.lr
        if (
            self.epochs < 1
            or lr <= 0
            or self.temperature <= 0
            or not 0 <= self.burn_in < self.epochs
        ):
            raise ValueError(
                f"need epochs >= 1, lr > 0, temperature > 0 and 0 <= burn_in < epochs; got "
                f"{self.epochs}, {lr}, {self.temperature}, {self.burn_in}"
            )
        if not 0 < self.momentum_decay < 1:
            raise ValueError(f"momentum_decay must lie in (0, 1), got {self.momentum_decay}")
        cyclical = self.schedule == "cyclical"
        if cyclical and not (1 <= self.cycles <= self.epochs and 0 <= self.exploration < 1):
            raise ValueError(
                f"need 1 <= cycles <= epochs and 0 <= exploration < 1; got {self.cycles}, "
                f"{self.exploration}"
            )
        return dataclasses.replace(
            self,
            lr=lr,
            cycles=self.cycles if cyclical else 1,
            exploration=self.exploration if cyclical else 0.0,
        )

    def over(self, steps_per_epoch: int, thin: int | None) -> Schedule:
        """This schedule over ``steps_per_epoch`` steps an epoch, keeping a draw every
        ``thin`` sampling steps (None: about ``DEFAULT_DRAWS`` in all)."""
        plan = dataclasses.replace(self, steps_per_epoch=steps_per_epoch)
        if thin is None:
            sampling = sum(map(plan.sampling, range(plan.total)))
            thin = max(1, sampling // DEFAULT_DRAWS)
        return dataclasses.replace(plan, thin=thin)

    @property
    def total(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def per_cycle(self) -> int:
        return math.ceil(self.total / self.cycles)

    def step_size(self, step: int) -> float:
        if self.schedule == "cyclical":
            return cyclical_lr(self.lr, step, self.per_cycle)
        return self.lr

    def sampling(self, step: int) -> bool:
        """Whether ``step`` adds the sampler's noise (and may keep a draw)."""
        if step < self.burn_in * self.steps_per_epoch:
            return False
        return self.schedule == "constant" or (step % self.per_cycle) / self.per_cycle >= (
            self.exploration
        )

    def info(self) -> dict[str, Any]:
        sghmc = self.method == "sghmc"
        return {
            "engine": "sgmcmc",
            "method": self.method,
            "schedule": self.schedule,
            "epochs": self.epochs,
            "cycles": self.cycles,
            "lr": self.lr,
            "momentum_decay": self.momentum_decay if sghmc else None,
            "integrator": "baoa" if sghmc else "euler-maruyama",
            "temperature": self.temperature,
            "exploration": self.exploration,
            "burn_in": self.burn_in,
            "thin": self.thin,
            "steps_per_epoch": self.steps_per_epoch,
        }

    def settings(self) -> dict[str, Any]:
        """What a resumed run must share with the checkpoint it resumes."""
        names = ("method", "schedule", "epochs", "cycles", "lr", "temperature")
        return {k: getattr(self, k) for k in names}


class Chain:
    """The draws kept so far (on ``store``), their per-draw statistics, and the per-epoch
    history: what a checkpoint holds and the posterior is made of."""

    def __init__(self, plan: Schedule, store, num_data: int) -> None:
        self.plan, self.store, self.num_data = plan, torch.device(store), num_data
        self.draws: dict[str, list[torch.Tensor]] = {}
        self.stats: dict[str, list[float]] = {k: [] for k in STATS}
        self.info: dict[str, Any] = {**plan.info(), "history": []}

    def keep(self, params: dict[str, torch.Tensor], step: int, lp: float, epoch: int) -> None:
        for k, v in params.items():
            self.draws.setdefault(k, []).append(v.detach().to(self.store, copy=True))
        row = {
            "step_size": self.plan.step_size(step),
            "lp": lp * self.num_data,
            "epoch": epoch + 1,
            "cycle": step // self.plan.per_cycle,
        }
        for k in STATS:
            self.stats[k].append(float(row[k]))


def _log_posterior(model: BayesianModel, loader: Iterable, device) -> Callable:
    """``log p(w | D) / N`` on a minibatch, over the model's plain-torch network (BatchNorm
    on its batch's statistics), after checking the first batch."""
    model.to(device)
    x0, y0 = first_batch(loader)
    check_finite(x0, "training inputs")
    net = model.deterministic_net().to(device)
    model.check_targets(y0.to(device), model.first_output(x0.to(device), net))
    net.train()
    for _, layer in normalization_layers(net):
        layer.track_running_stats = False  # batch statistics, no buffer writes under grad
    log_joint, n = LogJoint(model, net), model.num_data

    def log_posterior(params, batch):
        x, y = batch
        return log_joint(params, x, y, n / len(x)) / n, torch.tensor([])

    return log_posterior


def _epoch(plan, chain, update, state, log_posterior, loader, epoch, device):
    """One epoch of the sampler: its state after it and the epoch's row of the history."""
    started, lps, examples = time.perf_counter(), [], 0
    n = chain.num_data
    for i, (x, y) in enumerate(training_batches(loader)):
        step = epoch * plan.steps_per_epoch + i
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        noisy = plan.sampling(step)
        size, decay = plan.step_size(step), plan.momentum_decay
        heat = plan.temperature / n if noisy else 0.0
        state, _ = update(state, (x, y), log_posterior, size, decay, heat)
        lp = float(state.log_posterior)
        if not math.isfinite(lp):
            raise FloatingPointError(
                f"SG-MCMC log posterior became {lp} at epoch {epoch + 1}, step {i + 1}: "
                f"lower lr (now {plan.lr})"
            )
        lps.append(lp)
        examples += len(x)
        if noisy and (step + 1) % plan.thin == 0:
            chain.keep(state.params, step, lp, epoch)
    row = {
        "epoch": epoch + 1,
        "nll": -sum(lps) / len(lps),  # minus the mean log posterior per example
        "step_size": plan.step_size(step),
        "draws": len(chain.stats["lp"]),
        "examples_per_s": examples / (time.perf_counter() - started),
    }
    chain.info["history"].append(row)
    return state, row


def _sampler(method: str, params: dict[str, torch.Tensor]):
    """``(update, state)`` in this module's units, from ``posteriors``. SGLD is its
    ``sgld``. SGHMC's dynamics (underdamped Langevin on the minibatch gradient) are
    integrated with its ``baoa`` splitting, not its ``sghmc`` update: that one moves
    position and momentum from the same old state (explicit Euler), stable only while
    ``lr * curvature < momentum_decay`` (it diverged on the conjugate regression at
    ``lr = 0.02``, where BAOA is stable up to ``lr * curvature < 4``). The step is
    ``eps = sqrt(lr)`` and the friction ``-log(1 - momentum_decay) / eps``, so the
    momentum loses ``momentum_decay`` per step whatever the step size; momenta start
    at 0."""
    with warnings.catch_warnings():  # tensordict's notices about posteriors' own classes
        warnings.simplefilter("ignore", FutureWarning)
        from posteriors.sgmcmc import baoa, sgld

    if method == "sgld":

        def update_sgld(state, batch, log_posterior, lr, decay, temperature):
            return sgld.update(
                state, batch, log_posterior, lr, temperature=temperature, inplace=True
            )

        return update_sgld, sgld.init(params)

    def update_sghmc(state, batch, log_posterior, lr, decay, temperature):
        eps = math.sqrt(lr)
        friction = -math.log1p(-decay) / eps
        return baoa.update(
            state, batch, log_posterior, eps, alpha=friction, temperature=temperature, inplace=True
        )

    return update_sghmc, baoa.init(params, momenta=0.0)


def _start(model: BayesianModel, init: str | Posterior, device) -> dict[str, torch.Tensor]:
    if isinstance(init, Posterior):
        values = {k: v[0] for k, v in init.sample_params(1).items()}
        missing = set(model.weight_sites) - set(values)
        if missing:
            raise ValueError(f"the starting posterior has no draws of {sorted(missing)}")
    else:
        check_choice(init, ("point_estimate",), "init")
        values = model.point_values()
    return {k: values[k].detach().to(device, copy=True) for k in model.weight_sites}


def _momenta(state) -> dict[str, torch.Tensor]:
    return dict(getattr(state, "momenta", None) or {})


def _save(ckpt, epoch, model, state, chain: Chain, loader) -> None:
    save_atomic(
        {
            "format": CHECKPOINT_FORMAT,
            "epoch": epoch,
            "step": epoch * chain.plan.steps_per_epoch,
            "params": dict(state.params),
            "momenta": _momenta(state),
            "draws": chain.draws,
            "stats": chain.stats,
            "history": chain.info["history"],
            "arch": architecture(model),
            "settings": chain.plan.settings(),
            "rng": rng_state(loader),
        },
        ckpt,
    )


def _restore(ckpt, model, state, chain: Chain, loader) -> int:
    saved = load_safe(ckpt, format=CHECKPOINT_FORMAT, keys=CHECKPOINT_KEYS)
    check_architecture(model, saved["arch"], ckpt)
    settings = chain.plan.settings()
    if saved["settings"] != settings:
        raise ValueError(f"{ckpt} was written with {saved['settings']}, not {settings}")
    with torch.no_grad():
        for k, v in saved["params"].items():
            state.params[k].copy_(v)
        for k, v in saved["momenta"].items():
            state.momenta[k].copy_(v)
        state.step.fill_(saved["step"])
    chain.draws.update(saved["draws"])
    chain.stats.update(saved["stats"])
    chain.info["history"][:] = saved.get("history", [])
    set_rng_state(saved["rng"], loader)
    return int(saved["epoch"])


def _posterior(model, chain: Chain, loader) -> Posterior:
    """The kept draws as a posterior: one chain per cycle when every cycle kept as many
    draws (else one chain), cut to whole chains."""
    draws, stats, info = chain.draws, chain.stats, chain.info
    cycles = [int(c) for c in stats["cycle"]]
    counts = [cycles.count(c) for c in sorted(set(cycles))]
    chains = len(counts) if len(set(counts)) == 1 else 1
    stacked = {k: torch.stack(v) for k, v in draws.items()}
    per_chain = len(cycles) // chains
    info = {**info, "chains": chains, "draws_per_chain": per_chain}
    chain_stats = {
        k: [v[c * per_chain : (c + 1) * per_chain] for c in range(chains)] for k, v in stats.items()
    }
    sampler = DrawsSampler(stacked, chains, chain_stats)
    inputs = inputs_from_loader(model, loader)
    device = next(iter(model.point_values().values())).device
    return Posterior(model, sampler, info, inputs.to(device) if inputs is not None else None)
