"""BatchNorm statistics under a posterior, as a paired study over many seeds: the
BatchNorm CNN of ``quality.py``, its softmax, and ``fit_svi`` with its defaults (the
MAP's statistics, fixed, T = 0.003), at T = 0.01, and with
``normalization="per_draw"`` (each draw's own statistics), that same per-draw fit also
predicted with the network's running statistics (what BatchNorm's momentum averaged
over the noisy draws of training).

    python benchmarks/normalised.py [--seeds 0 1 2 3 4 5 6 7] [--out benchmarks/normalised]

Every method of a seed trains from the same initial network on a loader of its own with
the same seed, so all see the same batches in the same order: differences between
methods are paired, not shuffle noise (``quality.py`` shares one loader across methods).
Rows are cached per seed in ``OUT/seed<k>.json`` (two processes with different seeds
can fill the cache at once); the table gives means, standard errors over seeds and, for
NLL and noise AUROC, on how many seeds each variant beats the softmax.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from quality import ARCHS, _renumber, noise_like

import bayesnet as bn
from bayesnet.evaluate import metrics

PER_DRAW = {"normalization": "per_draw"}
#: fit_svi options per variant
FITS = {
    "defaults (MAP statistics, T = 0.003)": {},
    "MAP statistics, T = 0.01": {"temperature": 0.01},
    "statistics per draw, T = 0.003": PER_DRAW,
}
RUNNING = "the per-draw fit, running statistics for every draw"
COLUMNS = ("accuracy", "nll", "ece", "adaptive_ece", "auroc_noise")


def scores(post: bn.Posterior, x, y, noise) -> dict[str, float]:
    p, q = post.predict(x), post.predict(noise)
    return {
        "accuracy": metrics.accuracy(p, y),
        "nll": metrics.nll(p, y),
        "ece": metrics.ece(p, y),
        "adaptive_ece": metrics.adaptive_ece(p, y),
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

    def loader():
        return bn.data.to_loader(train, 64, seed=seed)

    softmax = bn.baselines.point_estimate(net, loader(), progress=False, seed=seed)
    results = {"softmax": scores(softmax, x, y, noise)}
    for name, options in FITS.items():
        model = bn.Classifier(bn.bayesianize(net), len(train))
        post = bn.fit_svi(model, loader(), progress=False, seed=seed, **options)
        results[name] = scores(post, x, y, noise)
        if options is PER_DRAW:  # the same draws, without normalization inputs
            running = bn.Posterior(post.model, post.sampler, post.info)
            results[RUNNING] = scores(running, x, y, noise)
    return results


def table(by_seed: list[dict[str, dict[str, float]]]) -> str:
    n = len(by_seed)
    head = " | ".join(COLUMNS)
    lines = [f"| variant | {head} | NLL below softmax | AUROC above softmax |"]
    lines.append("|---|" + "---|" * (len(COLUMNS) + 2))
    for name in by_seed[0]:
        cells = []
        for c in COLUMNS:
            values = [r[name][c] for r in by_seed]
            se = statistics.stdev(values) / n**0.5 if n > 1 else 0.0
            cells.append(f"{statistics.mean(values):.4f} ± {se:.4f}")
        if name == "softmax":
            wins = ["", ""]
        else:
            nll = sum(r[name]["nll"] < r["softmax"]["nll"] for r in by_seed)
            auroc = sum(r[name]["auroc_noise"] > r["softmax"]["auroc_noise"] for r in by_seed)
            wins = [f"{nll} of {n}", f"{auroc} of {n}"]
        lines.append(f"| {name} | " + " | ".join(cells + wins) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    parser.add_argument("--out", default="benchmarks/normalised")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    by_seed = []
    for seed in args.seeds:
        path = out / f"seed{seed}.json"
        if not path.exists():
            path.write_text(json.dumps(run(seed), indent=1))
            print(f"done: seed {seed}", flush=True)
        by_seed.append(json.loads(path.read_text()))
    print(table(by_seed))


if __name__ == "__main__":
    main()
