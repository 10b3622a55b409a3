"""BatchNorm statistics under a posterior: the BatchNorm CNN of ``quality.py`` fitted
with ``fit_svi``'s defaults (the MAP's statistics, fixed), with
``normalization="per_draw"`` (each draw's own statistics), the same per-draw fit predicted
with the network's running statistics (what BatchNorm's momentum averaged over the noisy
draws of training), and at a warmer temperature.

    python benchmarks/normalised.py [--seeds 0 1 2]

Prints test accuracy, NLL, ECE and noise AUROC (entropy) per variant, means over seeds,
on the same splits as ``quality.py``, beside the softmax of the same network.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from quality import ARCHS, _renumber, noise_like

import bayesnet as bn
from bayesnet.evaluate import metrics

#: fit_svi options per variant, and whether to predict with the running statistics
PER_DRAW = {"normalization": "per_draw"}
VARIANTS = {
    "defaults (MAP statistics, T = 0.003)": ({}, False),
    "MAP statistics, T = 0.01": ({"temperature": 0.01}, False),
    "statistics per draw, T = 0.003": (PER_DRAW, False),
    "the same fit, running statistics for every draw": (PER_DRAW, True),
    "statistics per draw, T = 0.01": ({**PER_DRAW, "temperature": 0.01}, False),
}


def scores(post: bn.Posterior, x, y, noise) -> dict[str, float]:
    p, q = post.predict(x), post.predict(noise)
    return {
        "accuracy": metrics.accuracy(p, y),
        "nll": metrics.nll(p, y),
        "ece": metrics.ece(p, y),
        "auroc_noise": metrics.ood_auroc(
            metrics.predictive_entropy(p), metrics.predictive_entropy(q)
        ),
    }


def run(seed: int) -> dict[str, dict[str, float]]:
    full, test = bn.data.digits(seed=seed)
    train, _ = bn.data.validation_split(full, 0.1, seed=seed)
    x, y = test.tensors
    noise = noise_like(x, seed=seed)
    torch.manual_seed(seed)
    net = _renumber(ARCHS["bn_cnn"](), 10)
    loader = bn.data.to_loader(train, 64, seed=seed)
    softmax = bn.baselines.point_estimate(net, loader, progress=False, seed=seed)
    results = {"softmax": scores(softmax, x, y, noise)}
    fits: dict[str, bn.Posterior] = {}
    for name, (options, running) in VARIANTS.items():
        key = str(sorted(options.items()))
        if key not in fits:
            model = bn.Classifier(bn.bayesianize(net), len(train))
            fits[key] = bn.fit_svi(model, loader, progress=False, seed=seed, **options)
        post = fits[key]
        if running:
            post = bn.Posterior(post.model, post.sampler, post.info)  # no normalization inputs
        results[name] = scores(post, x, y, noise)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    by_seed = [run(seed) for seed in args.seeds]
    columns = ("accuracy", "nll", "ece", "auroc_noise")
    print("| variant | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name in by_seed[0]:
        means = [statistics.mean(r[name][c] for r in by_seed) for c in columns]
        print(f"| {name} | " + " | ".join(f"{m:.4f}" for m in means) + " |")


if __name__ == "__main__":
    main()
