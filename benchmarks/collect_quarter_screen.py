"""The screen that found ``collect_quarter.py``'s lead: ``bn.fit``'s default and seven
one-option variants on the 8x8 digits' two BatchNorm networks that no decision saw (where
its NLL was not below the deep ensemble's), seeds 0 to 4.

    python benchmarks/collect_quarter_screen.py --data digits \\
        --archs torch_mnist_bn allconv_bn --seeds 0 1 2 3 4 --no-held-out --jobs 2 \\
        --threads 1 --methods softmax ensemble recommended lr_1e-3 swa_lr_2e-3 starts_3 \\
        scale_1 dropout_off collect_quarter weight_decay_5e-4 \\
        --out benchmarks/collect_quarter_screen
    python benchmarks/collect_quarter_screen.py --table

A screen, not a decision: its cells found the lead and count in no rule.
"""

from __future__ import annotations

import sys
from pathlib import Path

import battery
from battery import OOD, _best_mean, _mean, load

import bayesnet as bn

#: each variant's one change to ``bn.fit``'s defaults
VARIANTS = {
    "lr_1e-3": {"lr": 1e-3},
    "swa_lr_2e-3": {"swa_lr": 2e-3},
    "starts_3": {"starts": 3},
    "scale_1": {"scale": 1.0},
    "dropout_off": {"dropout": "off"},
    "collect_quarter": {"collect_from": 0.25},
    "weight_decay_5e-4": {"weight_decay": 5e-4},
}
ROWS = Path("benchmarks/collect_quarter_screen")


def _variant(options: dict):
    return lambda c: bn.fit(c.net, c.loader(), epochs=c.epochs, **c.common, **options)


battery.METHODS.update({name: _variant(options) for name, options in VARIANTS.items()})


def table(rows: Path = ROWS) -> str:
    """Per network and method, the means over seeds of accuracy, NLL, ECE and the
    better-of-H-and-MI AUROC of each OOD kind that ran."""
    lines = [
        "| data | arch | method | seeds | acc | NLL | ECE | AUROC noise | AUROC inverted "
        "| AUROC natural |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (data, arch), by_seed in sorted(load(rows).items()):
        methods = [r["method"] for r in next(iter(by_seed.values()))]
        for m in methods:
            cols = [_mean(by_seed, m, k) for k in ("accuracy", "nll", "ece")]
            cols += [_best_mean(by_seed, m, k) for k in OOD if k != "held_out"]
            lines.append(
                f"| {data} | {arch} | {m} | {len(by_seed)} | "
                + " | ".join(f"{v:.4f}" for v in cols)
                + " |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:] == ["--table"]:
        print(table())
    else:
        battery.main()
