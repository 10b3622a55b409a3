"""Why a BatchNorm network's posterior stays close to its MAP: the BatchNorm CNN of
``quality.py`` fitted with ``fit_svi``'s defaults, at warmer temperatures, and stopped
after one SVI epoch.

    python benchmarks/normalised.py [--seeds 0 1 2]

Prints test accuracy, NLL, ECE and noise AUROC (entropy) per variant, means over seeds,
on the same splits as ``quality.py``.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from quality import ARCHS, _renumber, noise_like

import bayesnet as bn
from bayesnet.evaluate import metrics

VARIANTS = {
    "defaults (T = 0.003)": {},
    "T = 0.01": {"temperature": 0.01},
    "T = 0.03": {"temperature": 0.03},
    "T = 0.1": {"temperature": 0.1},
    "one SVI epoch after the MAP": {"epochs": 1, "map_epochs": 30},
}


def run(seed: int) -> dict[str, dict[str, float]]:
    full, test = bn.data.digits(seed=seed)
    train, _ = bn.data.validation_split(full, 0.1, seed=seed)
    x, y = test.tensors
    noise = noise_like(x, seed=seed)
    torch.manual_seed(seed)
    net = _renumber(ARCHS["bn_cnn"](), 10)
    results = {}
    for name, options in VARIANTS.items():
        model = bn.Classifier(bn.bayesianize(net), len(train))
        post = bn.fit_svi(
            model, bn.data.to_loader(train, 64, seed=seed), progress=False, seed=seed, **options
        )
        p, q = post.predict(x), post.predict(noise)
        results[name] = {
            "accuracy": metrics.accuracy(p, y),
            "nll": metrics.nll(p, y),
            "ece": metrics.ece(p, y),
            "auroc_noise": metrics.ood_auroc(
                metrics.predictive_entropy(p), metrics.predictive_entropy(q)
            ),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    by_seed = [run(seed) for seed in args.seeds]
    columns = ("accuracy", "nll", "ece", "auroc_noise")
    print("| variant | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name in VARIANTS:
        means = [statistics.mean(r[name][c] for r in by_seed) for c in columns]
        print(f"| {name} | " + " | ".join(f"{m:.4f}" for m in means) + " |")


if __name__ == "__main__":
    main()
