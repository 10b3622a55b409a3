"""Stochastic variational inference: ``fit_svi(model, loader, ...) -> Posterior``.

The loop is Pyro's SVI step written out with a torch optimizer: trace the guide, replay
the model, take the negative ELBO, step. Writing it out gives us the data and KL terms
separately (progress, KL annealing, tempering), the model's deterministic parameters
(e.g. BatchNorm) in the same optimizer, and an optimizer state that checkpoints.
"""

from __future__ import annotations

import contextlib
import copy
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyro
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .._checks import check_choice, check_finite
from .._state import keeps_caller_state, preserved, seeded
from ..checkpoint import (
    check_run_dir,
    load_safe,
    load_state,
    rng_state,
    save_atomic,
    set_rng_state,
)
from ..device import resolve
from ..models import BayesianModel
from ..nn.normalization import freeze_statistics, has_normalization, inputs_from_loader
from ..posterior import Posterior, architecture, check_architecture
from .collapse import check_collapse, training_null_nll
from .distributed import Ranks, average_gradients, broadcast, setup, shard
from .elbo import elbo_terms
from .functional import STEPS, functional_elbo
from .guides import GuideSampler, make_guide
from .initial import INITS
from .log import JsonLinesLog
from .loop import OPTIMIZERS, first_batch, multi_tensor, num_batches, run_epoch
from .reparam import make_reparam
from .starts import multi_start
from .tempering import choose_temperature

__all__ = [
    "fit_svi",
    "TrainingDiverged",
    "linear_warmup",
    "EpochStats",
    "DEFAULT_TEMPERATURE",
    "NORMALIZED_TEMPERATURE",
    "recommended_temperature",
]

CHECKPOINT_NAME = "svi.pt"
MAP_CHECKPOINT_NAME = "map.pt"
CHECKPOINT_FORMAT = "bayesnet.svi/1"
CHECKPOINT_KEYS = (
    "epoch",
    "spec",
    "arch",
    "model",
    "guide",
    "optimizer",
    "schedule",
    "rng",
    "history",
)
#: the recommended temperature and learning-rate decay (benchmarks/quality.py); networks
#: with normalisation layers get a colder posterior (see ``recommended_temperature``)
DEFAULT_TEMPERATURE = 0.01
NORMALIZED_TEMPERATURE = 0.003
DEFAULT_LR_DECAY = 0.1
#: the MAP warm start trains as the point-estimate baseline does (Adam, whatever the
#: optimizer of the SVI phase)
MAP_LR = 1e-3
#: how BatchNorm statistics are kept in the SVI phase (see ``fit_svi``)
NORMALIZATIONS = ("map", "per_draw")

