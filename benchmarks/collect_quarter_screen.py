"""The screen that found ``collect_quarter.py``'s lead: ``bn.fit``'s default and seven
one-option variants on the 8x8 digits' two BatchNorm networks that no decision saw (where
its NLL was not below the deep ensemble's), seeds 0 to 4.

    python benchmarks/collect_quarter_screen.py --data digits \\
        --archs torch_mnist_bn allconv_bn --seeds 0 1 2 3 4 --no-held-out --jobs 2 \\
        --threads 1 --methods softmax ensemble recommended lr_1e-3 swa_lr_2e-3 starts_3 \\
        scale_1 recommended_dropout_off recommended_collect_quarter weight_decay_5e-4 \\
        --out benchmarks/collect_quarter_screen
    python benchmarks/collect_quarter_screen.py --table

Three of the variants are the battery's own methods (``starts_3``,
``recommended_dropout_off``, ``recommended_collect_quarter``); the other four are added
here. A screen, not a decision: its cells found the lead and count in no rule.
"""

from __future__ import annotations

import sys
from pathlib import Path

import battery
from battery import OOD, _best_mean, _fit, _mean, load

from bayesnet.infer.wrappers.recommended import BUDGET, STARTS

#: the variants the battery does not have: each one change to ``bn.fit``'s defaults
VARIANTS = {
    "lr_1e-3": {"lr": 1e-3},
    "swa_lr_2e-3": {"swa_lr": 2e-3},
    "scale_1": {"scale": 1.0},
    "weight_decay_5e-4": {"weight_decay": 5e-4},
}
ROWS = Path("benchmarks/collect_quarter_screen")

battery.METHODS.update({name: _fit(STARTS, BUDGET, **o) for name, o in VARIANTS.items()})


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
