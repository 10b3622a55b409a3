"""The SVI loop behind both phases of ``fit_svi`` (the MAP warm start and the posterior):
epochs of steps, the learning-rate schedule, BatchNorm modes, per-epoch statistics, logs,
checkpoints, and a divergence that keeps the last finite state."""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ..._checks import check_finite
from ..._state import preserved
from ...models import BayesianModel
from ...nn.normalization import freeze_statistics, has_normalization, inputs_from_loader
from ...posterior import Posterior
from ..shared.distributed import Ranks, average_gradients
from ..shared.log import JsonLinesLog
from ..shared.loop import Hooks, multi_tensor, num_batches, run_epoch
from .checkpoint import MAP_CHECKPOINT_NAME, RunObjects, optimizer_settings, restore, save
from .families import Delta, family_from_spec, make_guide
from .sampler import GuideSampler
from .step import InvalidParameters, make_objective

__all__ = ["train_guide", "warm_start", "after_warm_start", "TrainingDiverged", "EpochStats"]

#: the MAP warm start trains as the point-estimate baseline does (Adam, whatever the
#: optimizer of the SVI phase)
MAP_LR = 1e-3

EpochStats = dict[str, float]
Callback = Callable[[int, EpochStats, Posterior], bool | None]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or Inf; ``posterior`` holds the last finite state."""

    def __init__(self, message: str, posterior: Posterior) -> None:
        super().__init__(message)
        self.posterior = posterior


def warm_start(model, loader, spec, map_epochs, training: Training) -> list[EpochStats]:
    """With ``init="map"``, fit the MAP weights (a ``delta`` guide: loss ``-log p(D | w) -
    log p(w)``) and make them the network's point values, where the guide's means start.
    Learned prior scales stay fixed here: jointly with the weights they would shrink to 0."""
    if spec["init"] != "map":
        return []
    info: dict[str, Any] = {"engine": "map", "history": []}
    with preserved(model):  # the learned prior scales train again after, if they did before
        for p in model.prior_parameters():
            p.requires_grad_(False)
        ckpt = training.ckpt
        map_phase = training.replace(
            epochs=map_epochs or training.epochs,
            optimizer=torch.optim.Adam,
            lr=MAP_LR,
            lr_decay=1.0,
            reparam=None,
            kl_weight=1.0,
            temperature=1.0,
            callbacks=(),
            ckpt=ckpt / MAP_CHECKPOINT_NAME if ckpt is not None else None,
        )
        spec = {**Delta().spec(), "init": "point_estimate"}
        post = train_guide(model, loader, spec, False, info, map_phase)
    values = post.sampler.guide.median()  # also holds hierarchical scales: not point values
    model.set_point_values({site: values[site] for site in model.weight_sites})
    return info["history"]


def after_warm_start(spec: dict[str, Any], normalization: str) -> tuple[dict[str, Any], bool]:
    """The SVI phase's guide spec and whether it keeps normalisation statistics fixed: after
    a MAP warm start the guide starts at the (MAP) point values, and with
    ``normalization="map"`` the statistics stay."""
    warm = spec["init"] == "map"
    spec = {**spec, "init": "point_estimate" if warm else spec["init"]}
    return spec, warm and normalization == "map"


@dataclass(frozen=True)
class Training:
    """How one SVI run trains: the settings that travel together from ``fit_svi`` through
    the MAP warm start into the loop (``replace`` makes the warm start's and the trial
    fits' variants)."""

    epochs: int
    optimizer: type[torch.optim.Optimizer]
    lr: float
    lr_decay: float
    device: torch.device
    #: a first batch's inputs and the network's output on one of them (checks, shapes)
    first: tuple[torch.Tensor, torch.Tensor]
    step: str = "auto"
    reparam: str | None = None
    kl_weight: float | Callable[[float], float] = 1.0
    temperature: float = 1.0
    progress: bool = True
    log: JsonLinesLog | None = None
    ranks: Ranks | None = None
    callbacks: tuple[Callback, ...] = ()
    ckpt: Path | None = None
    resume: bool = False

    def replace(self, **changes: Any) -> Training:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class _Guided:
    """One SVI run's objects: the guide, its objective, the optimiser and its schedule, and
    the posterior they make (the model is the caller's)."""

    guide: nn.Module
    elbo: Callable
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    posterior: Posterior
    #: None where the loader cannot say (a generator): the schedule then decays per epoch
    batches_per_epoch: int | None


def _build(model, loader, spec, frozen_stats: bool, info, t: Training) -> _Guided:
    """The guide of ``spec`` on ``t.device``, its objective, optimiser, schedule and
    posterior (with per-draw statistics estimated on the loader's inputs unless frozen)."""
    x0, _ = t.first
    q = make_guide(model, family_from_spec(spec), spec["init"])
    with torch.no_grad():
        q(x0)
    q.to(t.device)
    objective = make_objective(model, q, t.reparam, t.step, info)
    opt = t.optimizer(
        param_groups(model, q, t.lr, frozen_stats), lr=t.lr, **multi_tensor(t.optimizer)
    )
    # The learning rate decays per step where the loader says how many it has, and per
    # epoch where it cannot (a generator, an IterableDataset): per-step decay computed from
    # an unknown length would spend all of it on the first step.
    batches = num_batches(loader)
    steps = t.epochs * batches if batches else t.epochs
    schedule = torch.optim.lr_scheduler.ExponentialLR(opt, t.lr_decay ** (1.0 / steps))
    inputs = None if frozen_stats else inputs_from_loader(model, loader)
    posterior = Posterior(
        model,
        GuideSampler(q, spec, tuple(x0.shape[1:])),
        info,
        None if inputs is None else inputs.to(t.device),  # predicting moves nothing
    )
    return _Guided(q, objective, opt, schedule, posterior, batches)


def _epoch(model, loader, run: _Guided, t: Training, epoch: int, first: bool, kept) -> EpochStats:
    """One epoch of SVI steps and its statistics. ``kept`` is the pair of snapshots a
    divergence falls back to: this epoch's start, or the one before if it fails at once."""
    sane, earlier = kept
    batches = run.batches_per_epoch

    def diverged(message: str, step: int) -> TrainingDiverged:
        _restore_snapshot(model, run.guide, sane if step else earlier)
        run.posterior.cached = {}
        return TrainingDiverged(f"{message}; {_KEPT}", run.posterior)

    def objective(x, y, step):
        fraction = (epoch + step / batches) / t.epochs if batches else epoch / t.epochs
        weight = t.kl_weight(fraction) if callable(t.kl_weight) else t.kl_weight
        try:
            terms = run.elbo(x, y, t.temperature != 1.0)
        except InvalidParameters as err:
            message = f"SVI parameters became invalid at {_where(epoch, step)} ({err})"
            raise diverged(message, step) from err
        loss = terms.loss(weight, t.temperature)
        return loss, torch.stack([loss, terms.data, terms.kl])  # averaged over the epoch

    def nonfinite(loss, terms, step):
        return diverged(
            f"SVI loss became {loss.item()} at {_where(epoch, step)} (data term "
            f"{terms[1].item():.4g}, KL {terms[2].item():.4g})",
            step,
        )

    trained = [p for group in run.optimizer.param_groups for p in group["params"]]
    out0 = t.first[1]
    hooks = Hooks(
        check=(lambda x, y: check_batch(model, x, y, out0)) if first else None,
        after_backward=(lambda: average_gradients(trained, t.ranks))
        if t.ranks is not None
        else None,
        schedule=run.schedule if batches else None,
    )
    started = time.perf_counter()
    means, examples = run_epoch(loader, t.device, objective, run.optimizer, nonfinite, hooks)
    if not batches:
        run.schedule.step()
    stats = dict(zip(("loss", "data", "kl"), means.tolist(), strict=True))
    stats["lr"] = run.optimizer.param_groups[0]["lr"]
    stats["nll"] = -stats.pop("data") / model.num_data
    stats["epoch"] = epoch + 1
    stats["examples_per_s"] = examples / (time.perf_counter() - started)
    return stats


def train_guide(
    model: BayesianModel,
    loader: Iterable,
    spec: dict[str, Any],
    frozen_stats: bool,
    info: dict[str, Any],
    training: Training,
) -> Posterior:
    """One SVI run of ``spec``'s guide; the loop behind both phases of ``fit_svi``."""
    t = training
    run = _build(model, loader, spec, frozen_stats, info, t)
    objects = RunObjects(model, run.guide, run.optimizer, run.schedule, loader)
    start = 0
    if t.resume and t.ckpt is not None and t.ckpt.exists():
        start = restore(t.ckpt, objects, info, spec, optimizer_settings(run.optimizer, t.lr))
    desc = "map" if info.get("engine") == "map" else "svi"
    bar = tqdm(
        range(start, t.epochs), desc=desc, disable=not t.progress, initial=start, total=t.epochs
    )
    model.train()
    if frozen_stats:  # every weight draw is normalised as at prediction
        freeze_statistics(model)
    sane = earlier = _snapshot(model, run.guide)
    for epoch in bar:
        if hasattr(getattr(loader, "sampler", None), "set_epoch"):
            loader.sampler.set_epoch(epoch)  # a distributed shard reshuffles every epoch
        if epoch > start:
            earlier, sane = sane, _snapshot(model, run.guide)
        stats = _epoch(model, loader, run, t, epoch, epoch == start, (sane, earlier))
        info["history"].append(stats)
        bar.set_postfix(
            nll=f"{stats['nll']:.4f}",
            kl=f"{stats['kl']:.4g}",
            ex_s=f"{stats['examples_per_s']:.0f}",
        )
        if t.log is not None:
            t.log.write(desc, stats, last=epoch + 1 == t.epochs)
        if t.ckpt is not None and (t.ranks is None or t.ranks.main):
            save(t.ckpt, epoch + 1, objects, spec, t.lr, info["history"])
        run.posterior.cached = {}  # draws a callback kept belong to the guide before this epoch
        if any(cb(epoch + 1, stats, run.posterior) for cb in t.callbacks):
            break
    model.eval()
    return run.posterior


def param_groups(model, guide, lr: float, frozen_stats: bool) -> list[dict[str, Any]]:
    """The optimizer's parameter groups. With normalisation statistics fixed at the MAP, the
    means and the deterministic parameters move at the MAP's ``MAP_LR`` (at most ``lr``),
    so the function stays one those statistics normalise; the guide's scales, which start
    far from their optimum, move at ``lr``. Networks without normalisation layers train
    everything at ``lr`` (slowing their means cost the zoo CNN NLL, RESULTS)."""
    rest = [p for p in model.parameters() if p.requires_grad]
    raw_scale = getattr(guide, "raw_scale", None)
    if not (frozen_stats and has_normalization(model)) or raw_scale is None:
        return [{"params": [*guide.parameters(), *rest]}]
    slow = [guide.loc, *rest]
    return [{"params": [raw_scale]}, {"params": slow, "lr": min(lr, MAP_LR)}]


_KEPT = (
    "the posterior holds the state at the start of the last epoch whose first loss was "
    "finite. Try a lower lr or init_scale."
)


def _snapshot(model: nn.Module, guide: nn.Module) -> tuple[dict, dict]:
    return copy.deepcopy(model.state_dict()), copy.deepcopy(guide.state_dict())


def _restore_snapshot(model: nn.Module, guide: nn.Module, snapshot: tuple[dict, dict]) -> None:
    model.load_state_dict(snapshot[0])
    guide.load_state_dict(snapshot[1])


def _where(epoch: int, step: int) -> str:
    return f"epoch {epoch + 1}, step {step + 1}"


def check_batch(model: BayesianModel, x: torch.Tensor, y: torch.Tensor, out: torch.Tensor) -> None:
    """Validate one batch; ``out`` is the network's output on one example (its shape)."""
    check_finite(x, "training inputs")
    model.check_targets(y, out)
