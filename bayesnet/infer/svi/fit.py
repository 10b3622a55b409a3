"""Stochastic variational inference: ``fit_svi(model, loader, ...) -> Posterior``.

The loop is Pyro's SVI step written out with a torch optimizer: trace the guide, replay
the model, take the negative ELBO, step. Writing it out gives us the data and KL terms
separately (progress, KL annealing, tempering), the model's deterministic parameters
(e.g. BatchNorm) in the same optimizer, and an optimizer state that checkpoints.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from ..._checks import check_choice, check_starts
from ..._state import keeps_caller_state, seeded
from ...checkpoint import (
    check_run_dir,
)
from ...data.loaders import count_examples, takes_data
from ...device import resolve
from ...models import BayesianModel
from ...nn.convert import bayesian_layers
from ...nn.normalization import has_normalization, normalization_layers
from ...posterior import Posterior
from ...run import SHORTHANDS, Run, run_settings
from ..shared.collapse import check_collapse, training_null_nll
from ..shared.distributed import broadcast, setup, shard
from ..shared.log import JsonLinesLog
from ..shared.loop import OPTIMIZERS, first_batch
from ..shared.starts import multi_start
from ..shared.tempering import choose_temperature
from .checkpoint import CHECKPOINT_NAME, MAP_CHECKPOINT_NAME
from .families import GuideFamily, guide_family
from .functional import STEPS
from .initial import INITS
from .loop import (
    EpochStats,
    Training,
    TrainingDiverged,
    after_warm_start,
    check_batch,
    train_guide,
    warm_start,
)

__all__ = [
    "fit_svi",
    "TrainingDiverged",
    "linear_warmup",
    "EpochStats",
    "DEFAULT_TEMPERATURE",
    "NORMALIZED_TEMPERATURE",
    "recommended_temperature",
]

#: the recommended temperature and learning-rate decay (benchmarks/quality.py); networks
#: with normalisation layers get a colder posterior (see ``recommended_temperature``)
DEFAULT_TEMPERATURE = 0.01
NORMALIZED_TEMPERATURE = 0.003
DEFAULT_LR_DECAY = 0.1
#: how BatchNorm statistics are kept in the SVI phase (see ``fit_svi``)
NORMALIZATIONS = ("auto", "map", "per_draw")
#: the run settings ``fit_svi`` honours beyond device, seed and progress
RUN_SETTINGS = (
    "log",
    "log_every",
    "checkpoint_dir",
    "resume",
    "overwrite",
    "callbacks",
    "distributed",
)


def linear_warmup(fraction: float) -> Callable[[float], float]:
    """KL weight rising linearly from 0 to 1 over the first ``fraction`` of training."""
    return lambda progress: min(1.0, progress / fraction) if fraction > 0 else 1.0


@run_settings(supports=RUN_SETTINGS)
@takes_data
@keeps_caller_state
def fit_svi(
    model: BayesianModel,
    loader: Iterable,
    *,
    epochs: int = 30,
    guide: str | GuideFamily = "mean_field",
    init: str = "map",
    map_epochs: int | None = None,
    step: str = "auto",
    kl_weight: float | Callable[[float], float] = 1.0,
    temperature: float | str | None = None,
    normalization: str = "auto",
    optimizer: str | type[torch.optim.Optimizer] = "adam",
    lr: float = 1e-2,
    lr_decay: float = DEFAULT_LR_DECAY,
    validation: float = 0.1,
    starts: int = 1,
    device: str | torch.device = "auto",
    progress: bool = True,
    seed: int | None = None,
    run: Run | None = None,
) -> Posterior:
    """Fit a variational posterior to ``model`` on minibatches from ``loader``.

    The defaults are the recommended configuration (measured in ``benchmarks/quality.py``):
    a maximum-a-posteriori warm start of the means, then a mean-field Normal posterior
    tempered to ``T = 0.01``, fitted with Adam at ``lr = 1e-2`` decaying tenfold. A network
    with normalisation layers keeps their MAP statistics, and its posterior stays closer to
    the MAP: ``T = 0.003`` and the means at ``MAP_LR`` (``recommended_temperature``).

    - ``guide``: the variational family (``families.py``): ``MeanField(init_scale,
      reparam)`` (the default: independent Normals, analytic KL against Normal priors;
      ``reparam="local"`` or ``"flipout"`` for local reparameterization or flipout),
      ``LowRank(rank)``, ``FullRank()``, ``Delta()`` (MAP), a ``GuideFamily`` of your own,
      or a built-in's name for its defaults (``"low_rank"``);
    - ``init``: where the guide's means start: ``"map"`` (default) first fits the
      maximum-a-posteriori weights for ``map_epochs`` epochs (default ``epochs``) at
      ``MAP_LR`` and starts there; ``"point_estimate"`` starts at the network's current
      weights, ``"prior"`` at a prior draw. Scales start at the family's ``init_scale``. After a MAP
      warm start, normalisation layers keep the MAP's running statistics, so SVI fits the
      same function that ``predict`` evaluates;
    - ``step``: ``"auto"`` (default) runs the functional step (``functional.py``: the same
      ELBO draw for draw, without Pyro's tracing) wherever the model and guide allow it and
      the traced one elsewhere; ``"traced"`` forces Pyro's tracing, ``"functional"`` refuses
      what it cannot express. ``info["step"]`` says which ran (``info["step_fallback"]``
      why not the functional one);
    - ``normalization``: how BatchNorm layers are treated in the SVI phase. ``"map"``:
      after a MAP warm start they keep the MAP's running statistics (eval mode), in
      training and at prediction; ``"per_draw"``: they normalise with their batch's
      statistics in training, and every draw predicts with its own statistics, estimated
      on ``NORMALIZATION_INPUTS`` training inputs (``Posterior.normalization``), as SWAG
      does; ``"auto"`` (default): ``"per_draw"`` where a Bayesian layer comes before a
      BatchNorm layer (``bayesianize``'s default makes every layer of a BatchNorm network
      Bayesian: decided on the realistic battery, RESULTS), ``"map"`` otherwise. Without a
      MAP warm start the statistics are always per draw;
    - ``kl_weight``: a number or ``f(progress in [0, 1]) -> weight`` (``linear_warmup``);
    - ``temperature``: the posterior is tempered to ``p(w | D)^(1/T)`` (None: the
      ``recommended_temperature`` for the network). An untempered
      (``T = 1``) mean-field posterior of a network with far more weights than examples
      is often the prior itself; ``"auto"`` picks ``T`` from ``tempering.TEMPERATURES`` by the
      predictive NLL on a ``validation`` fraction carved from the loader's data set, then
      fits on all of it (the scores are in ``info["temperature_scores"]``);
    - ``lr_decay``: the learning rate falls exponentially to ``lr * lr_decay``;
    - ``starts``: how many independent fits to mix. Each start after the first begins
      from fresh initial weights (``model.reset_parameters()``, seeded ``seed + k``), runs
      the whole fit (its own MAP warm start, so its own mode) and the posterior is their
      equal-weight mixture (``Posterior.mixture``), which covers several modes where one
      mean-field Gaussian covers one: better NLL and out-of-distribution detection at
      ``starts`` times the cost (``benchmarks/RESULTS.md``). ``temperature="auto"`` is
      picked by the first start; with ``checkpoint_dir`` or ``log`` every start ``k``
      writes under ``start<k>/`` / to ``<log stem>_start<k>``; ``info["starts"]`` holds
      every start's own ``info``;
    - ``run`` (``bn.Run``; ``device``, ``seed`` and ``progress`` also as keywords): every
      setting of it. ``callbacks``: ``f(epoch, stats, posterior)`` after each epoch;
      returning True stops. ``distributed``: data-parallel SVI under ``torchrun``
      (``infer/distributed.py``): each process fits on its shard of the loader's data set,
      gradients are averaged across processes before every step (the ELBO of the global
      batch), process 0 alone writes checkpoints, the log and progress; the others return
      the same posterior. ``log``: a JSON-lines file that gets every ``log_every``-th
      epoch's statistics of both phases (``phase``: ``map`` or ``svi``; loss, NLL, KL,
      examples per second) as it ends. ``checkpoint_dir``: one checkpoint file per phase
      (``map.pt``, ``svi.pt``), rewritten atomically after each epoch; ``resume=True``
      continues from them and ends where an uninterrupted run would (with the stored
      optimizer state and learning rate: a different ``lr`` or ``optimizer`` warns and is
      not applied). A directory that already holds a checkpoint is not overwritten by a
      fresh run unless ``overwrite=True``.

    A NaN/Inf loss raises ``TrainingDiverged`` carrying the last finite state. A fit whose
    training NLL is no better than a guess that ignores the inputs warns with
    ``CollapseWarning``; ``info["collapsed"]`` records the verdict.
    """
    check_starts(starts)
    family = guide_family(guide)
    if starts > 1:
        if run.distributed:
            raise ValueError("starts > 1 does not run distributed: fit each start on its own")
        options = dict(locals())
        for name in ("model", "starts", "temperature", "run", "family", *SHORTHANDS):
            del options[name]
        return _multi_start(model, starts, temperature, run, options)
    temperature, normalization, optimizer = _checked_settings(
        model, epochs, temperature, init, normalization, step, optimizer, lr_decay
    )
    device = resolve(device)
    loader, ranks, progress, log = _distributed(model, loader, device, run, progress, temperature)
    model.to(device)
    x0, y0 = first_batch(loader)
    x0, y0 = x0.to(device), y0.to(device)
    out0 = model.first_output(x0)
    check_batch(model, x0, y0, out0)

    ckpt = Path(run.checkpoint_dir) if run.checkpoint_dir is not None else None
    training = Training(
        epochs=epochs,
        optimizer=optimizer,
        lr=lr,
        lr_decay=lr_decay,
        device=device,
        first=(x0, out0),
        step=step,
        reparam=family.reparam,
        kl_weight=kl_weight,
        progress=progress,
        log=JsonLinesLog(log, run.log_every) if log is not None else None,
        ranks=ranks,
        callbacks=tuple(run.callbacks),
        resume=run.resume,
    )
    spec = {**family.spec(), "init": init}
    info: dict[str, Any] = {
        "engine": "svi",
        "guide": family.name,
        "reparam": family.reparam or "none",
    }
    if temperature == "auto":
        temperature, info["temperature_scores"] = _auto_temperature(
            model, loader, validation, spec, map_epochs, training, normalization
        )
    if ckpt is not None:
        check_run_dir(ckpt, (MAP_CHECKPOINT_NAME, CHECKPOINT_NAME), run.resume, run.overwrite)
    info["map_history"] = warm_start(model, loader, spec, map_epochs, training.replace(ckpt=ckpt))
    info.update({"temperature": temperature, "init": init, "history": []})
    svi_phase = training.replace(
        temperature=temperature, ckpt=ckpt / CHECKPOINT_NAME if ckpt is not None else None
    )
    spec, frozen = after_warm_start(spec, normalization)
    post = train_guide(model, loader, spec, frozen, info, svi_phase)
    check_collapse(post.info, training_null_nll(loader, model), model)
    return post


def _checked_settings(
    model: BayesianModel,
    epochs: int,
    temperature: float | str | None,
    init: str,
    normalization: str,
    step: str,
    optimizer: str | type[torch.optim.Optimizer],
    lr_decay: float,
) -> tuple[float | str, str, type[torch.optim.Optimizer]]:
    """The settings checked, with ``temperature``, ``normalization`` and ``optimizer``
    resolved: the recommended temperature for None, the BatchNorm treatment for
    ``"auto"``, the optimiser class for its name."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if temperature is None:
        temperature = recommended_temperature(model, init)
    if temperature != "auto" and (isinstance(temperature, str) or not temperature > 0):
        raise ValueError(f"temperature must be > 0 or 'auto', got {temperature!r}")
    check_choice(init, (*INITS, "map"), "init")
    check_choice(normalization, NORMALIZATIONS, "normalization")
    if normalization == "auto":
        normalization = "per_draw" if draws_before_normalization(model) else "map"
    check_choice(step, STEPS, "step")
    if isinstance(optimizer, str):
        optimizer = OPTIMIZERS[check_choice(optimizer, OPTIMIZERS, "optimizer")]
    if not 0 < lr_decay <= 1:
        raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay}")
    if not model.weight_sites:
        raise ValueError("the model has no Bayesian layers: use bn.nn layers or bn.bayesianize")
    return temperature, normalization, optimizer