EpochStats = dict[str, float]
Callback = Callable[[int, EpochStats, Posterior], bool | None]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or Inf; ``posterior`` holds the last finite state."""

    def __init__(self, message: str, posterior: Posterior) -> None:
        super().__init__(message)
        self.posterior = posterior


def linear_warmup(fraction: float) -> Callable[[float], float]:
    """KL weight rising linearly from 0 to 1 over the first ``fraction`` of training."""
    return lambda progress: min(1.0, progress / fraction) if fraction > 0 else 1.0


@keeps_caller_state
def fit_svi(
    model: BayesianModel,
    loader: Iterable,
    *,
    epochs: int = 30,
    guide: str = "mean_field",
    init: str = "map",
    map_epochs: int | None = None,
    init_scale: float = 1e-2,
    rank: int | None = None,
    reparam: str | None = None,
    step: str = "auto",
    kl_weight: float | Callable[[float], float] = 1.0,
    temperature: float | str | None = None,
    normalization: str = "map",
    optimizer: str | type[torch.optim.Optimizer] = "adam",
    lr: float = 1e-2,
    lr_decay: float = DEFAULT_LR_DECAY,
    device: str | torch.device = "auto",
    callbacks: Iterable[Callback] = (),
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    seed: int | None = None,
    validation: float = 0.1,
    log: str | Path | None = None,
    log_every: int = 1,
    distributed: bool = False,
    starts: int = 1,
) -> Posterior:
    """Fit a variational posterior to ``model`` on minibatches from ``loader``.

    The defaults are the recommended configuration (measured in ``benchmarks/quality.py``):
    a maximum-a-posteriori warm start of the means, then a mean-field Normal posterior
    tempered to ``T = 0.01``, fitted with Adam at ``lr = 1e-2`` decaying tenfold. A network
    with normalisation layers keeps their MAP statistics, and its posterior stays closer to
    the MAP: ``T = 0.003`` and the means at ``MAP_LR`` (``recommended_temperature``).

    - ``guide``: ``"mean_field"`` (independent Normals, analytic KL against Normal priors),
      ``"low_rank"`` (``rank``), ``"full_rank"``, ``"delta"`` (MAP);
    - ``init``: where the guide's means start: ``"map"`` (default) first fits the
      maximum-a-posteriori weights for ``map_epochs`` epochs (default ``epochs``) at
      ``MAP_LR`` and starts there; ``"point_estimate"`` starts at the network's current
      weights, ``"prior"`` at a prior draw. Scales start at ``init_scale``. After a MAP
      warm start, normalisation layers keep the MAP's running statistics, so SVI fits the
      same function that ``predict`` evaluates;
    - ``reparam``: None, ``"local"`` (local reparameterization) or ``"flipout"``, both
      with the mean-field guide;
    - ``step``: ``"auto"`` (default) runs the functional step (``functional.py``: the same
      ELBO draw for draw, without Pyro's tracing) wherever the model and guide allow it and
      the traced one elsewhere; ``"traced"`` forces Pyro's tracing, ``"functional"`` refuses
      what it cannot express. ``info["step"]`` says which ran (``info["step_fallback"]``
      why not the functional one);
    - ``normalization``: how BatchNorm layers are treated in the SVI phase. ``"map"``
      (default): after a MAP warm start they keep the MAP's running statistics (eval
      mode), in training and at prediction; ``"per_draw"``: they normalise with their
      batch's statistics in training, and every draw predicts with its own statistics,
      estimated on ``NORMALIZATION_INPUTS`` training inputs (``Posterior.normalization``),
      as SWAG does. Without a MAP warm start the statistics are always per draw;
    - ``kl_weight``: a number or ``f(progress in [0, 1]) -> weight`` (``linear_warmup``);
    - ``temperature``: the posterior is tempered to ``p(w | D)^(1/T)`` (None: the
      ``recommended_temperature`` for the network). An untempered
      (``T = 1``) mean-field posterior of a network with far more weights than examples
      is often the prior itself; ``"auto"`` picks ``T`` from ``tempering.TEMPERATURES`` by the
      predictive NLL on a ``validation`` fraction carved from the loader's data set, then
      fits on all of it (the scores are in ``info["temperature_scores"]``);
    - ``lr_decay``: the learning rate falls exponentially to ``lr * lr_decay``;
    - ``callbacks``: ``f(epoch, stats, posterior)`` after each epoch; returning True stops;
    - ``starts``: how many independent fits to mix. Each start after the first begins
      from fresh initial weights (``model.reset_parameters()``, seeded ``seed + k``), runs
      the whole fit (its own MAP warm start, so its own mode) and the posterior is their
      equal-weight mixture (``Posterior.mixture``), which covers several modes where one
      mean-field Gaussian covers one: better NLL and out-of-distribution detection at
      ``starts`` times the cost (``benchmarks/RESULTS.md``). ``temperature="auto"`` is
      picked by the first start; with ``checkpoint_dir`` or ``log`` every start ``k``
      writes under ``start<k>/`` / to ``<log stem>_start<k>``; ``info["starts"]`` holds
      every start's own ``info``;
    - ``distributed``: data-parallel SVI under ``torchrun`` (``infer/distributed.py``):
      each process fits on its shard of the loader's data set, gradients are averaged
      across processes before every step (the ELBO of the global batch), process 0 alone
      writes checkpoints, the log and progress; the others return the same posterior;
    - ``log``: a JSON-lines file that gets every ``log_every``-th epoch's statistics of both
      phases (``phase``: ``map`` or ``svi``; loss, NLL, KL, examples per second) as it
      ends; the progress bar shows examples per second and the remaining time;
    - ``checkpoint_dir``: one checkpoint file per phase (``map.pt``, ``svi.pt``), rewritten
      atomically after each epoch; ``resume=True`` continues from them and ends where an
      uninterrupted run would (with the stored optimizer state and learning rate: a
      different ``lr`` or ``optimizer`` warns and is not applied). A directory that already
      holds a checkpoint is not overwritten by a fresh run unless ``overwrite=True``.

    A NaN/Inf loss raises ``TrainingDiverged`` carrying the last finite state. A fit whose
    training NLL is no better than a guess that ignores the inputs warns with
    ``CollapseWarning``; ``info["collapsed"]`` records the verdict.
    """
    if not isinstance(starts, int) or starts < 1:
        raise ValueError(f"starts must be a positive int, got {starts!r}")
    if starts > 1:
        if distributed:
            raise ValueError("starts > 1 does not run distributed: fit each start on its own")
        options = dict(locals())
        for name in ("model", "starts", "seed", "temperature", "checkpoint_dir", "log"):
            del options[name]
        return _multi_start(model, starts, seed, temperature, checkpoint_dir, log, options)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if temperature is None:
        temperature = recommended_temperature(model, init)
    if temperature != "auto" and (isinstance(temperature, str) or not temperature > 0):
        raise ValueError(f"temperature must be > 0 or 'auto', got {temperature!r}")
    check_choice(init, (*INITS, "map"), "init")
    check_choice(normalization, NORMALIZATIONS, "normalization")
    check_choice(step, STEPS, "step")
    make_reparam(reparam)  # validate the name before any work
    if reparam is not None and guide != "mean_field":
        raise ValueError(f"reparam={reparam!r} needs guide='mean_field' (got {guide!r})")
    if isinstance(optimizer, str):
        optimizer = OPTIMIZERS[check_choice(optimizer, OPTIMIZERS, "optimizer")]
    if not 0 < lr_decay <= 1:
        raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay}")
    if not model.weight_sites:
        raise ValueError("the model has no Bayesian layers: use bn.nn layers or bn.bayesianize")
    device = resolve(device)
    ranks = None
    if distributed:
        if temperature == "auto":
            raise ValueError("temperature='auto' does not run distributed: pick T first")
        ranks = setup(device)
        model.to(device)
        broadcast(model, ranks)
        loader = shard(loader, ranks, seed or 0)
        progress = progress and ranks.main
        log = log if ranks.main else None
    model.to(device)
    x0, y0 = first_batch(loader)
    x0, y0 = x0.to(device), y0.to(device)
    with torch.no_grad():
        out0 = model.deterministic_net().to(device).eval()(x0[:1])
    _check_batch(model, x0, y0, out0)

    train = {
        "epochs": epochs,
        "reparam": reparam,
        "kl_weight": kl_weight,
        "optimizer": optimizer,
        "lr": lr,
        "lr_decay": lr_decay,
        "device": device,
        "progress": progress,
        "first": (x0, out0),
        "step": step,
        "log": JsonLinesLog(log, log_every) if log is not None else None,
        "ranks": ranks,
    }
    spec = {"name": guide, "init": init, "init_scale": float(init_scale), "rank": rank}
    info: dict[str, Any] = {"engine": "svi", "guide": guide, "reparam": reparam or "none"}
    if temperature == "auto":
        temperature, info["temperature_scores"] = _auto_temperature(
            model, loader, validation, spec, map_epochs, train, normalization
        )
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if ckpt is not None:
        check_run_dir(ckpt, (MAP_CHECKPOINT_NAME, CHECKPOINT_NAME), resume, overwrite)
    info["map_history"] = _warm_start(model, loader, spec, map_epochs, train, ckpt, resume)
    info.update({"temperature": temperature, "init": init, "history": []})
    post = _train(
        model,
        loader,
        *_after_warm_start(spec, normalization),
        info,
        temperature=temperature,
        callbacks=callbacks,
        ckpt=ckpt / CHECKPOINT_NAME if ckpt is not None else None,
        resume=resume,
        **train,
    )
    check_collapse(post.info, training_null_nll(loader, model), model)
    return post


def _multi_start(model, starts, seed, temperature, checkpoint_dir, log, options) -> Posterior:
    """``starts`` fits of ``model`` through ``multi_start``, each after the first from
    fresh initial weights; a temperature chosen by the first start is the others' too."""
    pristine = copy.deepcopy(model)

    def one(k: int, seed_k: int | None) -> Posterior:
        nonlocal temperature
        member = model
        if k:
            member = copy.deepcopy(pristine)
            with seeded(seed_k):
                member.reset_parameters()
        post = fit_svi(
            member,
            seed=seed_k,
            temperature=temperature,
            checkpoint_dir=None if checkpoint_dir is None else Path(checkpoint_dir) / f"start{k}",
            log=None if log is None else _start_log(Path(log), k),
            **options,
        )
        temperature = post.info["temperature"]
        return post

    return multi_start(one, starts, seed)


