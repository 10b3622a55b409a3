"""Does the default posterior beat the softmax? Every method, four architectures, three seeds.

    python benchmarks/quality.py [--seeds 0 1 2] [--archs ...] [--out benchmarks/quality]
    python benchmarks/quality.py --hmc        # the NUTS reference on the tiny CNN first

Per seed, the digits split (1,437 / 360) less a 10% validation split that only temperature
scaling and ``temperature="auto"`` look at (the latter carves its own from the training
loader); every method trains on the same images, from a freshly initialised network, with
its defaults:

- softmax: ``baselines.point_estimate(net, loader)``; temperature: T fitted on the
  validation split; dropout: ``mc_dropout(net, loader)``; ensemble: five members;
- svi: ``fit_svi(Classifier(bayesianize(net), num_data=N), loader)``, nothing else set;
- svi_auto: the same with ``temperature="auto"``; svi_eb: with
  ``bayesianize(net, prior=EmpiricalBayes())`` (prior scales fitted by the ELBO);
  svi_starts: with ``starts=4`` (four fits from fresh initial weights, mixed);
- sghmc: ``fit_sgmcmc(Classifier(bayesianize(net, stochastic="all"), num_data=N), loader)`` (cyclical
  SGHMC, its defaults); sgld: the same with ``method="sgld"``;
- laplace: ``fit_laplace(softmax, loader)`` around the softmax network (its defaults:
  all weights, K-FAC, marginal-likelihood prior precision, the GLM predictive, tempered
  at T = 0.003); laplace_t1: the same untempered; laplace_last: the last layer only;
- hmc (``--hmc``, tiny CNN only): NUTS, 4 chains, on all training images, the reference
  the ``agreement`` / ``total_variation`` columns are measured against.

OOD sets: uniform noise, test digits rotated by 90 degrees, and classes 8 and 9 (a second
fit of every method without them, ``--held-out``). Rows are written to
``OUT/<arch>_seed<k>.json`` as each run finishes, so an interrupted run keeps its work;
the Markdown tables (mean and standard deviation over seeds) are printed at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import torch
from torch import nn

import bayesnet as bn
from bayesnet.evaluate import metrics
from bayesnet.evaluate.shift import noise_like, rotate

HELD_OUT = (8, 9)


def tiny_cnn() -> nn.Module:
    """690 weights: small enough for NUTS to converge on two CPU cores."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10)
    )


