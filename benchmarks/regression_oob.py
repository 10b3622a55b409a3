"""Can ``bn.fit``'s own starts calibrate its regression intervals, with no held-out data?

    OMP_NUM_THREADS=1 python benchmarks/regression_oob.py [--splits 20] [--epochs 100]

The 90% intervals of every heteroscedastic fit under-cover on the real regression sets
(``benchmarks/regression.py``: 0.82 and 0.86): the learned noise shrinks on the examples
the network trained on, and no residual a fit has seen can say by how much. A feasibility
study, not a default: each of ``bn.fit``'s two SWAG starts trains on its own bootstrap
resample of the training part (the same epochs as ``bn.fit``'s starts), so about 60% of
the training examples are out of the bag of at least one start; on those, the starts that
did not see an example predict it honestly, and one factor ``c`` on every draw's noise
standard deviation is fitted by the NLL of those out-of-bag predictions (Breiman's
out-of-bag estimate, used here for the noise level; cf. the jackknife+-after-bootstrap of
Kim, Xu and Barber 2020). Scored per split as ``regression_coverage.py`` scores (the test
NLL of the mixture in standardised units, exact, and the share of targets inside its
central 90% interval) for ``bn.fit`` as it is, the bagged starts as fitted, and the bagged
starts with ``c``; the RMSE of the mixture's mean beside them.

Stated before the run: the bagged starts with ``c`` are a candidate for ``bn.fit``'s
regression default (to be built and decided on cells this study does not use) only if, on
both sets, their 90% coverage is within 0.88-0.92, their test NLL is no worse than
``bn.fit``'s and their RMSE is within one standard error of ``bn.fit``'s.
"""

from __future__ import annotations

import argparse
import math
import statistics

import torch
from regression_coverage import moment_scores

import bayesnet as bn
from bayesnet.infer.wrappers.recommended import BUDGET, STARTS, epochs_per_start

#: the noise factors ``c`` searched (log-spaced, 0.5 to 4)
FACTORS = torch.logspace(math.log10(0.5), math.log10(4.0), 91)


def bagged_starts(split: bn.data.Split, epochs: int, seed: int):
    """``STARTS`` SWAG fits, each on its own bootstrap resample of the training part (seeded),
    and the boolean ``[STARTS, n]`` mask of the examples each resample left out."""
    x, y = split.train.tensors
    posts, out_of_bag = [], []
    for j in range(STARTS):
        g = torch.Generator().manual_seed(1000 * seed + j)
        idx = torch.randint(len(x), (len(x),), generator=g)
        torch.manual_seed(1000 * seed + j)
        net = bn.zoo.mlp(x.shape[1], 2, hidden=(50,))
        posts.append(
            bn.fit_swag(
                net,
                (x[idx], y[idx]),
                epochs=epochs_per_start(epochs, STARTS, BUDGET),
                task="heteroscedastic",
                seed=1000 * seed + j,
                progress=False,
            )
        )
        left = torch.ones(len(x), dtype=torch.bool)
        left[idx] = False
        out_of_bag.append(left)
    return posts, torch.stack(out_of_bag)


def noise_factor(posts, out_of_bag, x, y) -> float:
    """The factor on every draw's noise standard deviation that minimises the mean
    out-of-bag NLL (each example predicted by the draws of the starts that did not train
    on it)."""
    torch.manual_seed(0)
    moments = [p.predict_moments(x, num_samples=25) for p in posts]
    means = torch.cat([m for m, _ in moments])  # [STARTS * 25, n, 1]
    variances = torch.cat([v for _, v in moments])
    keep = out_of_bag.repeat_interleave(25, dim=0)[..., None]  # the draws each may use
    seen = out_of_bag.any(0)
    best, best_nll = 1.0, math.inf
    for c in FACTORS.tolist():
        each = torch.distributions.Normal(means, variances.sqrt() * c).log_prob(y)
        each = each.masked_fill(~keep, -math.inf)
        nll = -(torch.logsumexp(each, 0) - keep.sum(0).clamp(min=1).log())[seen].mean().item()
        if nll < best_nll:
            best, best_nll = c, nll
    return best


def scored(post: bn.Posterior, factor: float, x, y) -> tuple[float, float, float]:
    """NLL, 90% coverage and RMSE of ``post``'s predictive on ``(x, y)``, every draw's
    noise standard deviation times ``factor``."""
    torch.manual_seed(0)
    means, variances = post.predict_moments(x, num_samples=50)
    nll, covered = moment_scores(means, variances * factor**2, y)
    return nll, covered, (means.mean(0) - y).pow(2).mean().sqrt().item()


def heteroscedastic_fit(train, epochs: int, seed: int) -> bn.Posterior:
    """``bn.fit`` with its defaults of the benchmark's MLP (seeded ``seed``) on ``train``."""
    torch.manual_seed(seed)
    net = bn.zoo.mlp(train.tensors[0].shape[1], 2, hidden=(50,))
    return bn.fit(net, train, epochs=epochs, task="heteroscedastic", seed=seed, progress=False)


def spread(values: list[float]) -> str:
    """``median M (range A-B)`` of ``values``."""
    return f"median {statistics.median(values):.2f} (range {min(values):.2f}-{max(values):.2f})"


def run(name: str, splits: int, epochs: int) -> dict[str, list[tuple[float, float, float]]]:
    data = bn.data.REGRESSION[name]()
    found: dict[str, list[tuple[float, float, float]]] = {
        "bn.fit": [],
        "bagged": [],
        "bagged+c": [],
    }
    factors = []
    for k, split in enumerate(bn.data.standardized_splits(data, splits, seed=0)):
        xt, yt = split.test.tensors
        plain = heteroscedastic_fit(split.train, epochs, k)
        posts, out_of_bag = bagged_starts(split, epochs, k)
        c = noise_factor(posts, out_of_bag, *split.train.tensors)
        factors.append(c)
        bagged = bn.Posterior.mixture(posts)
        found["bn.fit"].append(scored(plain, 1.0, xt, yt))
        found["bagged"].append(scored(bagged, 1.0, xt, yt))
        found["bagged+c"].append(scored(bagged, c, xt, yt))
    print(f"{name}: noise factor c {spread(factors)}", flush=True)
    return found


def table(run, splits: int, epochs: int) -> str:
    """The markdown table of ``run(name, splits, epochs)``'s scores on every real set: mean
    and standard error over the splits of each fit's NLL, coverage and RMSE."""
    lines = [
        "| data | fit | NLL (standardised) | coverage 90% | RMSE (standardised) |",
        "|---|---|---|---|---|",
    ]
    for name in bn.data.REGRESSION:
        for label, rows in run(name, splits, epochs).items():
            cols = [statistics.mean(r[i] for r in rows) for i in range(3)]
            ses = [statistics.stdev(r[i] for r in rows) / math.sqrt(len(rows)) for i in range(3)]
            lines.append(
                f"| {name} | {label} | "
                + " | ".join(f"{m:.3f} ± {s:.3f}" for m, s in zip(cols, ses, strict=True))
                + " |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    print(table(run, args.splits, args.epochs))


if __name__ == "__main__":
    main()
