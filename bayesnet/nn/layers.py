"""Bayesian drop-in replacements for torch layers.

Each class subclasses the torch layer (through ``PyroModule``) and takes the same
constructor arguments plus ``prior=``. ``weight`` and ``bias`` become ``PyroSample``
sites drawn from the prior; the deterministic values they had are kept as buffers
``weight_point`` / ``bias_point`` (the guide's initial means, the centre of a
``Pretrained`` prior, and the shape/device reference for priors).

The layer's arithmetic goes through one effectful operation, ``bayes_layer``, so that
Pyro effect handlers (local reparameterization, flipout) can replace how a layer maps
inputs to outputs without knowing the architecture around it.
"""

from __future__ import annotations

import copy
import functools

import pyro
import torch
import torch.nn.functional as F
from pyro.nn import PyroModule, PyroSample
from pyro.nn.module import to_pyro_module_
from pyro.poutine.runtime import effectful
from torch import nn

from .. import priors as _priors
from .._compat import conv_forward, module_name, version
from .._pyro import LocalParams, local_params

__all__ = [
    "BayesianLayer",
    "BayesLinear",
    "BayesConv1d",
    "BayesConv2d",
    "BayesConv3d",
    "BayesConvTranspose2d",
    "BAYES_OF",
]

PARAM_NAMES = ("weight", "bias")


def _site_prior(layer: BayesianLayer, name: str):
    return layer.prior_distribution(name)


def _apply(layer: BayesianLayer, x: torch.Tensor, weight, bias) -> torch.Tensor:
    return layer.functional(x, weight, bias)


apply_layer = effectful(_apply, type="bayes_layer")


def _new_layer(cls: type) -> BayesianLayer:
    return cls.__new__(cls)


class BayesianLayer(LocalParams):
    """Mixin turning a torch layer's ``weight`` and ``bias`` into prior-distributed sites."""

    torch_class: type[nn.Module]
    out_dim = 0  # the dimension of ``weight`` that indexes output units
    prior: _priors.Prior

    def __init__(self, *args, prior: _priors.Prior | str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._make_bayesian(prior)

    def _make_bayesian(self, prior) -> None:
        self.prior = _priors.get(prior)
        for name in PARAM_NAMES:
            value = self._parameters.get(name)
            if value is None:
                continue
            self.register_buffer(f"{name}_point", value.detach().clone())
            setattr(self, name, PyroSample(functools.partial(_site_prior, name=name)))
        self.prior.attach(self)

    def prior_distribution(self, name: str):
        """The prior of ``self.<name>``, built once per device/dtype when the prior allows.

        Building a distribution (with argument validation) on every forward pass costs more
        than the small layers' arithmetic; fixed priors are cached here, built without
        sample validation so that a NaN proposal (a divergent HMC trajectory) is rejected by
        the sampler rather than raised.
        """
        prior = self.prior
        if not prior.cacheable:
            return prior.distribution(self, name)
        point = self._buffers[f"{name}_point"]
        key = (id(prior), module_name(self), point.device, point.dtype, version(point))
        cache = self.__dict__.setdefault("_prior_cache", {})
        hit = cache.get(name)
        if hit is None or hit[0] != key:
            with pyro.validation_enabled(False):
                hit = cache[name] = (key, prior.distribution(self, name))
        return hit[1]

    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the sampled parameters this layer has ("weight" and maybe "bias")."""
        return tuple(n for n in PARAM_NAMES if f"{n}_point" in self._buffers)

    def site_name(self, name: str) -> str:
        """The Pyro site name of ``self.<name>`` (module path + attribute)."""
        prefix = module_name(self)
        return f"{prefix}.{name}" if prefix else name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return apply_layer(self, x, self.weight, self.bias, name=module_name(self))

    def functional(self, x: torch.Tensor, weight: torch.Tensor, bias) -> torch.Tensor:
        """The layer's map with explicit weights (linear in ``weight``)."""
        return conv_forward(self, x, weight, bias)

    def sign_shape(self, t: torch.Tensor) -> tuple[int, ...]:
        """Shape of flipout's random signs for an input/output ``t`` of this layer.

        Convolutions share weights over space, so a sign is per example and channel.
        """
        return tuple(t.shape[:2]) + (1,) * (t.dim() - 2)

    @classmethod
    def from_torch(cls, module: nn.Module, prior=None) -> BayesianLayer:
        """A Bayesian copy of a torch layer, its current weights kept as ``*_point``."""
        layer = copy.deepcopy(module)
        with local_params():
            to_pyro_module_(layer, recurse=False)
        layer.__class__ = cls
        layer._make_bayesian(prior)
        return layer

    def to_torch(self) -> nn.Module:
        """The deterministic torch layer of the same shape, holding the point values."""
        plain = copy.deepcopy(self)
        points = {n: plain.get_buffer(f"{n}_point") for n in self.param_names}
        for name in self.param_names:
            delattr(plain, f"{name}_point")
        for key in [k for k in plain.__dict__ if k.startswith("_pyro")] + ["prior", "_prior_cache"]:
            plain.__dict__.pop(key, None)
        plain.__class__ = self.torch_class
        for name, _ in list(plain.named_parameters(recurse=False)):
            if name.startswith(_priors.PRIOR_PARAMETER):
                delattr(plain, name)
        for name in PARAM_NAMES:
            value = points.get(name)
            plain.register_parameter(name, None if value is None else nn.Parameter(value))
        return plain

    def __reduce__(self):
        # PyroModule's own __reduce__ rebuilds PyroModule[Linear], dropping this subclass.
        return _new_layer, (type(self),), self.__getstate__()

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, prior={self.prior!r}"


class BayesLinear(BayesianLayer, PyroModule[nn.Linear]):
    """``nn.Linear`` with prior-distributed weight and bias."""

    torch_class = nn.Linear

    def functional(self, x, weight, bias):
        return F.linear(x, weight, bias)

    def sign_shape(self, t):
        return tuple(t.shape)


class BayesConv1d(BayesianLayer, PyroModule[nn.Conv1d]):
    """``nn.Conv1d`` with prior-distributed weight and bias."""

    torch_class = nn.Conv1d


class BayesConv2d(BayesianLayer, PyroModule[nn.Conv2d]):
    """``nn.Conv2d`` with prior-distributed weight and bias."""

    torch_class = nn.Conv2d


class BayesConv3d(BayesianLayer, PyroModule[nn.Conv3d]):
    """``nn.Conv3d`` with prior-distributed weight and bias."""

    torch_class = nn.Conv3d


class BayesConvTranspose2d(BayesianLayer, PyroModule[nn.ConvTranspose2d]):
    """``nn.ConvTranspose2d`` with prior-distributed weight and bias (no ``output_size``)."""

    torch_class = nn.ConvTranspose2d
    out_dim = 1

    def functional(self, x, weight, bias):
        return F.conv_transpose2d(
            x,
            weight,
            bias,
            self.stride,
            self.padding,
            self.output_padding,
            self.groups,
            self.dilation,
        )


BAYES_OF: dict[type[nn.Module], type[BayesianLayer]] = {
    cls.torch_class: cls
    for cls in (BayesLinear, BayesConv1d, BayesConv2d, BayesConv3d, BayesConvTranspose2d)
}
