"""Local reparameterization and flipout as Pyro effect handlers.

Both act on the ``bayes_layer`` message every Bayesian layer emits, using the mean-field
Normal the guide drew that layer's weight from (recorded as the guide runs). They change
how the layer's output is sampled, never its distribution's mean, so any architecture
built from Bayesian layers works unchanged:

- local reparameterization (Kingma et al. 2015) samples each output from its exact
  Gaussian marginal ``N(f(x, mu), f(x^2, sigma^2))``, independently per example;
- flipout (Wen et al. 2018) decorrelates one weight perturbation across the batch with
  random signs: ``f(x, mu) + f(x * s_in, dW) * s_out``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import pyro.distributions as dist
import torch
from pyro.poutine.messenger import Messenger

from ..._checks import check_choice

__all__ = [
    "LocalReparameterization",
    "Flipout",
    "REPARAMS",
    "make_reparam",
    "local_noise",
    "flipout_noise",
    "normal_of",
]


def normal_of(fn) -> dist.Normal | None:
    """The Normal inside a (reinterpreted) Normal distribution, else None."""
    while isinstance(fn, dist.Independent):
        fn = fn.base_dist
    return fn if isinstance(fn, dist.Normal) else None


class _LayerReparam(Messenger, ABC):
    """Records the guide's Normal for each weight site; rewrites matching layer outputs."""

    def __enter__(self):
        self._guide: dict[str, dist.Normal] = {}
        return super().__enter__()

    def _pyro_post_sample(self, msg) -> None:
        # The guide runs first: keep its distribution, not the prior seen later in the model.
        if msg["is_observed"] or msg["name"] in self._guide:
            return
        normal = normal_of(msg["fn"])
        if normal is not None:
            self._guide[msg["name"]] = normal

    def _pyro_bayes_layer(self, msg) -> None:
        layer, x, weight, bias = msg["args"]
        normal = self._guide.get(layer.site_name("weight"))
        if normal is None or normal.loc.shape != weight.shape:
            return
        msg["value"] = self.output(layer, x, weight, bias, normal)
        msg["done"] = True

    @abstractmethod
    def output(self, layer, x, weight, bias, normal: dist.Normal) -> torch.Tensor:
        """A sample of the layer's output given the guide's Normal over its weight."""


def _signs(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    return torch.empty(shape, device=like.device, dtype=like.dtype).bernoulli_(0.5) * 2 - 1


def local_noise(layer, x, mean, weight, normal: dist.Normal) -> torch.Tensor:
    """Local reparameterization's sample minus the output's mean ``f(x, mu)``: Gaussian
    with variance ``f(x^2, sigma^2)``, independent per example."""
    var = layer.functional(x.square(), normal.scale.square(), None)
    return var.clamp_min(1e-16).sqrt() * torch.randn_like(mean)


def flipout_noise(layer, x, mean, weight, normal: dist.Normal) -> torch.Tensor:
    """Flipout's perturbation of the output: ``f(x * s_in, w - mu) * s_out``."""
    s_in = _signs(layer.sign_shape(x), x)
    s_out = _signs(layer.sign_shape(mean), x)
    return layer.functional(x * s_in, weight - normal.loc, None) * s_out


class LocalReparameterization(_LayerReparam):
    def output(self, layer, x, weight, bias, normal):
        mean = layer.functional(x, normal.loc, bias)
        return mean + local_noise(layer, x, mean, weight, normal)


class Flipout(_LayerReparam):
    def output(self, layer, x, weight, bias, normal):
        mean = layer.functional(x, normal.loc, bias)
        return mean + flipout_noise(layer, x, mean, weight, normal)


REPARAMS = {"local": LocalReparameterization, "flipout": Flipout}


def make_reparam(name: str | None) -> _LayerReparam | None:
    """A fresh handler for ``"local"`` or ``"flipout"``; None for plain reparameterization."""
    return None if name is None else REPARAMS[check_choice(name, REPARAMS, "reparam")]()
