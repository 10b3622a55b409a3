"""Normalisation statistics for each weight draw.

A BatchNorm layer's running statistics belong to the weights they were estimated under.
Under another draw of the layers before it, its inputs have other means and variances,
and the fixed statistics normalise them wrongly: the draw's function is not the one the
posterior describes. Averaging the statistics over noisy draws during training (what
BatchNorm's momentum does) makes every draw wrong in the same way and the predictive
underconfident. The remedy SWAG uses (Maddox et al. 2019) is to estimate each draw's own
statistics on training inputs, in training mode, before predicting with it; torch has no
function for it, so it is written here, over ``torch.func.functional_call`` so the draws
never touch the network's own buffers.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

import torch
from torch import nn
from torch.func import functional_call

from ..data.loaders import sample_inputs

__all__ = [
    "NORMALIZATION",
    "NORMALIZATION_INPUTS",
    "freeze_statistics",
    "has_normalization",
    "inputs_from_loader",
    "normalization_inputs",
    "normalization_layers",
    "statistic_names",
    "statistics_and_features",
    "statistics_per_draw",
]

#: the normalisation layers whose running statistics depend on the weights before them:
#: the one definition every engine, ``bayesianize`` and ``Posterior`` use (``SyncBatchNorm``
#: is what ``torchrun`` users convert BatchNorm to; outside a process group it normalises
#: as BatchNorm does)
NORMALIZATION = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
#: how many training inputs every draw's statistics are estimated on
NORMALIZATION_INPUTS = 1024
_STATISTICS = ("running_mean", "running_var")


def normalization_layers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(path, layer)`` of every normalisation layer of ``net`` that keeps running
    statistics."""
    return [
        (path, m)
        for path, m in net.named_modules()
        if isinstance(m, NORMALIZATION) and m.track_running_stats
    ]


def statistic_names(net: nn.Module) -> list[str]:
    """The buffers ``statistics_per_draw`` gives every draw: ``<path>.running_mean`` and
    ``<path>.running_var`` of each normalisation layer."""
    return [f"{p}.{s}" for p, _ in normalization_layers(net) for s in _STATISTICS]


def normalization_inputs(
    net: nn.Module, source: torch.Tensor | Sequence, size: int = NORMALIZATION_INPUTS
) -> torch.Tensor | None:
    """Up to ``size`` inputs evenly spaced through ``source`` (a tensor of inputs, or a data
    set of ``(input, target)`` pairs; a class-sorted one gives every class its share), on
    which each draw's statistics are estimated; None when ``net`` has no BatchNorm."""
    if not normalization_layers(net) or not len(source):
        return None
    n = len(source)
    idx = torch.linspace(0, n - 1, min(n, size)).round().long()
    if isinstance(source, torch.Tensor):
        return source[idx.to(source.device)]
    return torch.stack([source[i][0] for i in idx.tolist()])


def has_normalization(net: nn.Module) -> bool:
    """Whether ``net`` has a normalisation layer (``NORMALIZATION``)."""
    return any(isinstance(m, NORMALIZATION) for m in net.modules())


def freeze_statistics(net: nn.Module) -> None:
    """Put every normalisation layer of ``net`` in eval mode, so that it normalises with
    its running statistics (the others keep their mode)."""
    for module in net.modules():
        if isinstance(module, NORMALIZATION):
            module.eval()


def inputs_from_loader(
    net: nn.Module, loader: Iterable, size: int = NORMALIZATION_INPUTS
) -> torch.Tensor | None:
    """Up to ``size`` inputs drawn uniformly from one pass over the training ``loader`` (what
    it yields: its ``collate_fn``, sampler and batches apply), on which each draw's
    statistics are estimated; None when ``net`` has no BatchNorm."""
    if not normalization_layers(net):
        return None
    return sample_inputs(loader, size)


def statistics_per_draw(
    net: nn.Module, draws: dict[str, torch.Tensor], inputs: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Each draw's normalisation statistics on ``inputs``, as buffers to draw with:
    ``{path.running_mean: [S, C], path.running_var: [S, C]}`` for every layer of
    ``normalization_layers(net)``; none when it has none (``statistics_and_features``
    without features)."""
    return statistics_and_features(net, draws, inputs)[0]


@torch.no_grad()
def statistics_and_features(
    net: nn.Module, draws: dict[str, torch.Tensor], inputs: torch.Tensor, head: str | None = None
) -> tuple[dict[str, torch.Tensor], list[torch.Tensor] | None]:
    """Each draw's normalisation statistics on ``inputs`` (``statistics_per_draw``'s) and,
    with ``head`` (a module path of ``net``), the input that module receives from
    ``inputs`` under each draw, one tensor per draw (None without ``head``): one forward
    pass per draw gives both.

    ``draws`` maps parameter and buffer names of ``net`` (dropout masks, say) to
    ``[S, *shape]`` values; other names are passed over. The statistics of draw ``s`` are
    those of ``inputs`` in one batch through ``net`` with that draw's tensors, each layer
    normalising with its batch's statistics as in training: the batch mean and the biased
    variance that normalised the batch (torch's running estimate keeps the unbiased one).
    So ``inputs`` pass through the draw in eval mode, with these statistics, exactly as
    they passed while the statistics were estimated, and ``head``'s input in that pass is
    the one the draw predicts with."""
    layers = normalization_layers(net)
    if not layers and head is None:
        return {}, None
    names = {n for n, _ in [*net.named_parameters(), *net.named_buffers()]}
    params = {k: v for k, v in draws.items() if k in names}  # the fresh statistics win
    num = next(iter(draws.values())).shape[0] if draws else 1
    estimator = copy.deepcopy(net).eval()
    per_channel: dict[str, int] = {}  # elements each channel's statistics average over
    for path, _ in layers:
        layer = estimator.get_submodule(path)
        layer.train()
        layer.momentum = None  # a cumulative average: one batch gives that batch's own
        layer.register_forward_pre_hook(
            lambda _, args, path=path: per_channel.update(
                {path: args[0].numel() // args[0].shape[1]}
            )
        )
    features: list[torch.Tensor] = []
    if head is not None:
        estimator.get_submodule(head).register_forward_pre_hook(
            lambda _, args: features.append(args[0])
        )
    out: dict[str, list[torch.Tensor]] = {name: [] for name in statistic_names(net)}
    for s in range(num):
        fresh = {}
        for path, layer in layers:
            fresh[f"{path}.running_mean"] = torch.zeros_like(layer.running_mean)
            fresh[f"{path}.running_var"] = torch.ones_like(layer.running_var)
            fresh[f"{path}.num_batches_tracked"] = torch.zeros_like(layer.num_batches_tracked)
        functional_call(estimator, {**{k: v[s] for k, v in params.items()}, **fresh}, (inputs,))
        for path, _ in layers:  # updated in place by the batch-norm kernel
            n = per_channel[path]
            fresh[f"{path}.running_var"].mul_((n - 1) / n)
        for name, values in out.items():
            values.append(fresh[name])
    stats = {name: torch.stack(values) for name, values in out.items()}
    return stats, features if head is not None else None
