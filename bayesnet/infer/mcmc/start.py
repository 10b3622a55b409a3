"""Where HMC starts and what it runs on: the potential (bayesnet's functional one, or
Pyro's counted), the chains' initial points, and the check that a full-batch pass fits
the device's memory."""

from __future__ import annotations

import os
from collections.abc import Callable

import pyro
import torch
from pyro import poutine
from pyro.infer.autoguide.initialization import InitMessenger
from pyro.infer.mcmc.util import initialize_model
from pyro.poutine.util import site_is_subsample
from torch import nn

from ...models import BayesianModel
from ..svi.initial import init_strategy
from .logjoint import LogJoint

__all__ = ["FunctionalPotential", "Counted", "check_memory", "free_memory", "initial_points"]


class FunctionalPotential:
    """``U(w) = -log p(w) - log p(y | x, w)`` as a pure function of the weight dict."""

    def __init__(
        self, model: BayesianModel, x: torch.Tensor, y: torch.Tensor, net: nn.Module | None = None
    ) -> None:
        net = net if net is not None else model.deterministic_net()
        self.log_joint = LogJoint(model, net.to(x.device))
        self.net, self.x, self.y = self.log_joint.net, x, y

    def __call__(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        return -self.log_joint(params, self.x, self.y)


class Counted:
    """Wraps a potential (the functional one or Pyro's) to count gradient evaluations
    (leapfrog steps)."""

    def __init__(self, fn: Callable) -> None:
        self.fn, self.calls = fn, 0

    def __call__(self, params):
        self.calls += 1
        return self.fn(params)


def free_memory(device: torch.device) -> int | None:
    """Free bytes on ``device``, or None where the platform does not say (CPU memory is read
    from POSIX ``sysconf``, which macOS and Windows lack: the check is then skipped)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(net: nn.Module, x: torch.Tensor) -> None:
    """Full-batch HMC holds every activation of the whole data set: refuse what cannot fit."""
    sizes: list[int] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: sizes.append(numel(out))) for m in net.modules()
    ]
    with torch.no_grad():
        net(x[:1])
    for h in hooks:
        h.remove()
    need = 3 * sum(sizes) * x.shape[0] * x.element_size()  # activations, their gradients, slack
    free = free_memory(x.device)
    if free is not None and need > free:
        raise MemoryError(
            f"full-batch HMC on {x.shape[0]} inputs needs about {need / 2**30:.1f} GiB for "
            f"activations, {free / 2**30:.1f} GiB is free on {x.device}: use fit_svi "
            "(minibatches) or run HMC on a subset of the data"
        )


def numel(output) -> int:
    """Elements of every tensor in a module's output: a tensor, or the tuples, lists and
    dicts of tensors that LSTM, MultiheadAttention and users' modules return."""
    if isinstance(output, torch.Tensor):
        return output.numel()
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return sum(numel(o) for o in output)
    return 0


def initial_points(model, x, y, init, chains: int, jitter: float, seed: int | None):
    """Pyro's initial unconstrained params, potential and transforms, one init per chain."""
    strategy = init_strategy(model, init)
    # The log density at the starting point, checked first: Pyro's initialize_model would
    # try a hundred times and raise a RuntimeError indistinguishable from any other (an
    # out-of-memory error among them), which must go on saying what it is.
    with pyro.validation_enabled(False), InitMessenger(strategy):
        start = poutine.trace(model).get_trace(x, y)  # NaN weights give a NaN density
    log_density = start.log_prob_sum()
    if not torch.isfinite(log_density):
        raise ValueError(
            f"the log density is not finite at the initial point ({init!r}): {log_density.item()}"
        )
    params, potential, transforms, trace = initialize_model(
        model, model_args=(x, y), init_strategy=strategy, max_plate_nesting=1
    )
    latent = [n for n, site in trace.iter_stochastic_nodes() if not site_is_subsample(site)]
    generator = torch.Generator(device="cpu").manual_seed(0 if seed is None else seed)
    inits = []
    for chain in range(chains):
        start = {}
        for name, value in params.items():
            noise = (
                torch.randn(value.shape, generator=generator).to(value) if chain and jitter else 0
            )
            start[name] = (value + jitter * noise).detach()
        inits.append(start)
    return inits, potential, transforms, latent
