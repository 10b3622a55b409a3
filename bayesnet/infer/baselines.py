"""Baselines of the same architecture, as Posterior-compatible objects.

``point_estimate`` trains the plain torch network (cross-entropy or squared error, the
maximum-likelihood fit) and wraps it as a posterior with no draws: ``predict`` returns
the softmax ``[1, N, C]``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .._checks import check_choice, check_finite
from ..device import resolve
from ..models import Classifier, Regressor
from ..posterior import DrawsSampler, Posterior
from .svi import OPTIMIZERS, _batches, _first_batch

__all__ = ["point_estimate"]

TASKS = {"classification": (Classifier, F.cross_entropy), "regression": (Regressor, F.mse_loss)}


def point_estimate(
    net: nn.Module,
    loader: Iterable,
    epochs: int = 30,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    optimizer: str = "adam",
    task: str = "classification",
    device: str | torch.device = "auto",
    progress: bool = True,
    seed: int | None = None,
) -> Posterior:
    """Train a copy of ``net`` by maximum likelihood; ``net`` itself is left untouched."""
    model_cls, loss_fn = TASKS[check_choice(task, TASKS, "task")]
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if seed is not None:
        torch.manual_seed(seed)
    device = resolve(device)
    net = copy.deepcopy(net).to(device)
    _first_batch(loader)  # raises on an empty loader
    opt = OPTIMIZERS[check_choice(optimizer, OPTIMIZERS, "optimizer")](
        [p for p in net.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay
    )
    num_data = len(loader.dataset) if hasattr(loader, "dataset") else None
    model = model_cls(net, num_data or 1)
    history = []
    net.train()
    for epoch in tqdm(range(epochs), desc="point estimate", disable=not progress):
        total, count, seen = 0.0, 0, 0
        for x, y in _batches(loader):
            x, y = x.to(device), y.to(device)
            out = net(x)
            if epoch == 0:
                check_finite(x, "training inputs")
                model.check_targets(y, out)
            loss = loss_fn(out, y)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"point-estimate loss became {loss.item()} at epoch {epoch + 1}"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
            count += 1
            seen += x.shape[0]
        history.append({"epoch": epoch + 1, "loss": total / count})
    net.eval()
    model.num_data = num_data or seen
    return Posterior(model, DrawsSampler({}), {"engine": "point_estimate", "history": history})
