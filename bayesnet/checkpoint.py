"""One-file checkpoints: written atomically, verified, read without unpickling arbitrary
objects.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts serialised by
``torch.save``; the file holds those bytes with their SHA-256 (an envelope, itself written
by ``torch.save``) and is written to a temporary file in the same directory and renamed
over the target (``os.replace`` is atomic on POSIX and Windows), so a crash never leaves
half a file. It is read back with ``torch.load(weights_only=True)``, which refuses any
other object, after the checksum is verified: a flipped byte is an error naming the file,
never silently different weights. Files written before the checksum still load, with a
warning that they cannot be verified.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CheckpointError",
    "check_run_dir",
    "load_safe",
    "load_state",
    "rng_state",
    "save_atomic",
    "set_rng_state",
]


#: the envelope's format: the payload's bytes and their SHA-256
ENVELOPE = "bayesnet.checked/1"


class CheckpointError(ValueError):
    """A checkpoint or saved posterior that cannot be read: not a bayesnet file, damaged
    (its checksum does not match), or not of the format asked for."""


def _serialised(payload: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def save_atomic(payload: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``payload`` to ``path`` with its checksum, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _serialised(payload)
    envelope = {
        "format": ENVELOPE,
        "sha256": hashlib.sha256(data).hexdigest(),
        "payload": torch.frombuffer(bytearray(data), dtype=torch.uint8),
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(envelope, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 is not what open() would give
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    """The process's file-creation mask (read by setting it, then putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
    raw = path.read_bytes()
    # the envelope's bytes are read on the CPU whatever the caller asks: its payload is
    # turned back into bytes, and only the payload's tensors go to ``map_location``
    payload = _read(path, raw, "cpu")
    if isinstance(payload, dict) and payload.get("format") == ENVELOPE:
        data = payload.get("payload")
        if not isinstance(data, torch.Tensor) or data.dtype != torch.uint8:
            raise CheckpointError(f"{path} is a damaged bayesnet file: its payload is missing")
        data = data.numpy().tobytes()
        if hashlib.sha256(data).hexdigest() != payload.get("sha256"):
            raise CheckpointError(
                f"{path} is damaged: its contents do not match the checksum written with "
                "them (a changed or corrupted file); it is not loaded"
            )
        payload = _read(path, data, map_location)
    else:
        if map_location is not None:
            payload = _read(path, raw, map_location)
        if format is not None:
            warnings.warn(
                f"{path} was written without a checksum (by an earlier bayesnet): it loads, "
                "but cannot be verified; save it again to add one",
                stacklevel=3,
            )
    if format is None:
        return payload
    if not isinstance(payload, dict):
        raise CheckpointError(
            f"{path} is not a bayesnet checkpoint: it holds a {type(payload).__name__}, "
            f"not a {format} dict"
        )
    if payload.get("format") != format:
        raise CheckpointError(
            f"{path} is not a {format} file (its format is {payload.get('format')!r})"
        )
    missing = [k for k in keys if k not in payload]
    if missing:
        raise CheckpointError(f"{path} is a damaged {format} file: it lacks {missing}")
    return payload


def _read(path: Path, data: bytes, map_location) -> Any:
    """``torch.load(weights_only=True)`` of ``data``, any failure a ``CheckpointError``."""
    try:
        return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for foreign or corrupt bytes
        raise CheckpointError(f"{path} is not a bayesnet checkpoint ({err})") from err


def load_state(module: Any, state: dict[str, Any], path, what: str) -> None:
    """``module.load_state_dict(state)`` (a module, optimizer or schedule), with an error
    naming the file and the part that does not fit."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, AttributeError, ValueError, IndexError) as err:
        first = str(err).strip().splitlines()
        raise CheckpointError(
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