def _start_log(path: Path, k: int) -> Path:
    return path if k == 0 else path.with_name(f"{path.stem}_start{k}{path.suffix}")


def recommended_temperature(model: BayesianModel, init: str = "map") -> float:
    """``fit_svi``'s default temperature: ``DEFAULT_TEMPERATURE``, or the colder
    ``NORMALIZED_TEMPERATURE`` when a MAP warm start fixes normalisation statistics.

    Those statistics are the MAP weights' activations; weight draws far from the MAP are
    normalised wrongly, so the posterior of a normalised network is kept closer to it
    (measured on the BatchNorm CNN of ``benchmarks/quality.py``: at ``T = 0.01`` its
    predictive is underconfident and no better than the softmax)."""
    return (
        NORMALIZED_TEMPERATURE
        if has_normalization(model) and init == "map"
        else DEFAULT_TEMPERATURE
    )


def _warm_start(model, loader, spec, map_epochs, train, ckpt, resume) -> list[EpochStats]:
    """With ``init="map"``, fit the MAP weights (a ``delta`` guide: loss ``-log p(D | w) -
    log p(w)``) and make them the network's point values, where the guide's means start.
    Learned prior scales stay fixed here: jointly with the weights they would shrink to 0."""
    if spec["init"] != "map":
        return []
    info: dict[str, Any] = {"engine": "map", "history": []}
    with preserved(model):  # the learned prior scales train again after, if they did before
        for p in model.prior_parameters():
            p.requires_grad_(False)
        post = _train(
            model,
            loader,
            {"name": "delta", "init": "point_estimate", "init_scale": 1.0, "rank": None},
            False,
            info,
            temperature=1.0,
            callbacks=(),
            ckpt=ckpt / MAP_CHECKPOINT_NAME if ckpt is not None else None,
            resume=resume,
            **{
                **train,
                "epochs": map_epochs or train["epochs"],
                "optimizer": torch.optim.Adam,
                "lr": MAP_LR,
                "lr_decay": 1.0,
                "reparam": None,
                "kl_weight": 1.0,
            },
        )
    values = post.sampler.guide.median()  # also holds hierarchical scales: not point values
    model.set_point_values({site: values[site] for site in model.weight_sites})
    return info["history"]


