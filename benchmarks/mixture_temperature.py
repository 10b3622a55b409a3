"""Temperature by validation on ``bn.fit``'s mixture: what a user with a validation set
gains, measured on the battery's cells.

    python benchmarks/swag_scale.py --scales 0.5 0.75 1 --temper --jobs 2 \
        --out benchmarks/swag_scale_narrow --block swag_scale_narrow   # the rows (one run)
    python benchmarks/mixture_temperature.py --write benchmarks/RESULTS.md

Why: on the 8x8 digits ``bn.fit``'s two SWAG modes mix into an underconfident predictive
(its ECE above the softmax's on four of five cells; the deep ensemble's too), and a
temperature fitted on held-out data is the classical fix (Guo et al. 2017), here for the
mixture (``bn.baselines.temperature_scaled`` on any classifier posterior). The rows come
from ``swag_scale.py --temper``, which fits ``bn.fit`` with its defaults once per battery
cell and seed (the battery's split, network and seed; once more without the held-out
classes) and scores it as fitted (``scale_1``) and with every draw's logits divided by the
temperature that minimises the mixture's NLL on the battery's validation tenth
(``scale_1+T``), with the same draws. The softmax and ensemble rows of the targets are the
battery's stored rows of the same cell and seed; the ECE table adds the battery's
temperature-scaled softmax (which used the same validation tenth).

The rule, stated before the run: ``swag_scale.summary``'s (the issue's targets on the
choosing cells, the more met wins, ties to the lower mean rank, none whose NLL is above
the softmax's on a choosing cell; confirmed only if it meets at least as many targets on
the other cells as the untempered mixture). ``bn.fit`` takes no validation data, so the
outcome is advice for users who hold some out (the guide's), not a change of default.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from battery import _mean, load, write_blocks
from swag_scale import TEMPERED, paired, summary

NAMES = ["scale_1", TEMPERED]


def calibration(rows_by_cell, battery) -> str:
    """Per cell: the fitted temperature and the ECE of each variant beside the battery's
    softmax and temperature-scaled softmax (means over the seeds both hold)."""
    lines = [
        "| data | arch | cell | T | ECE bn.fit | ECE bn.fit, tempered | ECE softmax | ECE softmax, tempered |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for cell, role, mine, base in paired(rows_by_cell, battery):
        ece = [_mean(mine, n, "ece") for n in NAMES]
        ece += [_mean(base, n, "ece") for n in ("softmax", "temperature")]
        lines.append(
            f"| {cell[0]} | {cell[1]} | {role} | {_mean(mine, TEMPERED, 'temperature'):.2f} | "
            + " | ".join(f"{e:.4f}" for e in ece)
            + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="benchmarks/swag_scale_narrow")
    parser.add_argument("--battery", default="benchmarks/battery")
    parser.add_argument("--write", nargs="*", default=[], help="files to fill")
    args = parser.parse_args()
    cells, battery = load(Path(args.rows)), load(Path(args.battery))
    text = f"{summary(cells, battery, NAMES, 'scale_1')}\n\n{calibration(cells, battery)}"
    print(text)
    for path in args.write:
        write_blocks(Path(path), {"summary": text}, prefix="mixture_temperature")


if __name__ == "__main__":
    main()
