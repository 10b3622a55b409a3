"""One data convention for every entry point, and what the library reads from training
data: by iterating the loader the caller gave, never from ``loader.dataset``.

- ``as_loader(data)``: a ``DataLoader`` (or any iterable of ``(x, y)`` batches) as it is, a
  sized ``Dataset`` of ``(x, y)`` or an ``(x, y)`` pair of tensors or NumPy arrays as a
  shuffled loader; anything else is refused with a message that names what was given and
  the one-line fix.
- ``as_tensors(data)``: the same forms as two tensors, for full-batch engines (HMC).
- A loader is what it yields: ``count_examples`` (the examples an epoch sees),
  ``sample_examples`` and ``sample_inputs`` (examples drawn uniformly from one pass, for
  BatchNorm statistics and feature distances) and
  ``materialize`` (one pass as tensors, for a validation split) iterate it, so its
  ``collate_fn``, ``sampler`` and ``batch_sampler`` are part of the data.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

__all__ = [
    "BATCH_SIZE",
    "as_loader",
    "as_tensors",
    "count_examples",
    "materialize",
    "record_input_shape",
    "sample_examples",
    "sample_inputs",
    "takes_data",
    "training_batches",
]

Fit = TypeVar("Fit", bound=Callable)

#: the batch size of a loader made from a pair of tensors or a Dataset
BATCH_SIZE = 64
FIX = (
    "pass a DataLoader of (x, y) batches, a Dataset of (x, y) pairs, or an (x, y) pair of "
    "tensors or NumPy arrays"
)


def _describe(data: Any) -> str:
    if isinstance(data, (torch.Tensor, np.ndarray)):
        return f"a {type(data).__name__} of shape {tuple(data.shape)}"
    if isinstance(data, (tuple, list)):
        return f"a {type(data).__name__} of {len(data)} item(s)"
    return f"a {type(data).__name__}"


def _is_pair(data: Any) -> bool:
    """Whether ``data`` is meant as ``(x, y)``: a tuple (or a list of two tensors or arrays;
    any other list is a list of batches, a loader)."""
    arrays = (torch.Tensor, np.ndarray)
    return isinstance(data, tuple) or (
        isinstance(data, list) and len(data) == 2 and all(isinstance(t, arrays) for t in data)
    )


def _pair(data: tuple | list) -> tuple[torch.Tensor, torch.Tensor]:
    """An ``(x, y)`` pair of tensors or arrays as tensors: float64 inputs become float32
    (NumPy's default dtype, torch's networks' float32), integer labels int64."""
    if len(data) != 2 or not all(isinstance(t, (torch.Tensor, np.ndarray)) for t in data):
        raise TypeError(f"got {_describe(data)}: {FIX}")
    x, y = (torch.as_tensor(t) for t in data)
    if x.dim() == 0 or y.dim() == 0 or len(x) != len(y):
        raise ValueError(
            f"inputs {tuple(x.shape)} and targets {tuple(y.shape)} must have one row per "
            "example, as many of each"
        )
    if len(x) == 0:
        raise ValueError("the data set is empty")
    if x.dtype == torch.float64:
        x = x.float()
    if not y.is_floating_point():
        y = y.long()
    elif y.dtype == torch.float64:
        y = y.float()
    return x, y


def as_loader(
    data: Any, *, batch_size: int = BATCH_SIZE, shuffle: bool = True, seed: int | None = None
) -> Iterable:
    """``data`` as an iterable of ``(x, y)`` batches: a loader (any iterable that is not a
    Dataset, a pair or a tensor) is used as it is; a sized ``Dataset`` of ``(x, y)`` pairs
    or an ``(x, y)`` pair of tensors or NumPy arrays becomes a ``DataLoader`` of
    ``batch_size``, shuffled with its own generator seeded ``seed`` (None: from torch's RNG
    at each epoch, as a DataLoader does)."""
    if _is_pair(data):
        data = TensorDataset(*_pair(data))
    if isinstance(data, (torch.Tensor, np.ndarray)):
        raise TypeError(f"got {_describe(data)}, inputs without targets: {FIX}")
    if isinstance(data, Dataset) and not isinstance(data, IterableDataset):
        if not hasattr(data, "__len__"):
            raise TypeError(f"got {_describe(data)} without a length: {FIX}")
        if len(data) == 0:
            raise ValueError("the data set is empty")
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)
    if isinstance(data, (str, bytes, dict)) or not isinstance(data, Iterable):
        raise TypeError(f"got {_describe(data)}: {FIX}")
    return data


