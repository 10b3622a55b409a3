"""SWAG in a PyTorch Lightning ``Trainer``: ``SWAGCallback``, without changing the
``LightningModule`` (the optional ``lightning`` extra: ``pip install "bayesnet[lightning]"``;
this module imports Lightning, nothing else in bayesnet does).

    swag = SWAGCallback()  # fit_swag's schedule: the last half of the epochs, 4 a epoch
    trainer = lightning.Trainer(max_epochs=30, callbacks=[swag])
    trainer.fit(module, train_loader)
    swag.posterior.predict(x)  # the Posterior fit_swag returns, of the module's network

The callback collects the module's weights after the optimiser steps ``fit_swag`` would
collect after (``swag.collection_plan``) with a ``bn.swag.Collector``; at the end of
``fit`` it builds the posterior, each draw's BatchNorm statistics estimated on the
trainer's training data (or ``data``). The module must map inputs to the network's output
(its ``forward``), as every network a bayesnet ``Posterior`` predicts with.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback

from ._checks import check_choice
from .infer.networks.baselines import hold_dropout
from .infer.networks.collector import SCALE, Collector
from .infer.networks.swag import DROPOUT_MODES, collection_plan, dropout_on
from .posterior import Posterior

__all__ = ["SWAGCallback"]


class SWAGCallback(Callback):
    """Collect SWAG's iterates during ``Trainer.fit``; ``posterior`` afterwards.

    ``collect_from``, ``per_epoch``, ``rank``, ``scale`` and ``dropout`` are ``fit_swag``'s
    (the module's dropout layers held off while the callback collects, unless ``"on"``);
    ``task`` and ``num_samples`` the posterior's; ``data``: where each draw's BatchNorm
    statistics are estimated (None: the trainer's training loader)."""

    def __init__(
        self,
        *,
        collect_from: float = 0.5,
        per_epoch: int = 4,
        rank: int = 20,
        scale: float = SCALE,
        dropout: str = "before_collecting",
        task: str = "classification",
        num_samples: int = 30,
        data: Any = None,
    ) -> None:
        if not 0 <= collect_from < 1 or per_epoch < 1:
            raise ValueError(f"need 0 <= collect_from < 1 and per_epoch >= 1, got {collect_from}")
        self.settings = {"collect_from": collect_from, "per_epoch": per_epoch, "cycles": 1}
        self.dropout = check_choice(dropout, DROPOUT_MODES, "dropout")
        self.rank, self.scale, self.task = rank, scale, task
        self.num_samples, self.data = num_samples, data
        self.collector: Collector | None = None
        self.posterior: Posterior | None = None
        self._plan: list[tuple[bool, int]] = []
        self._step = 0

    def on_train_start(self, trainer, pl_module) -> None:
        steps = trainer.num_training_batches
        if not isinstance(steps, int) or trainer.max_epochs is None or trainer.max_epochs < 1:
            raise ValueError("SWAGCallback needs max_epochs and a training loader with a length")
        self._plan = collection_plan(trainer.max_epochs, steps, self.settings)
        self._step = 0
        self.collector = Collector(pl_module, self.rank, self.scale)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        # Lightning puts the module in training mode every epoch: hold dropout every step
        if self.dropout != "on" and self._step < len(self._plan):
            hold_dropout(pl_module, dropout_on(self.dropout, self._plan[self._step][0]))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._step < len(self._plan) and self._plan[self._step][1] >= 0:
            self.collector.collect()
        self._step += 1

    def on_fit_end(self, trainer, pl_module) -> None:
        data = self.data if self.data is not None else trainer.train_dataloader
        self.posterior = self.collector.posterior(
            data, task=self.task, num_samples=self.num_samples
        )
