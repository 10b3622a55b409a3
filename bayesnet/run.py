"""One run-settings object for every engine: where a fit runs, how it is seeded, what it
shows and records, and how it resumes.

``Run`` holds the settings that are about the run rather than the method (device, seed,
progress bar, log and its interval, checkpoint directory, resume, overwrite, callbacks,
distributed), so every engine names them alike and the ones that only mean something
together are checked when the object is made (``Run(resume=True)`` without a checkpoint
directory is an error before any fit starts):

    run = bn.Run(seed=0, checkpoint_dir="runs/svi", log="runs/svi/log.jsonl")
    post = bn.fit_svi(model, loader, run=run)

``device``, ``seed`` and ``progress`` are also keywords of every fit that trains (the
settings nearly every call sets): ``fit_swag(net, loader, seed=0)`` is
``fit_swag(net, loader, run=Run(seed=0))``; the same setting given both ways with
different values is a ``TypeError``. An engine given a setting it cannot honour (a
checkpoint directory for a deep ensemble) raises a ``TypeError`` that names it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import torch

__all__ = ["Run", "run_settings", "SHORTHANDS"]

Fit = TypeVar("Fit", bound=Callable)

#: the settings every fit that trains also takes as keywords
SHORTHANDS = ("device", "seed", "progress")


@dataclasses.dataclass(frozen=True)
class Run:
    """How a fit runs, shows, records and resumes; every field is optional.

    - ``device``: ``"auto"`` (CUDA when there is one), ``"cpu"``, ``"cuda:1"``, ...;
    - ``seed``: None draws from the caller's generators; an int seeds a fork of them;
    - ``progress``: show progress bars;
    - ``log`` / ``log_every``: a JSON-lines file getting every ``log_every``-th epoch;
    - ``checkpoint_dir`` / ``resume`` / ``overwrite``: where the run's checkpoints go,
      whether to continue them, whether a fresh run may replace them;
    - ``callbacks``: called by the engine after each epoch (or draw); see each engine;
    - ``distributed``: data-parallel under ``torchrun`` (``fit_svi``).
    """

    device: str | torch.device = "auto"
    seed: int | None = None
    progress: bool = True
    log: str | Path | None = None
    log_every: int = 1
    checkpoint_dir: str | Path | None = None
    resume: bool = False
    overwrite: bool = False
    callbacks: tuple[Callable, ...] = ()
    distributed: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "callbacks", tuple(self.callbacks))
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise TypeError(f"seed must be an int or None, got {self.seed!r}")
        for flag in ("progress", "resume", "overwrite", "distributed"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        if (
            isinstance(self.log_every, bool)
            or not isinstance(self.log_every, int)
            or self.log_every < 1
        ):
            raise ValueError(f"log_every must be a positive int, got {self.log_every!r}")
        if self.log_every != 1 and self.log is None:
            raise ValueError("log_every needs a log file: Run(log=..., log_every=...)")
        if (self.resume or self.overwrite) and self.checkpoint_dir is None:
            raise ValueError("resume and overwrite need a checkpoint_dir")
        if self.resume and self.overwrite:
            raise ValueError("resume continues a checkpoint and overwrite replaces it: pick one")
        if not all(callable(cb) for cb in self.callbacks):
            raise TypeError("callbacks must be callables")

    def replace(self, **changes: Any) -> Run:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    def given(self) -> list[str]:
        """The settings that differ from their defaults."""
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) != f.default]


def _merge(run: Run | None, engine: str, **shorthands: Any) -> Run:
    """``run`` with the keywords given beside it; the same setting given both ways with
    different values is a ``TypeError``."""
    run = Run() if run is None else run
    if not isinstance(run, Run):
        raise TypeError(f"{engine}: run must be a bn.Run, got {type(run).__name__}")
    defaults = Run()
    changes = {}
    for name, value in shorthands.items():
        if value == getattr(defaults, name):
            continue
        if getattr(run, name) not in (getattr(defaults, name), value):
            raise TypeError(
                f"{engine} got {name}={value!r} and run=Run({name}={getattr(run, name)!r}): "
                "give it once"
            )
        changes[name] = value
    return run.replace(**changes) if changes else run


def run_settings(supports: Iterable[str] = ()) -> Callable[[Fit], Fit]:
    """A fit's decorator: merge its ``device``/``seed``/``progress`` keywords into its
    ``run`` (so the fit sees one ``Run`` and the keywords agree with it) and refuse
    settings beyond those and ``supports`` with a ``TypeError`` naming them."""
    allowed = {*SHORTHANDS, *supports}

    def decorate(fit: Fit) -> Fit:
        signature = inspect.signature(fit)
        shorthands = [n for n in SHORTHANDS if n in signature.parameters]

        @functools.wraps(fit)
        def wrapper(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            given = {n: bound.arguments[n] for n in shorthands if n in bound.arguments}
            run = _merge(bound.arguments.get("run"), fit.__name__, **given)
            refused = [n for n in run.given() if n not in allowed]
            if refused:
                raise TypeError(
                    f"{fit.__name__} does not take Run({', '.join(refused)}=...): it honours "
                    f"{', '.join(sorted(allowed))}"
                )
            bound.arguments["run"] = run
            for n in shorthands:
                bound.arguments[n] = getattr(run, n)
            return fit(*bound.args, **bound.kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