def _distributed(
    model: BayesianModel,
    loader: Iterable,
    device: torch.device,
    run: Run,
    progress: bool,
    temperature: float | str,
) -> tuple[Iterable, Any, bool, Any]:
    """Under ``run.distributed``: the process group joined, the model's weights the main
    process's, this process's shard of ``loader``, progress and log on the main process
    only. Otherwise everything as given (and no ranks)."""
    if not run.distributed:
        return loader, None, progress, run.log
    if temperature == "auto":
        raise ValueError("temperature='auto' does not run distributed: pick T first")
    ranks = setup(device)
    model.to(device)
    broadcast(model, ranks)
    return shard(loader, ranks), ranks, progress and ranks.main, run.log if ranks.main else None


def _multi_start(model, starts, temperature, run: Run, options) -> Posterior:
    """``starts`` fits of ``model`` through ``multi_start``, each after the first from
    fresh initial weights; a temperature chosen by the first start is the others' too.
    Start ``k`` checkpoints under ``start<k>/`` and logs to ``<log stem>_start<k>``."""
    pristine = copy.deepcopy(model)

    def one(k: int, seed_k: int | None) -> Posterior:
        nonlocal temperature
        member = model
        if k:
            member = copy.deepcopy(pristine)
            with seeded(seed_k):
                member.reset_parameters()
        own = run.replace(
            seed=seed_k,
            checkpoint_dir=None
            if run.checkpoint_dir is None
            else Path(run.checkpoint_dir) / f"start{k}",
            log=None if run.log is None else _start_log(Path(run.log), k),
        )
        post = fit_svi(member, temperature=temperature, run=own, **options)
        temperature = post.info["temperature"]
        return post

    return multi_start(one, starts, run.seed)


