"""Stochastic variational inference: ``fit_svi(model, loader, ...) -> Posterior``.

The loop is Pyro's SVI step written out with a torch optimizer: trace the guide, replay
the model, take the negative ELBO, step. Writing it out gives us the data and KL terms
separately (progress, KL annealing, tempering), the model's deterministic parameters
(e.g. BatchNorm) in the same optimizer, and an optimizer state that checkpoints.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from .._checks import check_choice, check_finite
from ..checkpoint import load_safe, save_atomic
from ..device import resolve
from ..models import BayesianModel
from ..posterior import GuideSampler, Posterior, architecture, check_architecture
from .elbo import elbo_terms
from .guides import make_guide
from .reparam import make_reparam

__all__ = ["fit_svi", "TrainingDiverged", "linear_warmup", "EpochStats"]

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
CHECKPOINT_NAME = "svi.pt"

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


def _batches(loader: Iterable) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    for batch in loader:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError("the loader must yield (inputs, targets) pairs")
        yield batch


def _first_batch(loader) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        if len(loader) == 0:
            raise ValueError("the training loader is empty")
    except TypeError:
        pass
    for batch in _batches(loader):
        return batch
    raise ValueError("the training loader is empty")


def _rng_state(loader) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    generator = getattr(loader, "generator", None)
    if generator is not None:
        state["loader"] = generator.get_state()
    return state


def _set_rng_state(state: dict[str, Any], loader) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generator = getattr(loader, "generator", None)
    if generator is not None and "loader" in state:
        generator.set_state(state["loader"])


def fit_svi(
    model: BayesianModel,
    loader: Iterable,
    epochs: int = 30,
    guide: str = "mean_field",
    init: str = "point_estimate",
    init_scale: float = 1e-2,
    rank: int | None = None,
    reparam: str | None = None,
    kl_weight: float | Callable[[float], float] = 1.0,
    temperature: float = 1.0,
    optimizer: str | type[torch.optim.Optimizer] = "adam",
    lr: float = 1e-3,
    lr_decay: float = 1.0,
    device: str | torch.device = "auto",
    callbacks: Iterable[Callback] = (),
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    seed: int | None = None,
) -> Posterior:
    """Fit a variational posterior to ``model`` on minibatches from ``loader``.

    - ``guide``: ``"mean_field"`` (independent Normals, analytic KL against Normal priors),
      ``"low_rank"`` (``rank``), ``"full_rank"``, ``"delta"`` (MAP);
    - ``init``: guide means start at the network's current weights (``"point_estimate"``)
      or at a prior draw (``"prior"``); scales start at ``init_scale``;
    - ``reparam``: None, ``"local"`` (local reparameterization) or ``"flipout"``, both
      with the mean-field guide;
    - ``kl_weight``: a number or ``f(progress in [0, 1]) -> weight`` (``linear_warmup``);
      ``temperature``: the posterior is tempered to ``p(w | D)^(1/T)``;
    - ``callbacks``: ``f(epoch, stats, posterior)`` after each epoch; returning True stops;
    - ``checkpoint_dir``: one checkpoint file, rewritten atomically after each epoch;
      ``resume=True`` continues from it and ends where an uninterrupted run would.

    A NaN/Inf loss raises ``TrainingDiverged`` carrying the last finite state.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    make_reparam(reparam)  # validate the name before any work
    if reparam is not None and guide != "mean_field":
        raise ValueError(f"reparam={reparam!r} needs guide='mean_field' (got {guide!r})")
    if isinstance(optimizer, str):
        optimizer = OPTIMIZERS[check_choice(optimizer, OPTIMIZERS, "optimizer")]
    if not model.weight_sites:
        raise ValueError("the model has no Bayesian layers: use bn.nn layers or bn.bayesianize")
    if seed is not None:
        torch.manual_seed(seed)
    device = resolve(device)
    model.to(device)

    x0, y0 = _first_batch(loader)
    x0, y0 = x0.to(device), y0.to(device)
    with torch.no_grad():
        out0 = model.deterministic_net().to(device).eval()(x0[:1])
    _check_batch(model, x0, y0, out0)
    spec = {"name": guide, "init": init, "init_scale": float(init_scale), "rank": rank}
    q = make_guide(model, **spec)
    with torch.no_grad():
        q(x0, y0)
    q.to(device)
    params = list(q.parameters()) + [p for p in model.parameters() if p.requires_grad]
    opt = optimizer(params, lr=lr)
    num_batches = _num_batches(loader)
    if not 0 < lr_decay <= 1:
        raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay}")
    gamma = lr_decay ** (1.0 / max(1, epochs * num_batches))
    schedule = torch.optim.lr_scheduler.ExponentialLR(opt, gamma)
    sampler = GuideSampler(q, spec, tuple(x0.shape[1:]))
    info: dict[str, Any] = {
        "engine": "svi",
        "guide": guide,
        "reparam": reparam or "none",
        "history": [],
    }
    posterior = Posterior(model, sampler, info)

    start = 0
    ckpt = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if resume and ckpt is not None and ckpt.exists():
        start = _restore(ckpt, model, q, opt, schedule, loader, info, spec)

    def checkpoint(epoch: int) -> None:
        if ckpt is not None:
            save_atomic(
                {
                    "format": "bayesnet.svi/1",
                    "epoch": epoch,
                    "spec": spec,
                    "arch": architecture(model),
                    "model": model.state_dict(),
                    "guide": q.state_dict(),
                    "optimizer": opt.state_dict(),
                    "schedule": schedule.state_dict(),
                    "rng": _rng_state(loader),
                    "history": info["history"],
                },
                ckpt,
            )

    bar = tqdm(range(start, epochs), desc="svi", disable=not progress, initial=start, total=epochs)
    model.train()
    for epoch in bar:
        sums = torch.zeros(3, device=device)  # loss, data term, KL: one sync per epoch
        count = 0
        for step, (x, y) in enumerate(_batches(loader)):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if epoch == start:
                _check_batch(model, x, y, out0)
            progress_frac = (epoch + step / num_batches) / epochs if num_batches else epoch / epochs
            weight = kl_weight(progress_frac) if callable(kl_weight) else kl_weight
            where = f"epoch {epoch + 1}, step {step + 1}"
            terms = _terms(model, q, x, y, reparam, temperature, where, posterior)
            loss = terms.loss(weight, temperature)
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"SVI loss became {loss.item()} at {where} (data term "
                    f"{terms.data.item():.4g}, KL {terms.kl.item():.4g}); {_KEPT}",
                    posterior,
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
            sums += torch.stack([loss.detach(), terms.data.detach(), terms.kl.detach()])
            count += 1
        stats = dict(zip(("loss", "data", "kl"), (sums / count).tolist(), strict=True))
        stats["nll"] = -stats.pop("data") / model.num_data
        stats["epoch"] = epoch + 1
        info["history"].append(stats)
        bar.set_postfix(nll=f"{stats['nll']:.4f}", kl=f"{stats['kl']:.4g}")
        checkpoint(epoch + 1)
        if any(cb(epoch + 1, stats, posterior) for cb in callbacks):
            break
    model.eval()
    return posterior