def takes_data(fit: Fit) -> Fit:
    """A fit's decorator: its second argument, the training data, in any form ``as_loader``
    takes; a pair or a Dataset is batched by ``BATCH_SIZE`` and shuffled with a generator
    seeded with the fit's ``seed``, so the same data in any form gives the same fit. The
    fitted posterior's ``info["input_shape"]`` records the shape of one training input, so
    that ``predict`` can name what it expects."""
    signature = inspect.signature(fit)
    name = list(signature.parameters)[1]

    @functools.wraps(fit)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        loader = as_loader(bound.arguments[name], seed=bound.arguments.get("seed"))
        bound.arguments[name] = loader
        result = fit(*bound.args, **bound.kwargs)
        record_input_shape(result, loader)
        return result

    return wrapper  # type: ignore[return-value]


def record_input_shape(posterior: Any, data: Iterable | torch.Tensor) -> None:
    """Set ``posterior.info["input_shape"]`` (where not set) to the shape of one input of
    ``data`` (a loader, or a tensor of inputs)."""
    info = getattr(posterior, "info", None)
    if not isinstance(info, dict) or "input_shape" in info:
        return
    x = data if isinstance(data, torch.Tensor) else next(iter(training_batches(data)))[0]
    info["input_shape"] = list(x.shape[1:])


def training_batches(loader: Iterable) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The loader's ``(inputs, targets)`` pairs; anything else is refused."""
    for batch in loader:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError(
                f"the loader must yield (inputs, targets) pairs; it yielded {_describe(batch)}"
            )
        yield batch


def as_tensors(data: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``data`` (any form ``as_loader`` takes) as one ``(x, y)`` pair of tensors."""
    if _is_pair(data):
        return _pair(data)
    return materialize(as_loader(data, shuffle=False))


def materialize(loader: Iterable) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass over ``loader`` as ``(x, y)`` tensors (on the CPU), in the order it yields."""
    xs, ys = [], []
    for x, y in training_batches(loader):
        xs.append(x.cpu())
        ys.append(y.cpu())
    if not xs:
        raise ValueError("the training loader is empty")
    return torch.cat(xs), torch.cat(ys)


def count_examples(loader: Iterable) -> int:
    """How many examples one pass over ``loader`` yields."""
    return sum(len(x) for x, _ in training_batches(loader))


def sample_examples(
    loader: Iterable, size: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``size`` ``(input, target)`` examples drawn uniformly without replacement from
    one pass over ``loader`` (reservoir sampling with its own generator: the caller's RNG
    is untouched, and a class-sorted loader gives every class its share), on the CPU."""
    generator = torch.Generator().manual_seed(seed)
    kept: list[tuple[torch.Tensor, torch.Tensor]] = []
    seen = 0
    for x, y in training_batches(loader):
        for example in zip(x.cpu(), y.cpu(), strict=True):
            if seen < size:
                kept.append(example)
            else:
                slot = int(torch.randint(seen + 1, (), generator=generator))
                if slot < size:
                    kept[slot] = example
            seen += 1
    if not kept:
        raise ValueError("the training loader is empty")
    inputs, targets = zip(*kept, strict=True)
    return torch.stack(inputs), torch.stack(targets)


def sample_inputs(loader: Iterable, size: int, seed: int = 0) -> torch.Tensor:
    """The inputs of ``sample_examples(loader, size, seed)`` (for BatchNorm statistics)."""
    return sample_examples(loader, size, seed)[0]
