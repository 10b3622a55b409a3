"""Does a likelihood temperature fitted on held-out data calibrate ``bn.fit``'s regression
intervals?

    OMP_NUM_THREADS=1 python benchmarks/regression_temperature.py [--splits 20] [--epochs 100]

The 90% intervals of every heteroscedastic fit under-cover on the real regression sets
(``benchmarks/regression.py``: 0.82 and 0.86): the learned noise shrinks on the examples
the network trained on. Neither weight decay, Student-t noise (``regression_coverage.py``)
nor ``bn.fit``'s own out-of-bag examples (``regression_oob.py``) fix it. What temperature
scaling does for a classifier's logits, a temperature ``T`` on a Gaussian likelihood does
for its noise: the likelihood raised to ``1 / T`` is the Gaussian with ``T`` times the
variance (std scaling, Levi et al. 2019; Laves et al. 2020). Per split: ``bn.fit`` on 90%
of the training part, ``T`` chosen on the other 10% (the fraction the classification
battery holds out for temperature scaling) as the value on a log grid with the lowest NLL
of the predictive mixture there, every draw's noise variance times ``T``; scored as
``regression_oob.py`` scores (test NLL of the mixture in standardised units, exact; the
share of test targets inside its central 90% interval; RMSE of its mean) beside ``bn.fit``
on the whole training part.

Stated before the run: the held-out temperature becomes the documented regression recipe
(``bn.baselines.temperature_scaled`` accepting a regressor) only if, on both sets, its 90%
coverage is within 0.88-0.92, its test NLL is no worse than ``bn.fit``'s on the whole
training part and its RMSE is within one standard error of ``bn.fit``'s.
"""

from __future__ import annotations

import argparse
import math

import torch
from regression_coverage import moment_scores
from regression_oob import heteroscedastic_fit, scored, spread, table

import bayesnet as bn

#: the temperatures searched: variance factors, log-spaced from 1/4 to 16
TEMPERATURES = torch.logspace(math.log10(0.25), math.log10(16.0), 121)


def fitted_temperature(post: bn.Posterior, x: torch.Tensor, y: torch.Tensor) -> float:
    """The variance factor on every draw's noise with the lowest mixture NLL on ``(x, y)``."""
    torch.manual_seed(0)
    means, variances = post.predict_moments(x, num_samples=50)
    nlls = [moment_scores(means, variances * t, y)[0] for t in TEMPERATURES.tolist()]
    return TEMPERATURES[min(range(len(nlls)), key=nlls.__getitem__)].item()


def run(name: str, splits: int, epochs: int) -> dict[str, list[tuple[float, float, float]]]:
    data = bn.data.REGRESSION[name]()
    found: dict[str, list[tuple[float, float, float]]] = {
        "bn.fit": [],
        "bn.fit on 90%": [],
        "bn.fit on 90%, T": [],
    }
    temperatures = []
    for k, split in enumerate(bn.data.standardized_splits(data, splits, seed=0)):
        xt, yt = split.test.tensors
        train, validation = bn.data.validation_split(split.train, 0.1, seed=k)
        whole = heteroscedastic_fit(split.train, epochs, k)
        part = heteroscedastic_fit(train, epochs, k)
        t = fitted_temperature(part, *validation.tensors)
        temperatures.append(t)
        found["bn.fit"].append(scored(whole, 1.0, xt, yt))
        found["bn.fit on 90%"].append(scored(part, 1.0, xt, yt))
        found["bn.fit on 90%, T"].append(scored(part, math.sqrt(t), xt, yt))
    print(f"{name}: temperature T {spread(temperatures)}", flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    print(table(run, args.splits, args.epochs))


if __name__ == "__main__":
    main()
