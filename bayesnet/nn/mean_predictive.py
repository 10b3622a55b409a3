"""A posterior predictive as a plain ``nn.Module``: the mean over fixed weight draws of a
network's outputs through its link, for deployment (``torch.export``, TorchScript-free
serving): no Pyro, no sampling at call time, eval mode throughout."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call

__all__ = ["MeanPredictive"]


class MeanPredictive(nn.Module):
    """``mean_s link(net(x; draw_s) / temperature)`` over the ``S`` draws given as
    ``{name: [S, ...]}`` (parameters and buffers of ``net``, normalisation statistics
    included); ``link`` is ``"softmax"`` (class probabilities over dimension 1) or
    ``"identity"`` (then ``temperature`` is 1). The draws and the temperature are buffers:
    the module moves, saves and exports with them."""

    def __init__(
        self, net: nn.Module, draws: dict[str, torch.Tensor], link: str, temperature: float = 1.0
    ) -> None:
        super().__init__()
        if link not in ("softmax", "identity"):
            raise ValueError(f"link must be 'softmax' or 'identity', got {link!r}")
        if not temperature > 0 or (link == "identity" and temperature != 1):
            raise ValueError(
                f"temperature must be positive (and 1 for the identity link), got {temperature!r}"
            )
        self.register_buffer("temperature", torch.tensor(float(temperature)))
        self.net = copy.deepcopy(net).eval().requires_grad_(False)
        self.names = list(draws)
        self.link = link
        self.num_draws = next(iter(draws.values())).shape[0] if draws else 1
        for i, name in enumerate(self.names):
            self.register_buffer(f"draw_{i}", draws[name].detach().clone())
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = None
        for s in range(self.num_draws):
            params = {n: getattr(self, f"draw_{i}")[s] for i, n in enumerate(self.names)}
            out = functional_call(self.net, params, (x,)) if params else self.net(x)
            out = (out / self.temperature).softmax(1) if self.link == "softmax" else out
            total = out if total is None else total + out
        return total / self.num_draws

    def train(self, mode: bool = True) -> MeanPredictive:
        """Stays in eval mode: the draws fix what dropout and BatchNorm do."""
        return super().train(False)