def _after_warm_start(spec: dict[str, Any], normalization: str) -> tuple[dict[str, Any], bool]:
    """The SVI phase's guide spec and whether it keeps normalisation statistics fixed: after
    a MAP warm start the guide starts at the (MAP) point values, and with
    ``normalization="map"`` the statistics stay."""
    warm = spec["init"] == "map"
    spec = {**spec, "init": "point_estimate" if warm else spec["init"]}
    return spec, warm and normalization == "map"


def _auto_temperature(model, loader, validation, spec, map_epochs, train, normalization):
    """``tempering.choose_temperature`` over SVI: one MAP warm start on the loader's data
    less the ``validation`` fraction, shared by every candidate's SVI phase."""
    quiet = {**train, "progress": False, "log": None}  # the trial fits are not the run
    base = None

    def trial(t: float, data: DataLoader) -> Posterior:
        nonlocal base
        if base is None:
            base = copy.deepcopy(model)
            base.num_data = len(data.dataset)
            _warm_start(base, data, spec, map_epochs, quiet, None, False)
        return _train(
            copy.deepcopy(base),
            data,
            *_after_warm_start(spec, normalization),
            {"history": []},
            temperature=t,
            callbacks=(),
            ckpt=None,
            resume=False,
            **quiet,
        )

    return choose_temperature(trial, loader, validation=validation)