_KEPT = "parameters are kept at the last finite step. Try a lower lr or init_scale."


def _terms(model, guide, x, y, reparam, temperature, where, posterior):
    """ELBO terms of one step; a guide whose parameters left their support has diverged."""
    handler = make_reparam(reparam)
    try:
        with handler if handler is not None else contextlib.nullcontext():
            return elbo_terms(model, guide, x, y, entropy=temperature != 1.0)
    except ValueError as err:
        if "found invalid values" not in str(err):
            raise
        message = str(err).splitlines()[0]
        raise TrainingDiverged(
            f"SVI parameters became invalid at {where} ({message}); {_KEPT}", posterior
        ) from err


def _num_batches(loader) -> int:
    try:
        return len(loader)
    except TypeError:
        return 0


def _check_batch(model: BayesianModel, x: torch.Tensor, y: torch.Tensor, out: torch.Tensor) -> None:
    """Validate one batch; ``out`` is the network's output on one example (its shape)."""
    check_finite(x, "training inputs")
    model.check_targets(y, out)


def _restore(ckpt: Path, model, guide, opt, schedule, loader, info, spec) -> int:
    state = load_safe(ckpt)
    if state.get("format") != "bayesnet.svi/1":
        raise ValueError(f"{ckpt} is not a bayesnet SVI checkpoint")
    check_architecture(model, state["arch"], ckpt)
    if state["spec"] != spec:
        raise ValueError(f"{ckpt} was written with guide settings {state['spec']}, not {spec}")
    model.load_state_dict(state["model"])
    guide.load_state_dict(state["guide"])
    opt.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    _set_rng_state(state["rng"], loader)
    info["history"][:] = state["history"]
    return int(state["epoch"])
