"""Priors over the weights of Bayesian layers.

A prior is an object that, given a Bayesian layer and the name of one of its parameters
("weight" or "bias"), returns a Pyro distribution whose event shape is the parameter's
shape, on the parameter's device and dtype. Layers call it lazily on every forward pass
(through ``PyroSample``), so moving a layer with ``.to(device)`` moves its prior too.

Hierarchical priors add their own latent sites (the scale) to the layer in ``attach``;
Pyro then infers them jointly with the weights, by SVI or by HMC.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod

import pyro.distributions as dist
import torch
from pyro.nn import PyroSample
from torch import nn
from torch.distributions import constraints

from ._compat import module_name

#: what a prior applies itself to: a Bayesian layer of ``bayesnet.nn`` (its ``param_names``,
#: ``out_dim`` and ``<name>_point`` buffers); named by its base class so that ``priors``
#: does not import ``nn.layers``, which imports ``priors``
BayesianLayer = nn.Module

__all__ = [
    "Prior",
    "Normal",
    "FanIn",
    "ScaleMixture",
    "Laplace",
    "StudentT",
    "Hierarchical",
    "Pretrained",
    "EmpiricalBayes",
    "PRIOR_PARAMETER",
    "NAMES",
    "get",
]


#: prefix of parameters a prior registers on a layer (learned, not sampled)
PRIOR_PARAMETER = "prior_"


def _point(layer: BayesianLayer, name: str) -> torch.Tensor:
    """The layer's deterministic value of a parameter: gives shape, device and dtype."""
    return layer.get_buffer(f"{name}_point")