def bn_cnn() -> nn.Module:
    """The zoo CNN with BatchNorm after each convolution."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(512, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


ARCHS = {
    # the zoo CNN is also the "plain CNN": Conv16-Conv32-Pool-512-64-10
    "digits_cnn": bn.zoo.digits_cnn,
    "mlp": lambda: bn.zoo.mlp(64, 10, hidden=(128, 128)),
    "bn_cnn": bn_cnn,
    "wide_cnn": lambda: bn.zoo.digits_cnn(channels=(32, 64), hidden=128),
    "tiny_cnn": tiny_cnn,
}
METHODS = (
    "softmax",
    "temperature",
    "dropout",
    "ensemble",
    "svi",
    "svi_auto",
    "svi_eb",
    "svi_starts",
    "sghmc",
    "sgld",
    "laplace",
    "laplace_t1",
    "laplace_last",
)
#: how many fits ``svi_starts`` mixes
STARTS = 4
#: methods built on the softmax network: its training time counts in theirs
ON_SOFTMAX = ("temperature", "laplace", "laplace_t1", "laplace_last")


def _renumber(net: nn.Module, num_classes: int) -> nn.Module:
    """The architecture with its last linear layer resized to ``num_classes`` outputs."""
    last = [m for m in net.modules() if isinstance(m, nn.Linear)][-1]
    path = next(p for p, m in net.named_modules() if m is last)
    parent, _, attr = path.rpartition(".")
    setattr(net.get_submodule(parent), attr, nn.Linear(last.in_features, num_classes))
    return net


def fit_all(arch: str, seed: int, methods, train, val, num_classes: int):
    """Every method on ``train`` from freshly initialised copies of one network."""
    torch.manual_seed(seed)
    net = _renumber(ARCHS[arch](), num_classes)
    loader = bn.data.to_loader(train, 64, seed=seed)
    n = len(train)
    common = {"progress": False, "seed": seed}

    def every_layer():
        return bn.bayesianize(net, stochastic="all")

    fits = {
        "softmax": lambda: bn.baselines.point_estimate(net, loader, **common),
        "dropout": lambda: bn.baselines.mc_dropout(net, loader, **common),
        "ensemble": lambda: bn.baselines.deep_ensemble(net, loader, **common),
        "svi": lambda: bn.fit_svi(bn.Classifier(bn.bayesianize(net), n), loader, **common),
        "svi_auto": lambda: bn.fit_svi(
            bn.Classifier(bn.bayesianize(net), n), loader, temperature="auto", **common
        ),
        "svi_starts": lambda: bn.fit_svi(
            bn.Classifier(bn.bayesianize(net), n), loader, starts=STARTS, **common
        ),
        "svi_eb": lambda: bn.fit_svi(
            bn.Classifier(bn.bayesianize(net, prior=bn.priors.EmpiricalBayes()), n),
            loader,
            **common,
        ),
        # the samplers normalise every draw with its own statistics: every layer Bayesian
        "sghmc": lambda: bn.fit_sgmcmc(bn.Classifier(every_layer(), n), loader, **common),
        "sgld": lambda: bn.fit_sgmcmc(
            bn.Classifier(every_layer(), n), loader, method="sgld", **common
        ),
        "temperature": lambda: bn.baselines.temperature_scaled(posts["softmax"], val.tensors),
        "laplace": lambda: bn.fit_laplace(posts["softmax"], loader, progress=False),
        "laplace_t1": lambda: bn.fit_laplace(
            posts["softmax"], loader, temperature=1.0, progress=False
        ),
        "laplace_last": lambda: bn.fit_laplace(
            posts["softmax"], loader, subset="last_layer", progress=False
        ),
    }
    posts, seconds = {}, {}
    for name in methods:
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", bn.CollapseWarning)
            try:
                posts[name] = fits[name]()
            except ValueError as error:  # an option the architecture does not allow
                print(f"  {arch} seed {seed} {name}: skipped: {error}", flush=True)
                continue
        if any(issubclass(w.category, bn.CollapseWarning) for w in caught):
            print(f"  {arch} seed {seed} {name}: CollapseWarning", flush=True)
        seconds[name] = time.perf_counter() - start
        if name in ON_SOFTMAX:
            seconds[name] += seconds["softmax"]
    return posts, seconds


def hmc_reference(train, seed: int, num_classes: int) -> bn.Posterior:
    """NUTS on the tiny CNN with all training images: 4 chains x (400 warm-up + 400 draws),
    started at a trained softmax, in parallel processes."""
    torch.manual_seed(seed)
    net = _renumber(tiny_cnn(), num_classes)
    loader = bn.data.to_loader(train, 64, seed=seed)
    start = bn.baselines.point_estimate(net, loader, epochs=100, lr=3e-3, progress=False)
    x, y = train.tensors
    model = bn.Classifier(
        bn.bayesianize(start.net, prior=bn.priors.Normal(1.0), stochastic="all"), len(x)
    )
    return bn.fit_hmc(
        model,
        (x, y),
        num_samples=400,
        warmup=400,
        num_chains=4,
        max_tree_depth=6,
        chain_method="parallel",
        progress=False,
        seed=seed,
    )


def _probs(post, x, num_samples=100):
    return post.predict(x, num_samples=None if post.sampler.kind == "draws" else num_samples)


def rows_of(posts, seconds, test, ood, reference=None):
    x, y = test.tensors
    rows = []
    for name, post in posts.items():
        p = _probs(post, x)
        row = {
            "method": name,
            "accuracy": metrics.accuracy(p, y),
            "nll": metrics.nll(p, y),
            "brier": metrics.brier(p, y),
            "ece": metrics.ece(p, y),
            "adaptive_ece": metrics.adaptive_ece(p, y),
            "fit_seconds": seconds[name],
        }
        for ood_name, x_ood in ood.items():
            q = _probs(post, x_ood)
            row[f"auroc_{ood_name}_entropy"] = metrics.ood_auroc(
                metrics.predictive_entropy(p), metrics.predictive_entropy(q)
            )
            if p.shape[0] > 1:
                row[f"auroc_{ood_name}_mi"] = metrics.ood_auroc(
                    metrics.mutual_information(p), metrics.mutual_information(q)
                )
        if reference is not None:
            row["agreement"] = metrics.agreement(p, reference)
            row["total_variation"] = metrics.total_variation(p, reference)
        info = post.info
        for key in ("temperature", "collapsed"):
            if key in info:
                row[key] = info[key]
        rows.append(row)
    return rows


def run(arch: str, seed: int, methods, hmc: bool, held_out: bool) -> list[dict]:
    full, test = bn.data.digits(seed=seed)
    train, val = bn.data.validation_split(full, 0.1, seed=seed)
    x_test = test.tensors[0]
    ood = {"noise": noise_like(x_test, seed=seed), "rot90": rotate(x_test, 90.0)}
    posts, seconds = fit_all(arch, seed, methods, train, val, 10)
    reference = None
    if hmc:
        start = time.perf_counter()
        posts["hmc"] = hmc_reference(train, seed, 10)
        seconds["hmc"] = time.perf_counter() - start
        reference = _probs(posts["hmc"], x_test)
    rows = rows_of(posts, seconds, test, ood, reference)
    if hmc:
        diag = bn.diagnostics.summary(posts["hmc"], x_test, test.tensors[1])
        rows[-1]["lpd_rhat"] = float(diag.function_space.loc["lpd", "r_hat_max"])
        rows[-1]["divergences"] = int(diag.chains["divergences"].sum())
    if held_out:
        train_k, _ = bn.data.held_out_classes(train, HELD_OUT)
        val_k, _ = bn.data.held_out_classes(val, HELD_OUT)
        test_k, x_out = bn.data.held_out_classes(test, HELD_OUT)
        posts_k, seconds_k = fit_all(arch, seed, methods, train_k, val_k, 10 - len(HELD_OUT))
        for row, row_k in zip(
            rows, rows_of(posts_k, seconds_k, test_k, {"held_out": x_out}), strict=False
        ):
            row["auroc_held_out_entropy"] = row_k["auroc_held_out_entropy"]
            row["auroc_held_out_mi"] = row_k.get("auroc_held_out_mi")
    return rows


COLUMNS = (
    ("acc", "accuracy"),
    ("NLL", "nll"),
    ("Brier", "brier"),
    ("ECE", "ece"),
    ("aECE", "adaptive_ece"),
    ("AUROC noise H", "auroc_noise_entropy"),
    ("AUROC noise MI", "auroc_noise_mi"),
    ("AUROC rot90 H", "auroc_rot90_entropy"),
    ("AUROC rot90 MI", "auroc_rot90_mi"),
    ("AUROC held-out H", "auroc_held_out_entropy"),
    ("AUROC held-out MI", "auroc_held_out_mi"),
    ("agree HMC", "agreement"),
    ("TV HMC", "total_variation"),
    ("fit s", "fit_seconds"),
)


def _fmt(values: list) -> str:
    values = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def table(results: dict[str, dict[int, list[dict]]]) -> str:
    lines = [
        "| architecture | method | " + " | ".join(c for c, _ in COLUMNS) + " |",
        "|---|---|" + "---|" * len(COLUMNS),
    ]
    for arch, by_seed in results.items():
        methods = dict.fromkeys(r["method"] for rows in by_seed.values() for r in rows)
        for method in methods:
            records = [r for rows in by_seed.values() for r in rows if r["method"] == method]
            cells = [_fmt([r.get(key) for r in records]) for _, key in COLUMNS]
            lines.append(f"| {arch} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(results: dict[str, dict[int, list[dict]]]) -> str:
    """Per architecture: does default SVI beat the softmax (mean over seeds)?"""
    lines = [
        "| architecture | seeds | NLL svi < softmax | AUROC noise svi > softmax | "
        "ECE svi <= softmax | aECE svi <= softmax | accuracy svi >= softmax - 0.005 |",
        "|---|---|---|---|---|---|---|",
    ]
    for arch, by_seed in results.items():

        def mean(method, key, by_seed=by_seed):
            values = [r[key] for rows in by_seed.values() for r in rows if r["method"] == method]
            return statistics.mean(values)

        checks = [
            ("nll", lambda s, m: s < m),
            ("auroc_noise_entropy", lambda s, m: s > m),
            ("ece", lambda s, m: s <= m),
            ("adaptive_ece", lambda s, m: s <= m),
            ("accuracy", lambda s, m: s >= m - 0.005),
        ]
        cells = []
        for key, ok in checks:
            s, m = mean("svi", key), mean("softmax", key)
            cells.append(f"{'yes' if ok(s, m) else '**no**'} ({s:.4f} vs {m:.4f})")
        lines.append(f"| {arch} | {len(by_seed)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


README_METHODS = {
    "softmax": "softmax",
    "temperature": "temperature scaling",
    "dropout": "MC dropout",
    "ensemble": "deep ensemble (5)",
    "svi": "**SVI, defaults**",
    "svi_auto": 'SVI, `temperature="auto"`',
}
README_COLUMNS = (
    ("accuracy", "accuracy"),
    ("NLL", "nll"),
    ("ECE", "ece"),
    ("adaptive ECE", "adaptive_ece"),
    ("AUROC noise vs digits (entropy)", "auroc_noise_entropy"),
    ("AUROC held-out classes (entropy)", "auroc_held_out_entropy"),
    ("fit s", "fit_seconds"),
)


def readme_table(by_seed: dict[int, list[dict]]) -> str:
    """The README's table: the zoo CNN, every method with its defaults."""
    lines = [
        "| method | " + " | ".join(c for c, _ in README_COLUMNS) + " |",
        "|---|" + "---|" * len(README_COLUMNS),
    ]
    for method, label in README_METHODS.items():
        records = [r for rows in by_seed.values() for r in rows if r["method"] == method]
        if records:
            cells = [_fmt([r.get(key) for r in records]) for _, key in README_COLUMNS]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--archs", nargs="+", default=list(ARCHS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--hmc", action="store_true", help="also the NUTS reference (tiny CNN)")
    parser.add_argument("--held-out", action="store_true", help="also fit without classes 8, 9")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default="benchmarks/quality")
    args = parser.parse_args()
    if set(ON_SOFTMAX) & set(args.methods) and "softmax" not in args.methods:
        parser.error(f"{', '.join(ON_SOFTMAX)} are built on the softmax: add it to --methods")
    args.methods = sorted(args.methods, key=METHODS.index)  # the softmax first
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[int, list[dict]]] = {}
    for arch in args.archs:
        for seed in args.seeds:
            path = out / f"{arch}_seed{seed}.json"
            if not path.exists():
                hmc = args.hmc and arch == "tiny_cnn"
                rows = run(arch, seed, args.methods, hmc, args.held_out)
                path.write_text(json.dumps(rows, indent=1))
                print(f"done: {arch}, seed {seed}", flush=True)
            results.setdefault(arch, {})[seed] = json.loads(path.read_text())
    print(table(results))
    if "svi" in args.methods:
        print()
        print(verdict(results))
    if "digits_cnn" in results:
        print("\nREADME table (digits_cnn)\n")
        print(readme_table(results["digits_cnn"]))


if __name__ == "__main__":
    main()
