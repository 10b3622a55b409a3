"""Temperature by validation on ``bn.fit``'s mixture: what a user with a validation set
gains, measured on the battery's cells.

    python benchmarks/mixture_temperature.py --jobs 2     # every battery cell, seeds 0 and 1
    python benchmarks/mixture_temperature.py --summary --write benchmarks/RESULTS.md

Why: on the 8x8 digits ``bn.fit``'s two SWAG modes mix into an underconfident predictive
(its ECE above the softmax's on four of five cells; the deep ensemble's too), and a
temperature fitted on held-out data is the classical fix (Guo et al. 2017), here for the
mixture (``bn.baselines.temperature_scaled`` on any classifier posterior). Per battery cell
and seed (the battery's split, network and seed), ``bn.fit`` with its defaults is fit once
(and once more without the held-out classes); its predictive is scored as fitted
(``bn.fit``) and with every draw's logits divided by the temperature that minimises the
mixture's NLL on the battery's validation tenth (``bn.fit+T``), with the same draws. The
softmax and ensemble rows of the targets are the battery's stored rows of the same cell
and seed; the ECE table adds the battery's temperature-scaled softmax (which used the same
validation tenth).

The rule, stated before the run: ``swag_scale.summary``'s (the issue's targets on the
choosing cells, the more met wins, ties to the lower mean rank, none whose NLL is above
the softmax's on a choosing cell; confirmed only if it meets at least as many targets on
the other cells as the untempered mixture). ``bn.fit`` takes no validation data, so the
outcome is advice for users who hold some out (the guide's), not a change of default.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
from pathlib import Path

import torch
from battery import CHOOSING, Cell, _mean, load, run_cell, scores, write_blocks
from swag_scale import CELLS, summary

import bayesnet as bn

NAMES = ["bn.fit", "bn.fit+T"]


def _fit_and_temper(cell: Cell, test, ood) -> list[dict]:
    """``bn.fit`` once on the cell, scored as fitted and tempered (the same draws)."""
    post = bn.fit(cell.net, cell.loader(), epochs=cell.epochs, **cell.common)
    tempered = bn.baselines.temperature_scaled(post, cell.val.tensors, num_samples=50)
    rows = []
    for name, p in zip(NAMES, (post, tempered), strict=True):
        cell.posts = {name: p}  # they share the kept draws (and statistics) of the fit
        torch.manual_seed(cell.seed)  # the same draws where none are kept
        rows += scores(cell, {name: (0.0, 0.0)}, test, ood)
    return rows


def _job(args) -> str:
    data, arch, seed, epochs, out = args
    torch.set_num_threads(1)
    rows = run_cell(data, arch, seed, epochs, True, _fit_and_temper)
    (Path(out) / f"{data}_{arch}_seed{seed}.json").write_text(json.dumps(rows, indent=1))
    return f"done: {data} {arch} seed {seed}"


def calibration(rows_by_cell, battery) -> str:
    """Per cell: the fitted temperature and the ECE of each variant beside the battery's
    softmax and temperature-scaled softmax (means over the seeds both hold)."""
    lines = [
        "| data | arch | cell | T | ECE bn.fit | ECE bn.fit+T | ECE softmax | ECE softmax+T |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for cell in sorted(rows_by_cell, key=lambda c: (c not in CHOOSING, c)):
        base = {s: battery[cell][s] for s in rows_by_cell[cell] if s in battery.get(cell, {})}
        mine = {s: rows_by_cell[cell][s] for s in base}
        if not mine:
            continue
        ece = [_mean(mine, n, "ece") for n in NAMES]
        ece += [_mean(base, n, "ece") for n in ("softmax", "temperature")]
        role = "chosen on" if cell in CHOOSING else "confirms"
        lines.append(
            f"| {cell[0]} | {cell[1]} | {role} | {_mean(mine, 'bn.fit+T', 'temperature'):.2f} | "
            + " | ".join(f"{e:.4f}" for e in ece)
            + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/mixture_temperature")
    parser.add_argument("--battery", default="benchmarks/battery")
    parser.add_argument("--summary", action="store_true", help="only the stored rows' tables")
    parser.add_argument("--write", nargs="*", default=[], help="files to fill")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.summary:
        jobs = [
            (d, a, s, args.epochs, str(out))
            for d, a in CELLS
            for s in args.seeds
            if not (out / f"{d}_{a}_seed{s}.json").exists()
        ]
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            for message in pool.imap_unordered(_job, jobs):
                print(message, flush=True)
    cells, battery = load(out), load(Path(args.battery))
    text = f"{summary(cells, battery, NAMES, 'bn.fit')}\n\n{calibration(cells, battery)}"
    print(text)
    for path in args.write:
        write_blocks(Path(path), {"summary": text}, prefix="mixture_temperature")


if __name__ == "__main__":
    main()
