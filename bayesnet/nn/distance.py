"""A classifier's predictive that grows uncertain with distance from the training data.

Far from the training inputs a network's draws can all agree, confidently and wrongly
(on the battery, every method's draws on the real digits' ResNet-8 call uniform noise a
digit; a deep ensemble's too). What does see such inputs is their distance from the
training data in the network's own feature space (Mukhoti et al. 2021, DDU; Liu et al.
2020, SNGP). Here, per weight draw: the features are the input of the network's last
``nn.Linear`` (its head); on labelled training examples they give class means and one
shared covariance; an input's distance ``r`` is its smallest Mahalanobis distance to a
class mean (over the feature dimension), in units of the training examples' median. The
draw's logits then carry Gaussian noise of variance ``alpha * (r - r_q)_+``, none within
the training examples' ``q`` quantile ``r_q``, integrated in closed form (the mean-field
approximation ``E softmax(l + e) ~ softmax(l / sqrt(1 + pi var / 8))``, as SNGP and
laplace-torch's probit predictive do): no sampling, so a prediction is a function of its
input and the draw. ``benchmarks/distance_noise_screen.py`` measured the setting.

The statistics are buffers of ``DistanceLinear``, the head's replacement: each draw
carries its own as it carries its BatchNorm statistics, through ``functional_call``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

__all__ = [
    "ALPHA",
    "FOLDS",
    "LEVEL",
    "DistanceLinear",
    "DistanceUnsupported",
    "check_head",
    "class_gaussian",
    "FeatureDistance",
    "head_path",
    "out_of_fold_distance",
    "same_softmax",
    "smallest_distance",
]

#: the noise variance per unit of distance beyond the training examples' ``LEVEL`` quantile
ALPHA = 3.0
LEVEL = 0.99
#: the training examples' distances the median and quantile are read off: their own (1),
#: or each under the statistics of the other folds (out of fold)
FOLDS = 1
#: the buffers every draw gets
STATISTICS = ("class_means", "class_present", "precision", "distance_scale", "distance_floor")
#: of the covariance's mean variance, added to its diagonal (features that never vary)
RIDGE = 1e-3


class DistanceUnsupported(ValueError):
    """The network has no head a distance-aware predictive can sit on (the message says
    why): no ``nn.Linear``, a last one that does not take ``[N, d]`` features, or one whose
    output is not the network's up to a shift per input."""


def head_path(net: nn.Module) -> str:
    """The path of ``net``'s last ``nn.Linear`` (in module order): its head, whose input
    are the features."""
    paths = [p for p, m in net.named_modules() if type(m) in (nn.Linear, DistanceLinear)]
    if not paths:
        raise DistanceUnsupported(
            "a distance-aware predictive needs a network with an nn.Linear head"
        )
    return paths[-1]


@torch.no_grad()
def check_head(net: nn.Module, example: torch.Tensor) -> None:
    """Raise ``DistanceUnsupported`` unless ``net`` (in eval mode, a copy the caller does not
    hold) ends in an ``nn.Linear`` whose ``[N, d]`` input gives the network's output, as it
    is or shifted per input (``F.log_softmax`` after the head, as PyTorch's MNIST example
    ends): ``example`` (a few inputs) runs through it once to see."""
    path = head_path(net)
    head = net.get_submodule(path)
    seen: dict[str, torch.Tensor] = {}

    def keep(_, args, out):
        seen["features"], seen["logits"] = args[0], out

    handle = head.register_forward_hook(keep)
    try:
        out = net(example)
    finally:
        handle.remove()
    if "features" not in seen or seen["features"].dim() != 2:
        raise DistanceUnsupported(f"its last nn.Linear ({path}) does not take [N, d] features")
    if not same_softmax(out, seen["logits"]):
        raise DistanceUnsupported(
            f"its output is not its last nn.Linear's ({path}), nor a shift of it per input "
            "(a log-softmax): something follows it"
        )


def same_softmax(out: torch.Tensor, logits: torch.Tensor) -> bool:
    """Whether ``out`` differs from ``logits`` by at most a shift per input (what a
    log-softmax, a reshape to the same shape or an identity leave): then the softmax of the
    network's output is the head's softmax, and dividing the head's logits divides the
    predictive's."""
    if out.shape != logits.shape:
        return False
    gap = (out - logits).double()
    tolerance = 1e-5 * max(1.0, float(logits.abs().amax()))
    return bool((gap - gap[..., :1]).abs().amax() <= tolerance)


