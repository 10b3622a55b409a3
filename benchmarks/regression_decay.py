"""Does weight decay fix the heteroscedastic under-coverage of ``bn.fit``'s intervals?

    python benchmarks/regression_decay.py [--splits 20] [--epochs 100]

The 90% intervals of every heteroscedastic fit under-cover on the real regression sets
(``benchmarks/regression.py``): the learned scales shrink on the training inputs. Weight
decay regularises the network that learns them. For each weight decay: ``bn.fit`` with
``task="heteroscedastic"`` on the 20 standardised splits of each real set (the protocol of
``regression.py``), test NLL in standardised units and 90% coverage, means over splits;
and on the synthetic set of ``tests/test_regression.py`` (noise sd ``0.05 + 0.5 |x|``),
the share of a grid where the fitted noise sd is within 25% of the truth (what the test
asks of a heteroscedastic fit: above 0.8).
"""

from __future__ import annotations

import argparse
import statistics

import torch

import bayesnet as bn
from bayesnet.evaluate import regression as reg

DECAYS = (0.0, 1e-2, 3e-2, 1e-1)


def real(name: str, decay: float, splits: int, epochs: int) -> tuple[float, float]:
    """Mean test NLL (standardised) and 90% coverage over the splits."""
    data = bn.data.REGRESSION[name]()
    nll, covered = [], []
    for k, split in enumerate(bn.data.standardized_splits(data, splits, seed=0)):
        torch.manual_seed(k)
        net = bn.zoo.mlp(split.train.tensors[0].shape[1], 2, hidden=(50,))
        post = bn.fit(
            net,
            split.train,
            epochs=epochs,
            task="heteroscedastic",
            weight_decay=decay,
            seed=k,
            progress=False,
        )
        x, y = split.test.tensors
        torch.manual_seed(0)
        means, variances = post.predict_moments(x, num_samples=50)
        nll.append(reg.nll(means, variances, y))
        covered.append(reg.coverage(*reg.intervals(means, variances, 0.9), y)[0])
    return statistics.mean(nll), statistics.mean(covered)


def recovered(decay: float) -> float:
    """The share of a grid on [-0.9, 0.9] where the fitted noise sd is within 25% of the
    truth, on 800 draws of ``y = sin(3x) + (0.05 + 0.5 |x|) e``."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(800, 1, generator=g) * 2 - 1
    y = torch.sin(3 * x) + (0.05 + 0.5 * x.abs()) * torch.randn(800, 1, generator=g)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(1, 64),
        torch.nn.Tanh(),
        torch.nn.Linear(64, 64),
        torch.nn.Tanh(),
        torch.nn.Linear(64, 2),
    )
    post = bn.fit(
        net,
        (x, y),
        epochs=150,
        lr=5e-3,
        task="heteroscedastic",
        weight_decay=decay,
        seed=0,
        progress=False,
    )
    grid = torch.linspace(-0.9, 0.9, 19)[:, None]
    fitted = reg.decompose(*post.predict_moments(grid, num_samples=20))["aleatoric"].sqrt()
    return float(((fitted / (0.05 + 0.5 * grid.abs()) - 1).abs() < 0.25).double().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    names = list(bn.data.REGRESSION)
    print(
        "| weight decay | "
        + " | ".join(f"{n} NLL | {n} coverage 90%" for n in names)
        + " | noise recovered (synthetic) |"
    )
    print("|---|" + "---|---|" * len(names) + "---|")
    for decay in DECAYS:
        cells = [f"{v:.3f}" for n in names for v in real(n, decay, args.splits, args.epochs)]
        print(f"| {decay:g} | " + " | ".join(cells) + f" | {recovered(decay):.2f} |", flush=True)


if __name__ == "__main__":
    main()
