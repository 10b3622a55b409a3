"""``bn.fit`` collecting from a quarter of each start (``recommended_collect_quarter``)
against its default, half (``recommended``), both run in one battery run.

    python benchmarks/battery.py --data digits mnist5k \\
        --archs bn_cnn cnn lenet5 resnet8 wide_bn --seeds 0 1 --no-held-out \\
        --methods recommended recommended_collect_quarter --jobs 2 \\
        --out benchmarks/collect_quarter
    python benchmarks/battery.py --data mnist5k --archs torch_mnist_bn --seeds 0 1 \\
        --no-held-out --methods recommended recommended_collect_quarter --jobs 2 \\
        --out benchmarks/collect_quarter
    python benchmarks/collect_quarter.py --write benchmarks/RESULTS.md

The lead (2026-12-08, a screen on the 8x8 digits, seeds 0 to 4, of the two BatchNorm
networks no decision saw, ``allconv_bn`` and ``torch_mnist_bn``, where ``bn.fit``'s NLL
was not below the deep ensemble's): collecting from a quarter of each start gave the
lowest NLL of seven variants (``torch_mnist_bn`` 0.0270 against the default's 0.0312
and the ensemble's 0.0294; ``allconv_bn`` 0.0471 against 0.0499 and 0.0469), ECE no
higher than the default's, far-OOD AUROCs within 0.003 of it (``collect_quarter_screen.py``
has the command and the table). An earlier screen (RESULTS, "What the
far-OOD misses are not") found it worse on the 8x8 battery networks before the
predictive was distance-aware.

Stated before the run (2026-12-08): ``collect_from=0.25`` becomes ``bn.fit``'s default
only if, both variants run side by side (one thread per cell, the held-out digits not
run, so seven targets a cell: the cost is the same computation and is not counted),
scored against the battery's stored softmax and deep ensemble rows, (1) on the choosing
cells it meets more targets than the default with its NLL below the softmax's on every
one of them; (2) on the confirming cells at least as many; and (3) on the real digits'
PyTorch MNIST example with BatchNorm (``torch_mnist_bn``, scored against
``benchmarks/distance_aware_log_softmax``'s rows; its 8x8 cell found the lead and does
not count) at least as many. Otherwise it stays an option (``bn.fit(...,
collect_from=0.25)``).
"""

from __future__ import annotations

from pathlib import Path

from battery import CHOOSING, _best_mean, _mean, load, summary_main, targets_met
from swag_scale import paired

NEW, DEFAULT = "recommended_collect_quarter", "recommended"
#: the cells the rule reads, each on seeds 0 and 1
CELLS = {
    (data, arch)
    for data in ("digits", "mnist5k")
    for arch in ("bn_cnn", "cnn", "lenet5", "resnet8", "wide_bn")
} | {("mnist5k", "torch_mnist_bn")}
#: the stored softmax and ensemble of the network no decision saw
UNSEEN = Path("benchmarks/distance_aware_log_softmax")


def summarise(rows: Path, battery: Path) -> str:
    """Per cell, the targets each variant meets and their NLLs; then the verdict."""
    lines = [
        "| data | arch | cell | seeds | targets, quarter / half (of 7) "
        "| NLL softmax / quarter / half / ensemble | ECE softmax / quarter / half "
        "| AUROC noise/inv/nat, quarter | AUROC noise/inv/nat, half |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    tally = {"chosen on": [0, 0], "confirms": [0, 0], "unseen": [0, 0]}
    over = 0
    ran = load(rows)
    unseen = {c: ran.pop(c) for c in list(ran) if c[1] == "torch_mnist_bn"}
    pairs = [
        *paired(ran, load(battery)),
        *((cell, "unseen", mine, base) for cell, _, mine, base in paired(unseen, load(UNSEEN))),
    ]
    for cell, role, mine, base in pairs:
        counts = [sum(targets_met(mine, base, m)) for m in (NEW, DEFAULT)]
        tally[role] = [a + b for a, b in zip(tally[role], counts, strict=True)]
        nll = [_mean(base, "softmax", "nll"), _mean(mine, NEW, "nll")]
        nll += [_mean(mine, DEFAULT, "nll"), _mean(base, "ensemble", "nll")]
        over += role == "chosen on" and nll[1] >= nll[0]
        ece = [_mean(base, "softmax", "ece"), _mean(mine, NEW, "ece"), _mean(mine, DEFAULT, "ece")]
        aurocs = [
            "/".join(f"{_best_mean(mine, m, k):.3f}" for k in ("noise", "inverted", "natural"))
            for m in (NEW, DEFAULT)
        ]
        lines.append(
            f"| {cell[0]} | {cell[1]} | {role} | {len(mine)} | {counts[0]} / {counts[1]} | "
            + " / ".join(f"{v:.4f}" for v in nll)
            + " | "
            + " / ".join(f"{v:.4f}" for v in ece)
            + f" | {aurocs[0]} | {aurocs[1]} |"
        )
    (a, b), (c, d), (e, f) = tally["chosen on"], tally["confirms"], tally["unseen"]
    missing = CELLS - {cell for cell, _, mine, _ in pairs if len(mine) == 2}
    chosen = a > b and over == 0
    holds = chosen and c >= d and e >= f
    verdict = "**confirmed**" if holds else "**not confirmed**: collecting from half stays"
    if missing and (chosen or missing & CHOOSING):  # cells that could still change it
        verdict = f"pending: {len(missing)} cell(s) of {len(CELLS)} have not run on both seeds"
    elif missing:
        verdict += f" (decided on the choosing cells; {len(missing)} confirming cell(s) not run)"
    lines += [
        "",
        f"Choosing cells: a quarter meets {a} targets, half {b}, its NLL above the softmax's "
        f"on {over} of them; confirming cells: {c} and {d}; the real digits' "
        f"`torch_mnist_bn`: {e} and {f}: {verdict}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    summary_main(
        __doc__.splitlines()[0], "benchmarks/collect_quarter", "collect_quarter", summarise
    )
