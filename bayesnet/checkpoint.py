"""One-file checkpoints: written atomically, read without unpickling arbitrary objects.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts saved by
``torch.save`` to a temporary file in the same directory and renamed over the target
(``os.replace`` is atomic on POSIX and Windows), so a crash never leaves half a file.
It is read back with ``torch.load(weights_only=True)``, which refuses any other object.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "check_run_dir",
    "load_safe",
    "load_state",
    "rng_state",
    "save_atomic",
    "set_rng_state",
]


def save_atomic(payload: dict[str, Any], path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_safe(
    path: str | os.PathLike,
    map_location=None,
    format: str | None = None,
    keys: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Read a checkpoint; with ``format`` it must be a dict of that format holding ``keys``,
    else a ValueError names the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for foreign or corrupt files
        raise ValueError(f"{path} is not a bayesnet checkpoint ({err})") from err
    if format is None:
        return payload
    if not isinstance(payload, dict):
        raise ValueError(
            f"{path} is not a bayesnet checkpoint: it holds a {type(payload).__name__}, "
            f"not a {format} dict"
        )
    if payload.get("format") != format:
        raise ValueError(f"{path} is not a {format} file (its format is {payload.get('format')!r})")
    missing = [k for k in keys if k not in payload]
    if missing:
        raise ValueError(f"{path} is a damaged {format} file: it lacks {missing}")
    return payload


def load_state(module: Any, state: dict[str, Any], path, what: str) -> None:
    """``module.load_state_dict(state)`` (a module, optimizer or schedule), with an error
    naming the file and the part that does not fit."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, AttributeError, ValueError) as err:
        first = str(err).strip().splitlines()
        raise ValueError(
            f"{path}: the stored {what} does not fit this model ({first[0] if first else err})"
        ) from err


def rng_state(loader: Any = None) -> dict[str, Any]:
    """torch's (and CUDA's) random state and the loader's shuffling generator, so a resumed
    run draws what the uninterrupted one would have."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    generator = getattr(loader, "generator", None)
    if generator is not None:
        state["loader"] = generator.get_state()
    return state


def set_rng_state(state: dict[str, Any], loader: Any = None) -> None:
    """Restore what ``rng_state`` stored."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generator = getattr(loader, "generator", None)
    if generator is not None and "loader" in state:
        generator.set_state(state["loader"])


def check_run_dir(ckpt: Path, names: tuple[str, ...], resume: bool, overwrite: bool) -> None:
    """Say when ``resume`` finds none of a run's checkpoint files ``names`` in ``ckpt``;
    refuse to overwrite a run's state by accident."""
    found = [name for name in names if (ckpt / name).exists()]
    if resume and not found:
        warnings.warn(
            f"resume=True but {ckpt} holds no checkpoint ({' or '.join(names)}): "
            "starting from scratch",
            stacklevel=3,
        )
    if found and not resume and not overwrite:
        raise FileExistsError(
            f"{ckpt} already holds {found} from an earlier run; pass resume=True to continue "
            "it or overwrite=True to start again over it"
        )
