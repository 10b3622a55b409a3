"""Convert between deterministic torch networks and Bayesian ones.

The policy is decided per module by its type (``type(m) is nn.Linear``), never by the
text of its class name, so a user's ``MyLinearThing`` that is not an ``nn.Linear`` is
left alone. Subclasses of ``nn.Linear``/``nn.Conv*`` are left deterministic too, since
their ``forward`` may do more than the base layer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Literal

from torch import nn

from .layers import BAYES_OF, BayesianLayer
from .normalization import normalization_layers

__all__ = [
    "bayesianize",
    "deterministic",
    "replace_modules",
    "bayesian_layers",
    "point_layers",
    "Policy",
]

Policy = Literal["bayes", "point", "frozen"]
_POLICIES = ("bayes", "point", "frozen")
#: which layers ``bayesianize`` makes Bayesian when nothing selects them explicitly
STOCHASTIC = ("auto", "head", "all")
Selector = Iterable[type[nn.Module] | nn.Module | str]


def replace_modules(net: nn.Module, fn: Callable[[str, nn.Module], nn.Module | None]) -> None:
    """Replace, in place, every submodule for which ``fn(path, module)`` returns a module."""
    for path, module in list(net.named_modules()):
        if not path:
            continue
        new = fn(path, module)
        if new is not None:
            parent_path, _, attr = path.rpartition(".")
            setattr(net.get_submodule(parent_path), attr, new)


def bayesian_layers(net: nn.Module) -> list[tuple[str, BayesianLayer]]:
    """``(path, layer)`` for every Bayesian layer in ``net``, in registration order."""
    return [(p, m) for p, m in net.named_modules() if isinstance(m, BayesianLayer)]


def point_layers(net: nn.Module) -> list[str]:
    """Paths of the Linear/Conv layers ``bayesianize`` left deterministic and trainable
    (point estimates, e.g. those before a network's last BatchNorm): SVI trains them; a
    sampler that moves only the Bayesian layers holds them at their current values."""
    return [
        path
        for path, m in net.named_modules()
        if type(m) in BAYES_OF and any(p.requires_grad for p in m.parameters(recurse=False))
    ]


def _matches(path: str, module: nn.Module, selector: Selector | None) -> bool:
    if selector is None:
        return False
    for item in selector:
        if isinstance(item, str) and item == path:
            return True
        if isinstance(item, type) and type(module) is item:
            return True
        if isinstance(item, nn.Module) and item is module:
            return True
    return False


def bayesianize(
    net: nn.Module,
    prior=None,
    include: Selector | None = None,
    exclude: Selector | None = None,
    last_layer: bool = False,
    policy: Callable[[str, nn.Module], Policy | None] | None = None,
    stochastic: str = "auto",
) -> nn.Module:
    """A Bayesian copy of ``net``: chosen Linear/Conv layers get priors over their weights.

    ``nn.Linear``, ``nn.Conv1d/2d/3d`` and ``nn.ConvTranspose2d`` can become Bayesian;
    normalisation layers, embeddings and everything else stay deterministic and are
    learned as point estimates. Which ones do:

    - ``stochastic="auto"`` (default): ``"all"`` for a network with BatchNorm, ``"head"``
      otherwise. Decided on the realistic battery (``benchmarks/battery.py``, RESULTS):
      on BatchNorm networks every layer Bayesian, with each draw's own normalisation
      statistics (``fit_svi``'s ``normalization="auto"``), beat the softmax's NLL on all
      six (network, seed) cells where the head alone missed one, and on a protocol the
      battery never saw (a BatchNorm CNN on real digits, issue 31) it beat the softmax
      where the head alone did not;
    - ``stochastic="head"``: the layers after the network's feature extractor.
      The feature extractor is every convolution followed by a Linear layer, and every
      layer registered before the last BatchNorm; it keeps point values (trained as
      point estimates, like BatchNorm's own parameters). A network without one (an MLP
      without BatchNorm) or with nothing after it (a fully convolutional one) is
      Bayesian throughout. Why: BatchNorm normalises with statistics estimated under one
      set of weights, which a draw of the layers before it would break, and with a
      few thousand images the convolutions' uncertainty costs more than it gives. Both
      partially stochastic posteriors beat the fully Bayesian ones in the paired studies
      of ``benchmarks/paired.py`` (lower NLL; the wider CNN only then as calibrated as
      the softmax; RESULTS);
    - ``stochastic="all"``: every such layer, as the samplers (``fit_hmc``,
      ``fit_sgmcmc``), which move only Bayesian layers, need;
    - ``include`` / ``exclude``: module types, module objects or exact module paths;
      with ``include`` only the matching layers become Bayesian;
    - ``last_layer=True``: only the last Linear/Conv layer is Bayesian and the layers
      before it are frozen (the common last-layer BNN on a trained feature extractor);
    - ``policy(path, module)`` returns ``"bayes"``, ``"point"`` or ``"frozen"`` (or None to
      fall back to the rules above) and overrides them per module. ``include``,
      ``last_layer`` and ``policy`` replace the ``stochastic`` rule; ``exclude`` narrows it.

    Existing weights are kept: they become the layers' ``*_point`` buffers, which the
    SVI guide starts from with ``init="point_estimate"``. ``net`` itself is not changed.
    """
    if stochastic not in STOCHASTIC:
        raise ValueError(f"unknown stochastic {stochastic!r}; choose one of {list(STOCHASTIC)}")
    if stochastic == "auto":
        stochastic = "all" if normalization_layers(net) else "head"
    net = copy.deepcopy(net)
    layers = [p for p, m in net.named_modules() if type(m) in BAYES_OF]
    last = layers[-1] if layers else None
    if isinstance(net, BayesianLayer) or (type(net) in BAYES_OF and last_layer):
        raise ValueError("bayesianize expects a network containing layers, not a single layer")
    upstream = _feature_extractor(net, layers) if stochastic == "head" else set()

    def decide(path: str, module: nn.Module) -> Policy:
        chosen = policy(path, module) if policy is not None else None
        if chosen is not None:
            if chosen not in _POLICIES:
                raise ValueError(f"policy for {path!r} returned {chosen!r}; use one of {_POLICIES}")
            return chosen
        if type(module) not in BAYES_OF or _matches(path, module, exclude):
            return "point"
        if last_layer:
            return "bayes" if path == last else "frozen"
        if include is not None:
            return "bayes" if _matches(path, module, include) else "point"
        return "point" if path in upstream else "bayes"

    if type(net) in BAYES_OF:
        return BAYES_OF[type(net)].from_torch(net, prior)

    def convert(path: str, module: nn.Module) -> nn.Module | None:
        if isinstance(module, BayesianLayer):
            return None
        chosen = decide(path, module)
        if chosen == "bayes":
            if type(module) not in BAYES_OF:
                raise ValueError(f"cannot make {path!r} ({type(module).__name__}) Bayesian")
            return BAYES_OF[type(module)].from_torch(module, prior)
        if chosen == "frozen":
            for p in module.parameters(recurse=False):
                p.requires_grad_(False)
        return None

    replace_modules(net, convert)
    if not bayesian_layers(net):
        raise ValueError("bayesianize selected no layer: check include/exclude/policy")
    return net


def _feature_extractor(net: nn.Module, layers: list[str]) -> set[str]:
    """The Linear/Conv ``layers`` that ``stochastic="head"`` keeps as point estimates:
    convolutions with a Linear layer after them, and layers before the last BatchNorm;
    none when that would leave no layer Bayesian."""
    modules = dict(net.named_modules())
    position = {path: i for i, path in enumerate(modules)}
    last_norm = max((position[path] for path, _ in normalization_layers(net)), default=-1)
    last_linear = max((position[p] for p in layers if type(modules[p]) is nn.Linear), default=-1)
    point = {
        path
        for path in layers
        if (type(modules[path]) is not nn.Linear and position[path] < last_linear)
        or position[path] < last_norm
    }
    return point if len(point) < len(layers) else set()


def deterministic(net: nn.Module) -> nn.Module:
    """A plain torch copy of ``net`` with every Bayesian layer at its point values."""
    if isinstance(net, BayesianLayer):
        return net.to_torch()
    net = copy.deepcopy(net)
    replace_modules(net, lambda _, m: m.to_torch() if isinstance(m, BayesianLayer) else None)
    return net
