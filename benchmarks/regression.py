"""Regression on real data, the BNN literature's protocol: scikit-learn's diabetes and
mlxtend's Auto MPG, 20 random 90/10 splits, inputs and targets standardised on the
training part, test NLL and RMSE in the targets' units (mean and standard error over
splits); 90% interval coverage, CRPS, PIT calibration; inputs away from the data (the
test inputs moved 4 standard deviations along the first principal component, and a
held-out extreme: trained on the lower 80% of the feature most correlated with the
target, tested on its top 20%), detected by epistemic variance (AUROC); and the in-between
toy's epistemic band in the gap over on the data.

    python benchmarks/regression.py [--splits 20] [--epochs 100] [--out benchmarks/regression.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import torch

import bayesnet as bn
from bayesnet.cli.regression import REGRESSION_METHODS, away_from_the_data, fit_regressors
from bayesnet.evaluate import regression as reg
from bayesnet.evaluate.regression_compare import compare_regression

COLUMNS = ("nll", "rmse", "crps", "coverage_90", "pit_error")


def _network(width: int):
    return lambda outputs: bn.zoo.mlp(width, outputs, hidden=(50,))


def held_out_extreme(split: bn.data.Split, epochs: int, seed: int) -> dict[str, float]:
    """Each method trained on the lower 80% of the feature most correlated with the target;
    the AUROC of its epistemic variance telling the top 20% from a held-out tenth of the
    rest."""
    x, y = (torch.cat(p) for p in zip(split.train.tensors, split.test.tensors, strict=True))
    feature = int(
        torch.stack([torch.corrcoef(torch.stack([c, y[:, 0]]))[0, 1] for c in x.T]).abs().argmax()
    )
    order = x[:, feature].argsort()
    cut = int(0.8 * len(x))
    low, top = order[:cut], order[cut:]
    shuffled = low[torch.randperm(len(low), generator=torch.Generator().manual_seed(seed))]
    held, train = shuffled[: len(low) // 10], shuffled[len(low) // 10 :]
    fitted = fit_regressors(_network(x.shape[1]), (x[train], y[train]), epochs, seed)
    found = {}
    for name, post in fitted.items():
        inside = reg.decompose(*post.predict_moments(x[held], num_samples=50))["epistemic"]
        outside = reg.decompose(*post.predict_moments(x[top], num_samples=50))["epistemic"]
        found[name] = bn.evaluate.metrics.ood_auroc(inside.sum(-1), outside.sum(-1))
    return found


def run(name: str, splits: int, epochs: int) -> list[dict]:
    data = bn.data.REGRESSION[name]()
    rows = []
    for k, split in enumerate(bn.data.standardized_splits(data, splits, seed=0)):
        start = time.perf_counter()
        fitted = fit_regressors(_network(data.tensors[0].shape[1]), split.train, epochs, seed=k)
        x, y = split.test.tensors
        report = compare_regression(
            fitted, (x, y), ood={"pc": away_from_the_data(x)}, num_samples=50, scale=split.scale
        )
        extreme = held_out_extreme(split, epochs, seed=k)
        for row in report.select("test"):
            method = row["method"]
            ood = next(r for r in report.select("ood") if r["method"] == method)
            rows.append(
                {
                    "data": name,
                    "split": k,
                    "method": method,
                    **{c: row[c] for c in COLUMNS},
                    "auroc_pc": ood["auroc_epistemic"] if method != "point" else ood["auroc_total"],
                    "auroc_extreme": extreme[method],
                }
            )
        print(f"{name} split {k}: {time.perf_counter() - start:.0f} s", flush=True)
    return rows


def gap_ratio(epochs: int, seed: int = 0) -> dict[str, float]:
    """On the in-between toy: each method's mean epistemic standard deviation in the gap
    over its mean on the data's inputs."""
    toy = bn.data.in_between(seed=seed)
    fitted = fit_regressors(lambda k: bn.zoo.mlp(1, k, hidden=(50, 50)), toy, 4 * epochs, seed)
    gap = torch.linspace(*bn.data.toy.GAP, 50)[:, None]
    on_data = toy.tensors[0]
    ratios = {}
    for name, post in fitted.items():
        sd = [
            reg.decompose(*post.predict_moments(g, num_samples=50))["epistemic"].sqrt().mean()
            for g in (gap, on_data)
        ]
        ratios[name] = float(sd[0] / sd[1]) if sd[1] > 0 else math.nan
    return ratios


def table(rows: list[dict]) -> str:
    """Mean and standard error over splits, per data set and method."""
    columns = (*COLUMNS, "auroc_pc", "auroc_extreme")
    lines = ["| data | method | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    for data in dict.fromkeys(r["data"] for r in rows):
        for method in REGRESSION_METHODS:
            mine = [r for r in rows if r["data"] == data and r["method"] == method]
            cells = []
            for c in columns:
                values = [r[c] for r in mine]
                se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0
                cells.append(f"{statistics.mean(values):.3f} ± {se:.3f}")
            lines.append(f"| {data} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=list(bn.data.REGRESSION))
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--out", default="benchmarks/regression.json")
    parser.add_argument("--summary", action="store_true", help="only the tables of --out")
    args = parser.parse_args()
    out = Path(args.out)
    if not args.summary:
        rows = [r for name in args.data for r in run(name, args.splits, args.epochs)]
        result = {"rows": rows, "gap_ratio": gap_ratio(args.epochs), "epochs": args.epochs}
        out.write_text(json.dumps(result, indent=1))
    result = json.loads(out.read_text())
    print(table(result["rows"]))
    print("\nin-between toy, epistemic sd in the gap / on the data:")
    print(", ".join(f"{k} {v:.2f}" for k, v in result["gap_ratio"].items()))


if __name__ == "__main__":
    main()
