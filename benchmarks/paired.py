"""Do the defaults beat the softmax? A paired study over many seeds, every architecture
of ``quality.py``: the softmax ``point_estimate(net, loader)`` against
``fit_svi(Classifier(bayesianize(net), N), loader)``, both with their defaults.

    python benchmarks/paired.py [--archs ...] [--seeds 0 1 ... 7] [--out benchmarks/paired]
    python benchmarks/paired.py --starts 4 --out benchmarks/starts   # also fit_svi(starts=4)
    python benchmarks/paired.py --all-layers --out DIR   # also every layer Bayesian

Per seed the splits of ``quality.py`` (the digits less a 10% validation split); every
method starts from the same network, with a loader of its own and the same seed, so all
see the same batches in the same order: the differences are paired, free of the shuffle
noise ``quality.py`` carries (it hands one loader to every method in turn). Rows are
cached per architecture and seed in ``OUT/<arch>_seed<k>.json`` (processes with other
seeds can fill the cache at once); the table gives means, standard errors over seeds and
on how many seeds each method beats the softmax on NLL and on noise AUROC (entropy).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from pathlib import Path

import torch
from quality import ARCHS, _renumber, noise_like

import bayesnet as bn
from bayesnet.evaluate import metrics

COLUMNS = ("accuracy", "nll", "ece", "adaptive_ece", "auroc_noise")
#: a variant: (bayesianize options, fit_svi options)
Variant = tuple[dict, dict]
DEFAULTS: dict[str, Variant] = {"svi defaults": ({}, {})}


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


def run(
    arch: str,
    seed: int,
    variants: dict[str, Variant],
    extra: Callable[[str, bn.Posterior, Callable], dict] | None = None,
) -> dict[str, dict[str, float]]:
    """Scores of the softmax and of every variant on one seed; ``extra(name, post,
    score)`` may add rows computed from a variant's posterior."""
    full, test = bn.data.digits(seed=seed)
    train, _ = bn.data.validation_split(full, 0.1, seed=seed)
    x, y = test.tensors
    noise = noise_like(x, seed=seed)
    torch.manual_seed(seed)
    net = _renumber(ARCHS[arch](), 10)

    def loader():
        return bn.data.to_loader(train, 64, seed=seed)

    def score(post: bn.Posterior) -> dict[str, float]:
        return scores(post, x, y, noise)

    softmax = bn.baselines.point_estimate(net, loader(), progress=False, seed=seed)
    results = {"softmax": score(softmax)}
    for name, (convert, options) in variants.items():
        model = bn.Classifier(bn.bayesianize(net, **convert), len(train))
        post = bn.fit_svi(model, loader(), progress=False, seed=seed, **options)
        results[name] = score(post)
        if extra is not None:
            results.update(extra(name, post, score))
    return results


def table(by_seed: list[dict[str, dict[str, float]]], label: str = "") -> str:
    n = len(by_seed)
    lines = [f"| {label}method | " + " | ".join(COLUMNS) + " | NLL < softmax | AUROC > softmax |"]
    lines.append("|---|" + "---|" * (len(COLUMNS) + 2))
    for name in by_seed[0]:
        cells = []
        for c in COLUMNS:
            values = [r[name][c] for r in by_seed]
            se = statistics.stdev(values) / n**0.5 if n > 1 else 0.0
            cells.append(f"{statistics.mean(values):.4f} ± {se:.4f}")
        wins = ["", ""]
        if name != "softmax":
            nll = sum(r[name]["nll"] < r["softmax"]["nll"] for r in by_seed)
            auroc = sum(r[name]["auroc_noise"] > r["softmax"]["auroc_noise"] for r in by_seed)
            wins = [f"{nll} of {n}", f"{auroc} of {n}"]
        lines.append(f"| {name} | " + " | ".join(cells + wins) + " |")
    return "\n".join(lines)


def cached(path: Path, compute: Callable[[], dict]) -> dict:
    """``compute()``'s rows, written to ``path`` the first time."""
    if not path.exists():
        path.write_text(json.dumps(compute(), indent=1))
        print(f"done: {path.name}", flush=True)
    return json.loads(path.read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--archs", nargs="+", default=[a for a in ARCHS if a != "tiny_cnn"])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    parser.add_argument("--out", default="benchmarks/paired")
    parser.add_argument(
        "--starts", type=int, default=1, help="also the defaults with fit_svi(starts=K)"
    )
    parser.add_argument(
        "--all-layers",
        action="store_true",
        help="also the defaults with bayesianize(stochastic='all') (differs with convolutions"
        " or BatchNorm)",
    )
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    variants = dict(DEFAULTS)
    if args.starts > 1:
        variants[f"svi {args.starts} starts"] = ({}, {"starts": args.starts})
    if args.all_layers:
        variants["svi, every layer Bayesian"] = ({"stochastic": "all"}, {})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for arch in args.archs:
        by_seed = [
            cached(out / f"{arch}_seed{s}.json", lambda a=arch, s=s: run(a, s, variants))
            for s in args.seeds
        ]
        print(f"\n{arch}\n\n{table(by_seed)}", flush=True)


if __name__ == "__main__":
    main()
