"""Adversarial and fooling inputs against any posterior (white box, L-inf).

The attacked quantity is the method's own predictive: for a point estimate its softmax,
for a posterior the posterior predictive ``mean_s p(y | x, w_s)``, whose gradient averages
over ``num_samples`` weight draws held fixed for the whole attack (so PGD optimises one
function). Evaluation afterwards uses fresh draws, as a user of the posterior would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ..posterior import log_mean_softmax

if TYPE_CHECKING:
    from ..posterior import Posterior as Predictive

__all__ = ["log_predictive", "fgsm", "pgd", "fooling_images", "ATTACKS"]


def log_predictive(posterior, x: torch.Tensor, draws: dict[str, torch.Tensor]) -> torch.Tensor:
    """``log mean_s p(y | x, w_s)`` ``[N, C]``, differentiable in ``x``."""
    logits = posterior.forward(x, draws, link=False)
    if logits.dim() != 3:
        raise ValueError(f"attacks need class logits [S, N, C], got {tuple(logits.shape)}")
    return log_mean_softmax(logits)


def _bounds(x: torch.Tensor, bounds: tuple[float, float] | None) -> tuple[float, float]:
    return bounds if bounds is not None else (x.min().item(), x.max().item())


def _input_grad(posterior, x, y, draws) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    loss = F.nll_loss(log_predictive(posterior, x, draws), y.to(x.device), reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(
    posterior: Predictive,
    x: torch.Tensor,
    y: torch.Tensor,
    epsilon: float,
    num_samples: int = 20,
    bounds: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Fast gradient sign method: one step of size ``epsilon`` up the NLL (Goodfellow et
    al. 2015), clipped to ``bounds`` (default: the inputs' value range)."""
    if epsilon < 0:
        raise ValueError(f"epsilon must be >= 0, got {epsilon}")
    lo, hi = _bounds(x, bounds)
    x = x.to(posterior.device)
    if epsilon == 0:
        return x.clone()
    draws = posterior.sample_params(num_samples)
    return (x + epsilon * _input_grad(posterior, x, y, draws).sign()).clamp(lo, hi)


def pgd(
    posterior: Predictive,
    x: torch.Tensor,
    y: torch.Tensor,
    epsilon: float,
    steps: int = 10,
    step_size: float | None = None,
    num_samples: int = 20,
    bounds: tuple[float, float] | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Projected gradient descent in the L-inf ball of radius ``epsilon`` from a random
    start (Madry et al. 2018); ``step_size`` defaults to ``2.5 epsilon / steps``."""
    if epsilon < 0 or steps < 1:
        raise ValueError(f"PGD needs epsilon >= 0 and steps >= 1, got {epsilon}, {steps}")
    lo, hi = _bounds(x, bounds)
    x = x.to(posterior.device)
    if epsilon == 0:
        return x.clone()
    step_size = 2.5 * epsilon / steps if step_size is None else step_size
    draws = posterior.sample_params(num_samples)
    generator = torch.Generator().manual_seed(seed)
    start = (torch.rand(x.shape, generator=generator).to(x) * 2 - 1) * epsilon
    adv = (x + start).clamp(lo, hi)
    for _ in range(steps):
        adv = adv + step_size * _input_grad(posterior, adv, y, draws).sign()
        adv = torch.min(torch.max(adv, x - epsilon), x + epsilon).clamp(lo, hi)
    return adv.detach()


def fooling_images(
    posterior: Predictive,
    shape: tuple[int, ...],
    classes: list[int] | torch.Tensor,
    steps: int = 200,
    lr: float = 0.05,
    bounds: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
) -> torch.Tensor:
    """One image per entry of ``classes``: uniform noise pushed by gradient ascent (Adam on
    the pixels, clipped to ``bounds``) to maximise that class's probability under
    ``posterior`` (Nguyen et al. 2015). Unrecognisable to a person by construction."""
    target = torch.as_tensor(classes, dtype=torch.long, device=posterior.device)
    generator = torch.Generator().manual_seed(seed)
    lo, hi = bounds
    x = torch.rand((len(target), *shape), generator=generator) * (hi - lo) + lo
    x = x.to(posterior.device).requires_grad_(True)
    draws = posterior.sample_params(None)
    opt = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        loss = F.nll_loss(log_predictive(posterior, x, draws), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(lo, hi)
    return x.detach()


ATTACKS: dict[str, Callable[..., torch.Tensor]] = {"fgsm": fgsm, "pgd": pgd}
