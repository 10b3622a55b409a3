"""The low-rank guide's rank: Pyro's square root of the weights, or 20.

    python benchmarks/battery.py --data digits --archs bn_cnn cnn lenet5 resnet8 \
        --seeds 0 1 --methods softmax svi_low_rank_r20 --jobs 2 --out benchmarks/low_rank
    python benchmarks/battery.py --data mnist5k --archs bn_cnn cnn \
        --seeds 0 1 --methods softmax svi_low_rank_r20 --jobs 2 --out benchmarks/low_rank
    python benchmarks/low_rank.py --write benchmarks/RESULTS.md

``guide="low_rank"`` (``bn.infer.LowRank()``) takes Pyro's default rank, the square root
of the number of weights it covers: on the head of the battery's BatchNorm CNN 134 on the
8x8 digits and 450 on the 28x28 ones, a factor of 91 million entries there, so the fit
did not finish one real-digit cell in 50 minutes (RESULTS). SWAG keeps 20 deviations.

Stated before the run: the default rank becomes 20 if, on the four 8x8 choosing networks
(seeds 0 and 1, against the battery's ``svi_low_rank`` rows), rank 20 costs less on every
cell and its mean rank over the battery's columns (accuracy, NLL, ECE, the four AUROCs)
against the square-root rank is at most 1.5 (no worse on balance), and on the two
real-digit choosing networks it completes at a cost the table states. Otherwise the
default stays Pyro's, and the guide's docs say what it costs on real images.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from battery import _cost, _mean, load, ranks, summary_main

OLD, NEW = "svi_low_rank", "svi_low_rank_r20"


def summary(rows: Path, battery: Path) -> str:
    """Per cell: both ranks' fit cost and NLL and rank 20's mean rank against Pyro's
    default; the verdict."""
    mine, base = load(rows), load(battery)
    lines = [
        "| data | arch | fit CPU sqrt / 20 (x softmax) | NLL softmax / sqrt / 20 "
        "| mean rank of 20 (of 2) |",
        "|---|---|---|---|---|",
    ]
    cheaper, rank_8x8 = [], []
    for cell in sorted(mine):
        ours = mine[cell]
        theirs = {s: base.get(cell, {}).get(s, []) for s in ours}
        both = {s: [*ours[s], *(r for r in theirs[s] if r["method"] == OLD)] for s in ours}
        has_old = any(r["method"] == OLD for rs in both.values() for r in rs)
        cost_old = _cost(theirs, OLD) if has_old else None
        cost_new = _cost(ours, NEW)
        mean_rank = statistics.mean(ranks({cell: both}, [OLD, NEW])[NEW]) if has_old else None
        if cell[0] == "digits" and has_old:
            cheaper.append(cost_new < cost_old)
            rank_8x8.append(mean_rank)
        nll = [_mean(ours, "softmax", "nll"), _mean(both, OLD, "nll"), _mean(ours, NEW, "nll")]
        lines.append(
            f"| {cell[0]} | {cell[1]} | "
            f"{'not run' if cost_old is None else f'{cost_old:.1f}'} / {cost_new:.1f} | "
            + " / ".join("not run" if v is None else f"{v:.4f}" for v in nll)
            + f" | {'' if mean_rank is None else f'{mean_rank:.2f}'} |"
        )
    overall = statistics.mean(rank_8x8) if rank_8x8 else float("nan")
    ok = bool(cheaper) and all(cheaper) and overall <= 1.5
    lines += [
        "",
        f"On the 8x8 digits rank 20 is cheaper on {sum(cheaper)} of {len(cheaper)} cells; its "
        f"mean rank against the square-root rank is {overall:.2f}: "
        + ("**the default rank becomes 20**." if ok else "**the default stays Pyro's**."),
    ]
    return "\n".join(lines)


def main() -> None:
    summary_main(__doc__.splitlines()[0], "benchmarks/low_rank", "low_rank", summary)


if __name__ == "__main__":
    main()