def _train(
    model: BayesianModel,
    loader: Iterable,
    spec: dict[str, Any],
    frozen_stats: bool,
    info: dict[str, Any],
    *,
    epochs: int,
    reparam: str | None,
    kl_weight: float | Callable[[float], float],
    temperature: float,
    optimizer: type[torch.optim.Optimizer],
    lr: float,
    lr_decay: float,
    device: torch.device,
    progress: bool,
    first: tuple[torch.Tensor, torch.Tensor],
    step: str,
    callbacks: Iterable[Callback],
    ckpt: Path | None,
    resume: bool,
    log: JsonLinesLog | None = None,
    ranks: Ranks | None = None,
) -> Posterior:
    """One SVI run of ``spec``'s guide; the loop behind both phases of ``fit_svi``."""
    x0, out0 = first
    q = make_guide(model, **spec)
    with torch.no_grad():
        q(x0)
    q.to(device)
    elbo = _elbo(model, q, reparam, step, info)
    opt = optimizer(_param_groups(model, q, lr, frozen_stats), lr=lr, **multi_tensor(optimizer))
    # The learning rate decays per step where the loader says how many it has, and per
    # epoch where it cannot (a generator, an IterableDataset): per-step decay computed from
    # an unknown length would spend all of it on the first step.
    batches_per_epoch = num_batches(loader)
    steps = epochs * batches_per_epoch if batches_per_epoch else epochs
    schedule = torch.optim.lr_scheduler.ExponentialLR(opt, lr_decay ** (1.0 / steps))
    inputs = None if frozen_stats else inputs_from_loader(model, loader)
    posterior = Posterior(
        model,
        GuideSampler(q, spec, tuple(x0.shape[1:])),
        info,
        None if inputs is None else inputs.to(device),  # predicting moves nothing
    )

    start = 0
    if resume and ckpt is not None and ckpt.exists():
        start = _restore(ckpt, model, q, opt, schedule, loader, info, spec, _settings(opt, lr))

    def checkpoint(epoch: int) -> None:
        if ckpt is not None and (ranks is None or ranks.main):
            save_atomic(
                {
                    "format": CHECKPOINT_FORMAT,
                    "epoch": epoch,
                    "spec": spec,
                    "arch": architecture(model),
                    "model": model.state_dict(),
                    "guide": q.state_dict(),
                    "optimizer": opt.state_dict(),
                    "schedule": schedule.state_dict(),
                    "optimizer_settings": _settings(opt, lr),
                    "rng": rng_state(loader),
                    "history": info["history"],
                },
                ckpt,
            )

    desc = "map" if info.get("engine") == "map" else "svi"
    bar = tqdm(range(start, epochs), desc=desc, disable=not progress, initial=start, total=epochs)
    model.train()
    if frozen_stats:  # every weight draw is normalised as at prediction
        freeze_statistics(model)
    # A diverged run keeps an epoch's starting state whose first loss was finite: the start
    # of the current epoch, or of the one before if the current one failed at once.
    sane = earlier = _snapshot(model, q)

    def diverged(message: str, snapshot: tuple[dict, dict]) -> TrainingDiverged:
        _restore_snapshot(model, q, snapshot)
        return TrainingDiverged(f"{message}; {_KEPT}", posterior)

    trained = [p for group in opt.param_groups for p in group["params"]]
    for epoch in bar:
        if hasattr(getattr(loader, "sampler", None), "set_epoch"):
            loader.sampler.set_epoch(epoch)  # a distributed shard reshuffles every epoch
        if epoch > start:
            earlier, sane = sane, _snapshot(model, q)
        started = time.perf_counter()

        def objective(x, y, step, epoch=epoch, sane=sane, earlier=earlier):
            fraction = (
                (epoch + step / batches_per_epoch) / epochs if batches_per_epoch else epoch / epochs
            )
            weight = kl_weight(fraction) if callable(kl_weight) else kl_weight
            try:
                terms = elbo(x, y, temperature != 1.0)
            except _InvalidParameters as err:
                raise diverged(
                    f"SVI parameters became invalid at {_where(epoch, step)} ({err})",
                    sane if step else earlier,
                ) from err
            loss = terms.loss(weight, temperature)
            return loss, torch.stack([loss, terms.data, terms.kl])  # averaged over the epoch

        def nonfinite(loss, terms, step, epoch=epoch, sane=sane, earlier=earlier):
            return diverged(
                f"SVI loss became {loss.item()} at {_where(epoch, step)} (data term "
                f"{terms[1].item():.4g}, KL {terms[2].item():.4g})",
                sane if step else earlier,
            )

        means, examples = run_epoch(
            loader,
            device,
            objective,
            opt,
            on_nonfinite=nonfinite,
            check=(lambda x, y: _check_batch(model, x, y, out0)) if epoch == start else None,
            after_backward=(lambda: average_gradients(trained, ranks))
            if ranks is not None
            else None,
            schedule=schedule if batches_per_epoch else None,
        )
        if not batches_per_epoch:
            schedule.step()
        stats = dict(zip(("loss", "data", "kl"), means.tolist(), strict=True))
        stats["lr"] = opt.param_groups[0]["lr"]
        seconds = time.perf_counter() - started
        stats["nll"] = -stats.pop("data") / model.num_data
        stats["epoch"] = epoch + 1
        stats["examples_per_s"] = examples / seconds
        info["history"].append(stats)
        bar.set_postfix(
            nll=f"{stats['nll']:.4f}", kl=f"{stats['kl']:.4g}", ex_s=f"{examples / seconds:.0f}"
        )
        if log is not None:
            log.write(desc, stats, last=epoch + 1 == epochs)
        checkpoint(epoch + 1)
        if any(cb(epoch + 1, stats, posterior) for cb in callbacks):
            break
    model.eval()
    return posterior


