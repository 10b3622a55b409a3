"""Dropout whose test-time mask is a buffer, so MC dropout draws are ordinary parameter draws.

``MaskedDropout`` trains like ``nn.Dropout`` (a fresh mask per example). At test time it
multiplies by its ``mask`` buffer (all ones: plain eval-mode dropout). MC dropout swaps in
sampled masks through ``functional_call``, one mask per draw shared by the batch: each
example's S predictions then have exactly the distribution of S stochastic passes, and a
draw is a fixed function of the input (attacks can differentiate through it).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .convert import replace_modules

__all__ = ["MaskedDropout", "insert_dropout", "masked_dropout", "WEIGHT_LAYERS"]

WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)
_CHANNEL_DROPOUT = (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)


class MaskedDropout(nn.Module):
    """Inverted dropout with rate ``p`` over a mask of ``shape`` (the features after the
    batch dimension; size-1 dimensions broadcast, e.g. ``[C, 1, 1]`` drops whole channels)."""

    def __init__(self, p: float, shape: tuple[int, ...]) -> None:
        super().__init__()
        if not 0 < p < 1:
            raise ValueError(f"dropout rate must lie in (0, 1), got {p}")
        self.p = p
        self.register_buffer("mask", torch.ones(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            keep = torch.empty((x.shape[0], *self.mask.shape), dtype=x.dtype, device=x.device)
            return x * keep.bernoulli_(1 - self.p) / (1 - self.p)
        return x * self.mask

    def extra_repr(self) -> str:
        return f"p={self.p}, shape={tuple(self.mask.shape)}"


def insert_dropout(net: nn.Module, p: float) -> nn.Module:
    """A copy of ``net`` with ``nn.Dropout(p)`` before every weight layer but the first
    (dropout on the hidden features, as in Gal & Ghahramani 2016)."""
    net = copy.deepcopy(net)
    layers = [path for path, m in net.named_modules() if isinstance(m, WEIGHT_LAYERS)]
    if not layers:
        raise ValueError("the network has no Linear or Conv layer to put dropout before")
    replace_modules(
        net,
        lambda path, m: nn.Sequential(nn.Dropout(p), m) if path in layers[1:] else None,
    )
    return net


def masked_dropout(net: nn.Module, example: torch.Tensor) -> nn.Module:
    """A copy of ``net`` with every ``nn.Dropout*`` replaced by a ``MaskedDropout`` of the
    same rate; ``example`` (one input batch) fixes each mask's shape."""
    net = copy.deepcopy(net)
    shapes: dict[str, tuple[int, ...]] = {}

    def record(path: str):
        def hook(_module: nn.Module, args: tuple) -> None:
            shapes[path] = tuple(args[0].shape[1:])

        return hook

    hooks = [
        m.register_forward_pre_hook(record(path))
        for path, m in net.named_modules()
        if isinstance(m, (nn.Dropout, *_CHANNEL_DROPOUT))
    ]
    if not hooks:
        raise ValueError("the network has no dropout layer")
    with torch.no_grad():
        net.eval()(example)
    for hook in hooks:
        hook.remove()

    def convert(path: str, m: nn.Module) -> nn.Module | None:
        if path not in shapes or m.p == 0:
            return None
        shape = shapes[path]
        if isinstance(m, _CHANNEL_DROPOUT):
            shape = (shape[0],) + (1,) * (len(shape) - 1)
        return MaskedDropout(m.p, shape).to(example.device)

    replace_modules(net, convert)
    return net
