"""A screen (not a candidate yet): ``bn.fit``'s predictive with logit noise that grows with
each draw's distance from the training data in its own feature space.

    python benchmarks/distance_noise_screen.py --seeds 9 10 --out benchmarks/distance_noise_screen
    python benchmarks/distance_noise_screen.py --data mnist5k --archs bn_cnn cnn --seeds 9
    python benchmarks/distance_noise_screen.py --summary benchmarks/swa_lr_screen/rates_digits \
        --methods distance_noise_a0_p1 distance_noise_a0.1_p2 distance_noise_a1_p2_above_q0.99 \
        distance_noise_a3_p1_above_q0.99

Why: the far-OOD targets ``bn.fit`` still misses are the deep ensemble's disagreement far
from the data, and nothing that widens SWAG's Gaussian reaches it (RESULTS: the Gaussian
spreads where the data already constrain the weights). A feature-space distance does see
far inputs (Mukhoti et al. 2021, DDU; Liu et al. 2020, SNGP). Per draw ``s``: the
penultimate features (the input of the last ``nn.Linear``) of the training inputs give
class means and a shared covariance; an input's distance ``r`` is its smallest
Mahalanobis distance to a class mean over the feature dimension, divided by the training
inputs' median (about 1 on the data); each logit gets Gaussian noise of variance
``alpha * r ** power``, or ``alpha * (r - r_q) ** power`` beyond the training inputs'
``q`` quantile ``r_q`` and none within it (``HINGES``). The rows hold, for each ``(alpha, power)``, the battery's
in-distribution metrics and OOD AUROCs of one prediction (``alpha = 0``: ``bn.fit``'s), and
each set's median distance. Nothing here is in the package: a lead for the far-OOD gap,
with its price in NLL and ECE.

The lead's check, stated before its run (2026-12-07, after the screen on seeds 9 and 10):
the one setting ``alpha = 3, power = 1, q = 0.99`` (``CHECKED``) on seeds 0, 1 and 2 of
every cell of the battery (both data sets, the five networks; ``--seeds 0 1 2 --out
benchmarks/distance_noise_screen/check``), against the battery's softmax and ensemble rows
of the same seeds (``--summary benchmarks/battery``), is a candidate for the next round if
it meets more of the five targets (NLL, ECE, three far-OOD AUROCs) than ``alpha = 0`` over
all ten cells and no fewer on the confirming ones (``battery.CHOOSING``'s complement).
Otherwise it is recorded as not confirmed. Nothing in the package changes either way.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from battery import ARCHS, CHOOSING, DRAWS, _aurocs, _cell_value, load, run_cell, targets_met

import bayesnet as bn
from bayesnet.evaluate import metrics

ALPHAS = (0.1, 0.3, 1.0)
POWERS = (1, 2, 3)
#: the setting the lead's check judges (the module's docstring), and ``bn.fit`` itself
CHECKED, NONE = "distance_noise_a3_p1_above_q0.99", "distance_noise_a0_p1"
#: (alpha, power, level): noise only beyond the training distances' ``level`` quantile
HINGES = tuple((a, p, q) for q in (0.95, 0.99) for a in (1.0, 3.0, 10.0) for p in (1, 2))


def distances(train_features, labels, features) -> tuple[torch.Tensor, torch.Tensor]:
    """Per draw, the smallest class-conditional Mahalanobis distance (over the feature
    dimension) of ``features [S, N, d]`` and of the training features themselves, under
    the training features' class means and shared covariance."""
    d = train_features.shape[-1]
    onehot = torch.nn.functional.one_hot(labels).double()
    means = torch.einsum("snd,nc->scd", train_features, onehot) / onehot.sum(0)[None, :, None]
    centred = train_features - means[:, labels]
    cov = centred.transpose(1, 2) @ centred / train_features.shape[1]
    ridge = 1e-3 * cov.diagonal(dim1=1, dim2=2).mean(-1)[:, None, None]
    precision = torch.linalg.inv(cov + ridge * torch.eye(d, dtype=cov.dtype))

    def smallest(f):
        diff = f[:, :, None, :] - means[:, None]
        return torch.einsum("sncd,sde,snce->snc", diff, precision, diff).min(-1).values / d

    return smallest(features), smallest(train_features)


