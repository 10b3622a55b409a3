"""Input validation shared by models, engines and evaluation: errors that name the problem."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

#: words of torch's errors for a network that cannot take inputs of their shape
SHAPE_WORDS = ("shape", "size", "channels")


def check_finite(x: torch.Tensor, what: str = "inputs") -> None:
    if x.is_floating_point() and not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).sum().item()
        raise ValueError(f"{what} contain {bad} NaN or Inf values")


def check_labels(y: torch.Tensor, num_classes: int) -> None:
    if y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(f"class labels must be integers, got dtype {y.dtype}")
    if y.numel() and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes}) for {num_classes} classes; "
            f"found values from {y.min().item()} to {y.max().item()}"
        )


def check_batch_size(batch: int, num_data: int) -> None:
    if batch > num_data:
        raise ValueError(
            f"a batch of {batch} is larger than num_data={num_data}: num_data must be the "
            "size of the whole training set"
        )


def check_choice(value: str, choices, what: str) -> str:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {sorted(choices)}")
    return value


def check_starts(starts: int) -> None:
    """A number of independent starts of a fit: a positive int."""
    if isinstance(starts, bool) or not isinstance(starts, int) or starts < 1:
        raise ValueError(f"starts must be a positive int, got {starts!r}")


def check_draws(num_samples: int) -> None:
    """A number of draws a posterior predicts with by default: a positive int."""
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive int, got {num_samples!r}")


@contextlib.contextmanager
def names_input_shape(x: torch.Tensor) -> Iterator[None]:
    """Within: torch's error for a network built for other inputs (a ``RuntimeError``
    about shapes, sizes or channels) becomes a ``ValueError`` that names the shape of the
    inputs ``x`` and how ``bn.zoo``'s networks are built for it; any other error passes
    through as it is."""
    try:
        yield
    except RuntimeError as err:
        if not any(word in str(err) for word in SHAPE_WORDS):
            raise
        raise ValueError(
            f"the network fails on a batch of inputs of shape {tuple(x.shape[1:])}: {err}. "
            "Build it for inputs of that shape (bn.zoo's networks take image_size= and "
            "in_channels=)"
        ) from err
