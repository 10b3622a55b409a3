"""What one pass per draw changes in a distance-aware posterior of a BatchNorm network:
``bn.fit`` with its defaults, run by the battery before the change (each draw's BatchNorm
statistics and its head's features in two passes over two samples of the training data,
the statistics' variance unbiased) and after it (one pass over one sample, the variance
that normalised it), per cell: the quality columns and the CPU seconds of the cell's
first prediction (which estimates every draw's statistics) and of the later ones.

    git worktree add /tmp/two_pass 11aa14f; git worktree add /tmp/one_pass 4ea1c43
    # in each, with PYTHONPATH=<it>:<it>/benchmarks, --out benchmarks/one_pass/<name>:
    python benchmarks/battery.py --data digits --archs bn_cnn resnet8 wide_bn cnn \\
        --seeds 0 1 --methods recommended --threads 1
    python benchmarks/battery.py --data mnist5k --archs bn_cnn --seeds 0 1 \\
        --methods recommended --threads 1
    python benchmarks/one_pass.py            # the table
"""

from __future__ import annotations

import statistics
from pathlib import Path

from battery import OOD, best_auroc, load

ROWS = Path(__file__).parent / "one_pass"
COLUMNS = (("acc", "accuracy"), ("NLL", "nll"), ("ECE", "ece"))
SECONDS = (("first predict CPU s", "predict_first_cpu_seconds"),)


def _mean(by_seed, key: str, kind: str | None = None) -> float:
    rows = [r for rows in by_seed.values() for r in rows if r["method"] == "recommended"]
    values = [best_auroc(r, kind) if kind else r[key] for r in rows]
    return statistics.mean(v for v in values if v is not None)


def table(before: Path = ROWS / "two_pass", after: Path = ROWS / "one_pass") -> str:
    """Per cell of both runs, each column as ``before -> after`` (means over seeds;
    AUROC the better of entropy and MI)."""
    old, new = load(before), load(after)
    heads = [h for h, _ in COLUMNS] + [f"AUROC {k}" for k in OOD] + [h for h, _ in SECONDS]
    lines = [
        "| data | arch | seeds | " + " | ".join(heads) + " |",
        "|---|---|---|" + "---|" * len(heads),
    ]
    for cell in (c for c in new if c in old):
        a, b = old[cell], new[cell]
        pairs = [(_mean(a, k), _mean(b, k), 4) for _, k in COLUMNS]
        pairs += [(_mean(a, "", kind), _mean(b, "", kind), 4) for kind in OOD]
        pairs += [(_mean(a, k), _mean(b, k), 1) for _, k in SECONDS]
        cols = [f"{x:.{d}f} -> {y:.{d}f}" for x, y, d in pairs]
        lines.append(f"| {cell[0]} | {cell[1]} | {len(b)} | " + " | ".join(cols) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
