"""SWAG in a PyTorch Lightning Trainer: the callback's posterior is the plain-loop
collector's on the same iterates."""

import pytest
import torch
from conftest import RecordingDropout, assert_same_predictions, loader_of
from torch import nn

import bayesnet as bn

lightning = pytest.importorskip("lightning")


class Module(lightning.LightningModule):
    """A LightningModule as users write them: a network, a loss, an optimiser."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=2e-3, foreach=True)


def _blobs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(120) % 3
    return torch.randn(120, 4, generator=g) + 2.0 * nn.functional.one_hot(y, 4).float(), y


def _fit(module, callback, tmp_path) -> None:
    """Four epochs of ``module`` on ``_blobs`` in batches of 20 (6 steps an epoch), on CPU
    with nothing but ``callback``."""
    trainer = lightning.Trainer(
        max_epochs=4,
        callbacks=[callback],
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, loader_of(*_blobs(), 20, shuffle=False))


def test_the_callbacks_posterior_is_the_plain_loops(tmp_path):
    from bayesnet.lightning import SWAGCallback

    x, y = _blobs()
    torch.manual_seed(0)
    module = Module()
    start = {k: v.clone() for k, v in module.state_dict().items()}
    swag = SWAGCallback(per_epoch=3)
    _fit(module, swag, tmp_path)
    # the same steps in a plain loop, the collector attached where fit_swag collects
    plain = Module()
    plain.load_state_dict(start)
    opt = plain.configure_optimizers()
    collector = bn.swag.Collector(plain)
    collector.attach(opt, start=13, every=2)  # 6 steps an epoch, per_epoch 3, last 2 epochs
    plain.train()
    for _ in range(4):
        for xb, yb in loader_of(x, y, 20, shuffle=False):
            opt.zero_grad()
            plain.training_step((xb, yb), 0).backward()
            opt.step()
    assert swag.collector.count == collector.count == 6
    for name in ("loc", "scale", "factor"):
        torch.testing.assert_close(
            getattr(swag.collector.gaussian(), name), getattr(collector.gaussian(), name)
        )
    post = swag.posterior
    assert isinstance(post, bn.Posterior) and post.normalization is not None
    ours = collector.posterior(loader_of(x, y, 20, shuffle=False))
    assert_same_predictions(post, ours, x[:10], 6, seed=1)
    post.save(tmp_path / "swag.pt")
    loaded = bn.Posterior.load(tmp_path / "swag.pt", bn.Classifier(Module(), 120))
    assert_same_predictions(post, loaded, x[:10], 6, seed=1)


@pytest.mark.parametrize(
    "dropout, expected", [("before_collecting", [True] * 12 + [False] * 12), ("on", [True] * 24)]
)
def test_the_callback_holds_dropout_off_while_it_collects(tmp_path, dropout, expected):
    from bayesnet.lightning import SWAGCallback

    module = Module()
    module.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), RecordingDropout(0.5), nn.Linear(8, 3))
    _fit(module, SWAGCallback(dropout=dropout), tmp_path)
    assert module.net[2].modes == expected