class DistanceLinear(nn.Linear):
    """``nn.Linear`` whose outputs are divided by ``sqrt(1 + pi / 8 * alpha * (r - floor)_+)``
    per input, ``r`` the input's distance from the training features (the module's
    docstring). Until its statistics are estimated (``floor`` infinite) it is the linear
    layer."""

    def __init__(self, linear: nn.Linear, alpha: float) -> None:
        kw = {"device": linear.weight.device, "dtype": linear.weight.dtype}
        super().__init__(linear.in_features, linear.out_features, linear.bias is not None, **kw)
        self.load_state_dict(linear.state_dict())
        self.alpha = alpha
        c, d = linear.out_features, linear.in_features
        self.register_buffer("class_means", torch.zeros(c, d, **kw))
        self.register_buffer("class_present", torch.ones(c, dtype=torch.bool, device=kw["device"]))
        self.register_buffer("precision", torch.eye(d, **kw))
        self.register_buffer("distance_scale", torch.ones((), **kw))
        self.register_buffer("distance_floor", torch.full((), math.inf, **kw))

    def distance(self, features: torch.Tensor) -> torch.Tensor:
        """``r`` of ``features [..., d]`` (the module's docstring)."""
        r = smallest_distance(features, self.class_means, self.class_present, self.precision)
        return r / self.distance_scale

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits = super().forward(features)
        var = self.alpha * (self.distance(features) - self.distance_floor).clamp_min(0)
        return logits / (1 + math.pi / 8 * var).sqrt().unsqueeze(-1)