def _const(value: float, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


def fan_in(layer: BayesianLayer) -> int:
    """Inputs feeding one output unit (the same definition as ``torch.nn.init``)."""
    weight = _point(layer, "weight")
    fan_in_dim = 0 if layer.out_dim == 1 else 1  # ConvTranspose keeps inputs on dim 0
    receptive = weight[0, 0].numel() if weight.dim() > 2 else 1
    return weight.shape[fan_in_dim] * receptive


class Prior(ABC):
    """A prior over the parameters of Bayesian layers."""

    #: the constructor argument that sets the prior's width (``get(name, scale=...)``)
    scale_arg: str = "scale"

    #: whether ``distribution`` depends only on the layer's buffers (layers cache it)
    cacheable = True

    def attach(self, layer: BayesianLayer) -> None:  # noqa: B027 (optional hook)
        """Add any latent sites this prior needs on ``layer`` (none by default)."""

    @abstractmethod
    def distribution(self, layer: BayesianLayer, name: str) -> dist.Distribution:
        """The distribution of ``layer.<name>``, event shape = the parameter's shape."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class _IID(Prior):
    """An iid prior: one scalar family ``base`` expanded to the parameter's shape."""

    def distribution(self, layer, name):
        like = _point(layer, name)
        return self.base(layer, like).expand(like.shape).to_event(like.dim())

    @abstractmethod
    def base(self, layer: BayesianLayer, like: torch.Tensor) -> dist.Distribution:
        """The scalar distribution of one weight."""


class Normal(_IID):
    """Independent ``N(loc, scale^2)`` on every weight."""

    def __init__(self, scale: float = 1.0, loc: float = 0.0) -> None:
        if scale <= 0:
            raise ValueError(f"Normal prior needs scale > 0, got {scale}")
        self.scale, self.loc = scale, loc

    def base(self, layer, like):
        return dist.Normal(_const(self.loc, like), _const(self.scale, like))


class FanIn(_IID):
    """``N(0, (gain / sqrt(fan_in))^2)`` per layer: keeps activations O(1) at any width."""

    scale_arg = "gain"

    def __init__(self, gain: float = 1.0) -> None:
        if gain <= 0:
            raise ValueError(f"FanIn prior needs gain > 0, got {gain}")
        self.gain = gain

    def base(self, layer, like):
        return dist.Normal(_const(0.0, like), _const(self.gain / math.sqrt(fan_in(layer)), like))


class _NormalMixture(dist.MixtureSameFamily):
    """A mixture of Normals, whose support torch reports as a ``MixtureSameFamilyConstraint``
    that ``biject_to`` cannot map; every component lives on the real line, so it does."""

    support = constraints.real


class ScaleMixture(_IID):
    """Blundell et al.'s mixture ``pi N(0, sigma1^2) + (1 - pi) N(0, sigma2^2)``."""

    scale_arg = "sigma1"

    def __init__(self, pi: float = 0.5, sigma1: float = 1.0, sigma2: float = 0.0025) -> None:
        if not 0 < pi < 1 or sigma1 <= 0 or sigma2 <= 0:
            raise ValueError(
                f"ScaleMixture needs 0 < pi < 1 and positive sigmas, got {pi}, {sigma1}, {sigma2}"
            )
        self.pi, self.sigma1, self.sigma2 = pi, sigma1, sigma2

    def base(self, layer, like):
        mix = dist.Categorical(probs=torch.tensor([self.pi, 1 - self.pi]).to(like))
        comp = dist.Normal(
            torch.zeros(2).to(like), torch.tensor([self.sigma1, self.sigma2]).to(like)
        )
        return _NormalMixture(mix, comp)


class Laplace(_IID):
    """Independent ``Laplace(0, scale)``: a sparsity-favouring prior."""

    def __init__(self, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError(f"Laplace prior needs scale > 0, got {scale}")
        self.scale = scale

    def base(self, layer, like):
        return dist.Laplace(_const(0.0, like), _const(self.scale, like))


class StudentT(_IID):
    """Independent Student-t with ``df`` degrees of freedom: heavy tails."""

    def __init__(self, df: float = 3.0, scale: float = 1.0) -> None:
        if df <= 0 or scale <= 0:
            raise ValueError(
                f"StudentT prior needs df > 0 and scale > 0, got df={df}, scale={scale}"
            )
        self.df, self.scale = df, scale

    def base(self, layer, like):
        return dist.StudentT(_const(self.df, like), _const(0.0, like), _const(self.scale, like))


class Hierarchical(Prior):
    """``w ~ N(0, tau^2)`` with the scale ``tau`` itself a latent site with a hyperprior.

    ``per="layer"`` learns one scale per layer, ``per="unit"`` one per output unit (shared
    by the unit's weights and bias). The default hyperprior is a log-normal centred on the
    fan-in scale ``gain / sqrt(fan_in)`` with log-spread ``spread``; pass ``hyperprior`` (a
    scalar distribution on the positive reals) to replace it. The scale appears as the site
    ``<layer>.scale`` and is inferred jointly with the weights.
    """

    def __init__(
        self,
        per: str = "layer",
        gain: float = 1.0,
        spread: float = 1.0,
        hyperprior: dist.Distribution | None = None,
    ) -> None:
        if per not in ("layer", "unit"):
            raise ValueError(f"Hierarchical prior: per must be 'layer' or 'unit', got {per!r}")
        self.per, self.gain, self.spread, self.hyperprior = per, gain, spread, hyperprior

    cacheable = False  # the weights' scale is a fresh latent draw on every pass
    scale_arg = "gain"

    def attach(self, layer):
        # a partial, not a bound method: PyroSample renames callables that have a __name__
        layer.scale = PyroSample(functools.partial(Hierarchical._hyper, self))

    def _hyper(self, layer: BayesianLayer) -> dist.Distribution:
        like = _point(layer, "weight")
        if self.hyperprior is not None:
            hyper = self.hyperprior
        else:
            centre = math.log(self.gain / math.sqrt(fan_in(layer)))
            hyper = dist.LogNormal(_const(centre, like), _const(self.spread, like))
        if self.per == "layer":
            return hyper
        return hyper.expand((like.shape[layer.out_dim],)).to_event(1)

    def distribution(self, layer, name):
        like = _point(layer, name)
        tau = layer.scale
        if self.per == "unit":
            shape = [1] * like.dim()
            shape[layer.out_dim if name == "weight" else 0] = -1
            tau = tau.reshape(shape)
        return dist.Normal(torch.zeros_like(like), tau.expand(like.shape)).to_event(like.dim())


class Pretrained(Prior):
    """``N(w_trained, scale^2)``: centred on the weights of a trained network.

    With ``net`` given, the centre of each parameter is looked up in ``net`` under the
    layer's module path; without it (or where ``net`` has no such parameter) the layer's
    own deterministic weights are the centre, which is what ``bayesianize(trained_net)``
    keeps.
    """

    def __init__(self, net: nn.Module | None = None, scale: float = 0.1) -> None:
        if scale <= 0:
            raise ValueError(f"Pretrained prior needs scale > 0, got {scale}")
        self.scale = scale
        self._state = (
            {} if net is None else {k: v.detach().clone() for k, v in net.state_dict().items()}
        )

    def distribution(self, layer, name):
        like = _point(layer, name)
        path = module_name(layer)
        key = f"{path}.{name}" if path else name
        loc = self._state.get(key)
        if loc is None or loc.shape != like.shape:
            loc = like
        loc = loc.to(like)
        return dist.Normal(loc, torch.full_like(loc, self.scale)).to_event(loc.dim())


class EmpiricalBayes(Prior):
    """``N(0, s^2)`` with one scale ``s`` per layer and parameter (weight, bias), fitted by
    maximising the ELBO alongside the guide (type-II maximum likelihood).

    The scales start at ``scale`` and are the layer's parameters ``prior_log_scale_weight``
    and ``prior_log_scale_bias``: ``fit_svi`` optimises them with the guide (and keeps them
    fixed during its MAP warm start, where they would shrink to zero with the weights).
    For a mean-field Normal guide the optimum is ``s^2 = mean(mu^2 + sigma^2)`` over the
    parameter's entries: the prior learns the spread the posterior gives the weights.
    """

    cacheable = False  # depends on a learned parameter

    def __init__(self, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError(f"EmpiricalBayes prior needs an initial scale > 0, got {scale}")
        self.scale = scale

    def attach(self, layer):
        for name in layer.param_names:
            like = _point(layer, name)
            log_scale = torch.full((), math.log(self.scale), dtype=like.dtype, device=like.device)
            layer.register_parameter(f"{PRIOR_PARAMETER}log_scale_{name}", nn.Parameter(log_scale))

    def learned_scale(self, layer: BayesianLayer, name: str) -> torch.Tensor:
        """The current prior scale of ``layer.<name>``."""
        return layer.get_parameter(f"{PRIOR_PARAMETER}log_scale_{name}").exp()

    def distribution(self, layer, name):
        like = _point(layer, name)
        scale = self.learned_scale(layer, name).expand(like.shape)
        return dist.Normal(torch.zeros_like(like), scale).to_event(like.dim())


#: by name; ``None`` is ``Normal(1)`` rather than ``FanIn``: as a weight decay a fan-in scale
#: costs ``fan_in / 2`` nats per unit of squared weight, which on a few thousand examples
#: shrinks a CNN's dense layers until it underfits (benchmarks/RESULTS.md, quality).
#: every prior by the names ``get`` takes
NAMES = {
    "normal": Normal,
    "fan_in": FanIn,
    "fanin": FanIn,
    "scale_mixture": ScaleMixture,
    "laplace": Laplace,
    "student_t": StudentT,
    "hierarchical": Hierarchical,
    "pretrained": Pretrained,
    "empirical_bayes": EmpiricalBayes,
}


def get(prior: Prior | str | None, scale: float | None = None) -> Prior:
    """Resolve ``None`` (the default, ``Normal(1)``), a name, or a Prior object. With a name,
    ``scale`` sets the prior's width through its own argument (``scale_arg``: ``gain`` for
    the fan-in priors, ``sigma1`` for the scale mixture)."""
    if prior is None:
        prior = "normal"
    if isinstance(prior, Prior):
        if scale is not None:
            raise ValueError("scale= applies to a prior given by name, not to a Prior object")
        return prior
    if isinstance(prior, str):
        try:
            cls = NAMES[prior.lower()]
        except KeyError:
            raise ValueError(f"unknown prior {prior!r}; choose one of {sorted(NAMES)}") from None
        if scale is None:
            return cls()
        return cls(**{cls.scale_arg: scale})
    raise TypeError(f"prior must be a bayesnet.priors.Prior, a name or None, got {type(prior)}")