def _start_log(path: Path, k: int) -> Path:
    return path if k == 0 else path.with_name(f"{path.stem}_start{k}{path.suffix}")


def draws_before_normalization(model: BayesianModel) -> bool:
    """Whether a Bayesian layer of ``model`` comes before one of its BatchNorm layers (in
    registration order): its draws change what BatchNorm normalises."""
    order = {path: k for k, (path, _) in enumerate(model.net.named_modules())}
    norms = [order[path] for path, _ in normalization_layers(model.net)]
    bayes = [order[path] for path, _ in bayesian_layers(model.net)]
    return bool(norms and bayes and min(bayes) < max(norms))


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


def _auto_temperature(model, loader, validation, spec, map_epochs, training, normalization):
    """``tempering.choose_temperature`` over SVI: one MAP warm start on the loader's data
    less the ``validation`` fraction, shared by every candidate's SVI phase."""
    quiet = training.replace(progress=False, log=None, callbacks=(), ckpt=None, resume=False)
    base = None

    def trial(t: float, data: DataLoader) -> Posterior:
        nonlocal base
        if base is None:
            base = copy.deepcopy(model)
            base.num_data = count_examples(data)
            warm_start(base, data, spec, map_epochs, quiet)
        trial_spec, frozen = after_warm_start(spec, normalization)
        candidate = quiet.replace(temperature=t)
        return train_guide(
            copy.deepcopy(base), data, trial_spec, frozen, {"history": []}, candidate
        )

    return choose_temperature(trial, loader, validation=validation)