class FeatureDistance:
    """What a distance-aware predictive is estimated on and how strongly it acts: labelled
    training ``inputs`` and ``labels`` (up to ``NORMALIZATION_INPUTS``, every class among
    them), ``alpha`` and ``level`` (the module's docstring). ``Posterior(distance=...)``
    puts a ``DistanceLinear`` head on its network and estimates every draw's statistics
    with this, once, keeping them with the draws."""

    def __init__(
        self,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        alpha: float = ALPHA,
        level: float = LEVEL,
        folds: int = FOLDS,
    ) -> None:
        if not (alpha >= 0 and 0 < level < 1):
            raise ValueError(f"need alpha >= 0 and 0 < level < 1; got {alpha}, {level}")
        if folds < 1:
            raise ValueError(f"need folds >= 1; got {folds}")
        if labels.dim() != 1 or len(labels) != len(inputs) or labels.is_floating_point():
            raise ValueError(
                "a distance-aware predictive is estimated on class labels: one integer label "
                f"per input; got labels of shape {tuple(labels.shape)} ({labels.dtype}) for "
                f"{len(inputs)} inputs"
            )
        self.inputs, self.labels = inputs, labels.long()
        self.alpha, self.level, self.folds = float(alpha), float(level), int(folds)

    def state(self) -> dict[str, Any]:
        """What ``Posterior.save`` writes (``FeatureDistance(**state)`` rebuilds it)."""
        return {
            "inputs": self.inputs,
            "labels": self.labels,
            "alpha": self.alpha,
            "level": self.level,
            "folds": self.folds,
        }

    def head(self, net: nn.Module) -> None:
        """Replace ``net``'s head by a ``DistanceLinear`` of the same weights, in place."""
        path = head_path(net)
        parent, _, name = path.rpartition(".")
        linear = net.get_submodule(path)
        if int(self.labels.max()) >= linear.out_features:
            raise ValueError(
                f"the labels go up to {int(self.labels.max())}; the head has "
                f"{linear.out_features} outputs"
            )
        setattr(net.get_submodule(parent), name, DistanceLinear(linear, self.alpha))

    @torch.no_grad()
    def statistics(
        self,
        net: nn.Module,
        draws: dict[str, torch.Tensor],
        features: Iterable[torch.Tensor] | None = None,
    ) -> dict[str, Any]:
        """Each draw's head statistics ``{<head>.<buffer>: [S, ...]}`` for ``net`` (with a
        ``DistanceLinear`` head, in eval mode), from the features of ``inputs`` under that
        draw's tensors (its BatchNorm statistics among them): ``features``, one tensor per
        draw, where the pass that estimated those statistics kept them
        (``statistics_and_features``); else one forward pass per draw here."""
        path = head_path(net)
        layer = net.get_submodule(path)
        if features is None:
            features = self._features(net, path, draws)
        labels = self.labels.to(layer.weight.device)
        out: dict[str, list[torch.Tensor]] = {name: [] for name in STATISTICS}
        for f in features:
            for name, value in self._estimate(layer, f, labels).items():
                out[name].append(value)
        return {f"{path}.{name}": torch.stack(values) for name, values in out.items()}

    def _features(
        self, net: nn.Module, path: str, draws: dict[str, torch.Tensor]
    ) -> Iterator[torch.Tensor]:
        """The input of ``net``'s module ``path`` from ``inputs`` under each draw, one draw
        at a time."""
        names = {n for n, _ in [*net.named_parameters(), *net.named_buffers()]}
        params = {k: v for k, v in draws.items() if k in names}
        if not params:
            raise ValueError("a distance-aware predictive needs weight draws; this has none")
        num = next(iter(params.values())).shape[0]
        head = net.get_submodule(path)
        inputs = self.inputs.to(head.weight.device)
        kept: list[torch.Tensor] = []
        hook = head.register_forward_pre_hook(lambda _, args: kept.append(args[0]))
        try:
            for s in range(num):
                functional_call(net, {k: v[s] for k, v in params.items()}, (inputs,))
                yield kept.pop()
        finally:
            hook.remove()

    def _estimate(
        self, layer: DistanceLinear, features: torch.Tensor, labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """One draw's buffers from its training ``features [n, d]``: class means and the
        shared precision (in float64, then the layer's dtype), the median distance and the
        ``level`` quantile in units of it."""
        if features.dim() != 2:
            raise ValueError(
                "a distance-aware predictive takes the head's input as [N, d] features; "
                f"this network's head takes {tuple(features.shape)}"
            )
        f = features.double()
        c = layer.out_features
        means, present, precision = class_gaussian(f, labels, c)
        if self.folds == 1:  # out_of_fold_distance would estimate the same Gaussian again
            r = smallest_distance(f, means, present, precision)
        else:
            r = out_of_fold_distance(f, labels, c, self.folds)
        scale = r.median()
        dtype = layer.weight.dtype
        values = {
            "class_means": means,
            "class_present": present,
            "precision": precision,
            "distance_scale": scale,
            "distance_floor": torch.quantile(r / scale, self.level),
        }
        return {k: v if k == "class_present" else v.to(dtype) for k, v in values.items()}


def class_gaussian(
    features: torch.Tensor, labels: torch.Tensor, classes: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The class means ``[C, d]`` of ``features [n, d]``, which classes are present, and the
    (symmetric) precision of their shared covariance, ``RIDGE`` of its mean variance added
    to its diagonal."""
    d = features.shape[1]
    counts = torch.bincount(labels, minlength=classes)
    kw = {"dtype": features.dtype, "device": features.device}
    means = torch.zeros(classes, d, **kw).index_add_(0, labels, features)
    means = means / counts.clamp_min(1)[:, None]
    centred = features - means[labels]
    cov = centred.T @ centred / len(features)
    ridge = RIDGE * cov.diagonal().mean() + torch.finfo(features.dtype).tiny
    precision = torch.linalg.inv(cov + ridge * torch.eye(d, **kw))
    return means, counts > 0, (precision + precision.T) / 2


def out_of_fold_distance(
    features: torch.Tensor, labels: torch.Tensor, classes: int, folds: int
) -> torch.Tensor:
    """Each example's distance under the class Gaussian of the other ``folds - 1`` folds
    (every ``folds``-th example a fold): distances as an input the statistics never saw
    gets, where an example's own distance is biased low by its share in them. One fold:
    each example's own distance, under the statistics of all of them."""
    if folds == 1:
        return smallest_distance(features, *class_gaussian(features, labels, classes))
    fold = torch.arange(len(features), device=features.device) % folds
    r = torch.empty(len(features), dtype=features.dtype, device=features.device)
    for k in range(folds):
        held = fold == k
        means, present, precision = class_gaussian(features[~held], labels[~held], classes)
        r[held] = smallest_distance(features[held], means, present, precision)
    return r


def smallest_distance(
    features: torch.Tensor, means: torch.Tensor, present: torch.Tensor, precision: torch.Tensor
) -> torch.Tensor:
    """The smallest squared Mahalanobis distance of ``features [..., d]`` to the class
    ``means [C, d]`` present (``present [C]``) under ``precision [d, d]``, over ``d``; in one
    matrix product per input and class (``|f|^2 - 2 f.m + |m|^2`` in the precision's metric)."""
    pf = features @ precision
    squared = (
        (features * pf).sum(-1, keepdim=True)
        - 2 * pf @ means.T
        + ((means @ precision) * means).sum(-1)
    )
    squared = squared.masked_fill(~present, math.inf).clamp_min(0)
    return squared.min(-1).values / features.shape[-1]