def _param_groups(model, guide, lr: float, frozen_stats: bool) -> list[dict[str, Any]]:
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


def _elbo(model, guide, reparam, step: str, info: dict[str, Any]):
    """``(x, y, entropy) -> ELBOTerms`` for one step: the functional step where it can
    express the model and guide (``step`` allowing), else the traced one.

    Parameters that are no longer finite, or finite ones too large for the network's
    numbers to stay finite, make torch's or Pyro's distribution validation raise a
    ValueError; the loop reports that as a divergence. What decides is the numbers, not
    the error's wording: a ValueError whose step, run again without validation, gives
    finite log densities is a different problem and propagates as it is."""
    fast, why = functional_elbo(model, guide, reparam) if step != "traced" else (None, "")
    if step == "functional" and fast is None:
        raise ValueError(f"step='functional' cannot express {why}: use step='auto' or 'traced'")
    info["step"] = "functional" if fast is not None else "traced"
    if why:
        info["step_fallback"] = why

    def traced(x, y, entropy):
        handler = make_reparam(reparam)
        with handler if handler is not None else contextlib.nullcontext():
            return elbo_terms(model, guide, x, y, entropy=entropy)

    def terms(x, y, entropy):
        try:
            return (fast or traced)(x, y, entropy)
        except ValueError as err:
            bad = _nonfinite(guide, model)
            if bad:
                raise _InvalidParameters(f"{', '.join(bad[:3])} not finite") from err
            with pyro.validation_enabled(False):  # the same step, its numbers unchecked
                try:
                    again = (fast or traced)(x, y, entropy)
                except ValueError:
                    raise err from None
            if torch.isfinite(again.data) and torch.isfinite(again.kl):
                raise  # finite numbers: the ValueError is not about them
            raise _InvalidParameters("the step's log densities are not finite") from err

    return terms


class _InvalidParameters(ValueError):
    """Guide or model parameters are no longer finite."""


def _nonfinite(*modules: nn.Module) -> list[str]:
    """Names of the parameters of ``modules`` holding NaN or Inf."""
    return [
        name
        for module in modules
        for name, p in module.named_parameters()
        if not torch.isfinite(p).all()
    ]


def _where(epoch: int, step: int) -> str:
    return f"epoch {epoch + 1}, step {step + 1}"


def _check_batch(model: BayesianModel, x: torch.Tensor, y: torch.Tensor, out: torch.Tensor) -> None:
    """Validate one batch; ``out`` is the network's output on one example (its shape)."""
    check_finite(x, "training inputs")
    model.check_targets(y, out)


def _settings(opt: torch.optim.Optimizer, lr: float) -> dict[str, Any]:
    return {"optimizer": type(opt).__name__, "lr": float(lr)}


def _restore(ckpt: Path, model, guide, opt, schedule, loader, info, spec, settings) -> int:
    state = load_safe(ckpt, format=CHECKPOINT_FORMAT, keys=CHECKPOINT_KEYS)
    stored = state.get("optimizer_settings", settings)
    if stored != settings:
        warnings.warn(
            f"{ckpt} was written with {stored}; resuming continues its optimizer state and "
            f"schedule as stored, not {settings}. Start a new run (overwrite=True) to change "
            "them.",
            stacklevel=4,
        )
    check_architecture(model, state["arch"], ckpt)
    if state["spec"] != spec:
        raise ValueError(f"{ckpt} was written with guide settings {state['spec']}, not {spec}")
    load_state(model, state["model"], ckpt, "model state")
    load_state(guide, state["guide"], ckpt, "guide state")
    load_state(opt, state["optimizer"], ckpt, "optimizer state")
    load_state(schedule, state["schedule"], ckpt, "learning-rate schedule")
    set_rng_state(state["rng"], loader)
    info["history"][:] = state["history"]
    return int(state["epoch"])