def score(cell, test, ood) -> list[dict]:
    """``bn.fit`` on the cell, one prediction of the test, OOD and training inputs with the
    penultimate features of every draw kept, then a row per ``(alpha, power)``."""
    cpu = time.process_time()
    post = bn.fit(cell.net, cell.loader(), epochs=cell.epochs, **cell.common)
    cpu = time.process_time() - cpu
    head = [m for m in post.net.modules() if isinstance(m, torch.nn.Linear)][-1]
    kept = []
    hook = head.register_forward_pre_hook(lambda _, a: kept.append(a[0].detach().flatten(1)))
    x, y = test.tensors
    parts = [x, *ood.values()]
    sizes = [len(v) for v in parts]
    probs = post.predict(torch.cat([*parts, cell.train.tensors[0]]), num_samples=DRAWS)
    hook.remove()
    features = torch.stack(kept[-probs.shape[0] :]).double()  # the predict's draws, in order
    n = sum(sizes)
    r, train_r = distances(features[:, n:], cell.train.tensors[1], features[:, :n])
    reference = train_r.median(1).values[:, None]
    r, train_r = r / reference, train_r / reference
    logp = probs[:, :n].double().clamp_min(1e-30).log()
    noise = torch.randn(logp.shape, generator=torch.Generator().manual_seed(cell.seed))
    medians = {
        f"distance_{k}": float(v.median())
        for k, v in zip(["test", *ood], r.split(sizes, 1), strict=True)
    }
    rows = []
    grid = [*((a, p, None) for a in ALPHAS for p in POWERS), *HINGES]
    settings = [(0.0, 1, None, False), *((*g, False) for g in grid)]
    settings += [(*g, True) for g in HINGES]
    for alpha, power, level, mean_field in settings:
        floor = 0.0 if level is None else train_r.quantile(level, dim=1)[:, None]
        var = (alpha * (r - floor).clamp_min(0) ** power)[..., None]
        if mean_field:  # E softmax(l + sd z) ~ softmax(l / sqrt(1 + pi var / 8))
            logits = logp / (1 + torch.pi * var / 8).sqrt()
        else:
            logits = logp + var.sqrt() * noise.double()
        q = torch.softmax(logits, -1).float().split(sizes, dim=1)
        p = q[0]
        row = {
            "method": f"distance_noise_a{alpha:g}_p{power}"
            + ("" if level is None else f"_above_q{level:g}")
            + ("_mean_field" if mean_field else ""),
            "accuracy": metrics.accuracy(p, y),
            "nll": metrics.nll(p, y),
            "ece": metrics.ece(p, y),
            "fit_cpu_seconds": cpu,
            **medians,
        }
        for kind, q_ood in zip(ood, q[1:], strict=True):
            row.update(_aurocs(kind, p, q_ood))
        rows.append(row)
    return rows


def summary(out: Path, baseline: Path, shown: list[str] | None = None) -> str:
    """Per network of ``baseline``'s data set and ``(alpha, power)`` (those named in
    ``shown``, or all), means over the seeds: NLL, ECE and the far-OOD AUROCs (the better
    of entropy and mutual information; the held-out digits' too where ``--held-out`` ran
    them), beside the softmax's and the deep ensemble's of the
    same cells (``baseline``: battery rows of the same seeds), and the battery's targets
    these columns meet (NLL below the ensemble's, each AUROC at least the ensemble's less
    0.01, ECE at most the softmax's); then each setting's targets over every network."""
    cells = load(out)
    held_out = any("auroc_held_out_H" in r for c in cells.values() for v in c.values() for r in v)
    kinds = ("noise", "inverted", "natural", *(("held_out",) if held_out else ()))
    lines = [
        "| data | arch | method | NLL | ECE | "
        + " | ".join(f"AUROC {k}" for k in kinds)
        + " | targets |",
        "|---|---|---|---|---|" + "---|" * (len(kinds) + 1),
    ]
    totals: dict[str, int] = {}
    confirming: dict[str, int] = {}
    for (data, arch), by_seed in cells.items():
        paths = {s: baseline / f"{data}_{arch}_seed{s}.json" for s in by_seed}
        if not all(p.exists() for p in paths.values()):
            continue
        theirs = {s: json.loads(p.read_text()) for s, p in paths.items()}
        methods = dict.fromkeys(r["method"] for rows in by_seed.values() for r in rows)
        base = ("softmax", "ensemble")
        for m in [*base, *methods]:
            v = {
                k: _cell_value(theirs if m in base else by_seed, m, k)
                for k in ("nll", "ece", *kinds)
            }
            met = None
            if m not in base:
                met = sum(targets_met(by_seed, theirs, m)[:-1])  # all but accuracy
                totals[m] = totals.get(m, 0) + met
                if (data, arch) not in CHOOSING:
                    confirming[m] = confirming.get(m, 0) + met
            if shown and m not in (*base, *shown):
                continue
            shown_values = [f"{v[k]:.4f}" for k in ("nll", "ece", *kinds)]
            lines.append(
                f"| {data} | {arch} | {m} | "
                + " | ".join(shown_values)
                + f" | {'' if met is None else met} |"
            )
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    lines.append(
        "\nTargets over every network: " + "; ".join(f"`{m}` {t}" for m, t in ranked) + "."
    )
    if CHECKED in confirming and NONE in confirming:  # the check's cells, not the screen's
        lines.append(verdict(totals, confirming))
    return "\n".join(lines)


def verdict(totals: dict[str, int], confirming: dict[str, int]) -> str:
    """The lead's check (the module's docstring): ``CHECKED`` against ``NONE``."""
    ours, theirs = confirming[CHECKED], confirming[NONE]
    passed = totals[CHECKED] > totals[NONE] and ours >= theirs
    return (
        f"\n`{CHECKED}` meets {totals[CHECKED]} targets against `{NONE}`'s {totals[NONE]} "
        f"({ours} against {theirs} on the confirming cells): "
        f"{'a candidate for the next round' if passed else 'not confirmed'}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--archs", nargs="+", default=list(ARCHS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[9, 10])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/distance_noise_screen"))
    parser.add_argument(
        "--summary",
        type=Path,
        metavar="BASELINE",
        help="print the table against the battery rows in BASELINE (softmax and ensemble)",
    )
    parser.add_argument("--methods", nargs="+", help="the settings --summary shows")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--held-out", action="store_true", help="also fit without digits 8 and 9 for their AUROC"
    )
    args = parser.parse_args()
    if args.summary:
        print(summary(args.out, args.summary, args.methods))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    for arch in args.archs:
        for seed in args.seeds:
            start = time.perf_counter()
            rows = run_cell(args.data, arch, seed, args.epochs, args.held_out, score)
            (args.out / f"{args.data}_{arch}_seed{seed}.json").write_text(
                json.dumps(rows, indent=1)
            )
            print(f"done: {arch} seed {seed} ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
