import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import bayesnet as bn


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def two_threads():
    """Two intra-op threads, whatever OMP_NUM_THREADS says: a statistical bound checked on
    one long chain holds for one arithmetic, and a different thread count sums in another
    order (the chain then drifts to other draws)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def digits():
    return bn.data.digits(seed=0)


def loader_of(x, y, batch_size, seed=0, shuffle=True):
    return DataLoader(
        TensorDataset(x, y),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed),
    )


@pytest.fixture(scope="session")
def conjugate():
    """Bayesian linear regression with known noise: the exact Gaussian posterior."""
    g = torch.Generator().manual_seed(0)
    n, d, sigma, s = 40, 3, 0.5, 1.0
    x = torch.randn(n, d, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + sigma * torch.randn(n, generator=g)
    precision = torch.eye(d) / s**2 + x.T @ x / sigma**2
    cov = torch.linalg.inv(precision)
    mean = cov @ x.T @ y / sigma**2
    return {
        "x": x,
        "y": y[:, None],
        "sigma": sigma,
        "s": s,
        "precision": precision,
        "cov": cov,
        "mean": mean,
    }


def conjugate_model(c):
    net = bn.nn.BayesLinear(c["x"].shape[1], 1, bias=False, prior=bn.priors.Normal(c["s"]))
    return bn.Regressor(net, num_data=len(c["x"]), noise=c["sigma"])


def assert_same_predictions(first, second, x, num_samples, seed=1):
    """Two posteriors (a saved one and its loaded copy) predict alike from the same RNG
    state."""
    torch.manual_seed(seed)
    expected = first.predict(x, num_samples=num_samples)
    torch.manual_seed(seed)
    torch.testing.assert_close(second.predict(x, num_samples=num_samples), expected)


def count_draws_estimated(monkeypatch, owner, name: str) -> list[int]:
    """Replace ``owner.name`` (a per-draw estimator: a function or a method whose first
    dict argument holds the draws ``{name: [S, ...]}``) with one that records each call's
    ``S`` and then runs the original; returns the list it records into."""
    calls: list[int] = []
    original = getattr(owner, name)

    def spy(*args):
        draws = next(a for a in args if isinstance(a, dict))
        calls.append(next(iter(draws.values())).shape[0])
        return original(*args)

    monkeypatch.setattr(owner, name, spy)
    return calls


class RecordingDropout(nn.Dropout):
    """Dropout that records whether it was on at each training step's forward (gradients
    on; a fit's shape checks and predictions run without)."""

    def __init__(self, p: float) -> None:
        super().__init__(p)
        self.modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            self.modes.append(self.training)
        return super().forward(x)
