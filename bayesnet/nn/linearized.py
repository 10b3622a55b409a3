"""A network linearised in its parameters: ``f(x; w0) + J_w f(x; w0) (w - w0)``.

The linearised (GLM) predictive of a Gaussian posterior over the weights (Immer et al.
2021) runs the network's first-order Taylor expansion around the mode with each weight
draw: it keeps the mode's predictions where the draws would throw a nonlinear network out
of its basin. The module's parameters are the network's (under ``net.``), so a draw is
swapped in like any other (``torch.func.functional_call``); the expansion point is kept
as buffers, and the Jacobian-vector product is one forward-mode pass (``torch.func.jvp``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, jvp

__all__ = ["Linearized"]


class Linearized(nn.Module):
    """``net`` expanded to first order in its parameters around their current values."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.names = [name for name, _ in net.named_parameters()]
        for i, (_, p) in enumerate(net.named_parameters()):
            self.register_buffer(f"anchor{i}", p.detach().clone())

    def anchors(self) -> dict[str, torch.Tensor]:
        """The expansion point, by parameter name."""
        return {name: getattr(self, f"anchor{i}") for i, name in enumerate(self.names)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        params = dict(self.net.named_parameters())  # a draw's values, when one is swapped in
        anchors = self.anchors()
        delta = {name: params[name] - anchors[name] for name in self.names}
        out, tangent = jvp(lambda p: functional_call(self.net, p, (x,)), (anchors,), (delta,))
        return out + tangent
