"""A challenger to ``bn.fit``'s default, scored cell by cell against the battery's.

A study that runs one method (``new``) beside the softmax on the battery's cells, then
asks whether it should replace the default: per (data set, architecture), the issue's
targets it meets (``battery.met``, of eight) against those of the default it challenged
(``battery.PREVIOUS``, ``bn.fit`` as it was until ``swa_lr.py`` changed it, unless a
study names another: ``distance_aware.py`` challenges ``recommended``) on the same seeds,
the NLLs and the fit costs. The verdict a study states before its run: more targets than
the default on the choosing cells, at least as many on the confirming cells (where they
ran), and an NLL below the softmax's on every choosing cell.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from battery import PREVIOUS, _cost, _mean, load, met, summary_main
from swag_scale import paired


def cell_table(
    rows: Path, battery: Path, new: str, default: str = PREVIOUS
) -> tuple[list[str], dict[str, list[int]], dict[str, int]]:
    """Per cell, on the seeds ``new`` ran: targets met (of 8) by ``new`` and by the
    ``default`` (the battery's rows of it), the NLLs and the costs; with the targets of
    each summed by the cell's role and, by role, the number of cells where ``new``'s NLL
    is not below the softmax's."""
    lines = [
        f"| data | arch | cell | seeds | targets, {new} / default "
        f"| NLL softmax / {new} / default / ensemble | fit CPU {new} / default (x softmax) |",
        "|---|---|---|---|---|---|---|",
    ]
    tally = {"chosen on": [0, 0], "confirms": [0, 0]}
    over = {"chosen on": 0, "confirms": 0}
    for cell, role, mine, base in paired(load(rows), load(battery)):
        seeds = [s for s, rows in mine.items() if any(r["method"] == new for r in rows)]
        if not seeds:
            continue  # a cell the new rows do not reach
        mine, base = {s: mine[s] for s in seeds}, {s: base[s] for s in seeds}
        counts = (met(mine, base, new), met(base, base, default))
        tally[role][0] += counts[0]
        tally[role][1] += counts[1]
        nll = [_mean(base, "softmax", "nll"), _mean(mine, new, "nll")]
        nll += [_mean(base, default, "nll"), _mean(base, "ensemble", "nll")]
        over[role] += nll[1] >= nll[0]
        costs = (_cost(mine, new), _cost(base, default))
        lines.append(
            f"| {cell[0]} | {cell[1]} | {role} | {len(mine)} | {counts[0]} / {counts[1]} | "
            f"{' / '.join(f'{v:.4f}' for v in nll)} | {costs[0]:.2f} / {costs[1]:.2f} |"
        )
    return lines, tally, over


def confirming(rows: Path, battery: Path, new: str, default: str) -> tuple[str, int, int]:
    """``cell_table``'s lines as text, and the targets ``new`` and ``default`` meet on the
    confirming cells (where a study checks a network no decision saw)."""
    lines, tally, _ = cell_table(rows, battery, new, default)
    ours, theirs = tally["confirms"]
    return "\n".join(lines), ours, theirs


def summary(rows: Path, battery: Path, new: str, stays: str, default: str = PREVIOUS) -> str:
    """``cell_table`` and the verdict (``stays``: what holds if it is not confirmed)."""
    lines, tally, over_by_role = cell_table(rows, battery, new, default)
    over = over_by_role["chosen on"]
    (a, b), (c, d) = tally["chosen on"], tally["confirms"]
    chosen = a > b and over == 0
    if chosen and not d:
        verdict = "it passes the choosing cells: the confirming cells decide."
    elif chosen and c >= d:
        verdict = "**confirmed** as stated."
    else:
        verdict = f"**not confirmed**: {stays}."
    lines += [
        "",
        f"Choosing cells: `{new}` meets {a} targets, the default {b}; confirming cells: {c} "
        f"and {d}; its NLL is above the softmax's on {over} choosing cell(s): {verdict}",
    ]
    return "\n".join(lines)


def main(doc: str, new: str, rows: str, prefix: str, stays: str, default: str = PREVIOUS) -> None:
    """A challenger study's command line: ``summary`` of ``new``'s rows in ``rows``
    against ``default``'s, printed and written into the ``<!-- PREFIX:summary -->`` blocks
    of ``--write``."""
    summary_main(
        doc.splitlines()[0],
        rows,
        prefix,
        partial(summary, new=new, stays=stays, default=default),
    )
