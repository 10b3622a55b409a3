"""When does SWAG warn that a start was still learning (``bn.ConvergenceWarning``)?

    python benchmarks/convergence.py

The rule (committed before the confirming runs, 8636660): a classification start whose
training NLL fell by more than ``STILL_LEARNING_NATS`` (0.25 nats per example) from the
first to the last epoch it collected in warns. Chosen on the start histories in
``benchmarks/convergence/tuning`` (seed 0, the 8x8 digits and 1,500 real digits at 6 and
20 epochs, recorded by ``bn.fit`` as the battery builds each cell), beside the few-epoch
battery (``benchmarks/few_epochs``); confirmed on cells that played no part (the battery
run with ``--methods softmax recommended --no-held-out --seeds 0`` on the real digits at 4
and 20 epochs and the 8x8 digits at 10 epochs, ``--out benchmarks/convergence/DATA_eE``):
it must fire on every cell where ``bn.fit``'s test NLL is above the softmax's, on at most
one where it is below, and on no real-digit cell at 20 epochs. This prints both tables.

Re-chosen when SWAG began collecting at four times the learning rate (``swa_lr.py``; stated
before these runs): a start learns faster while it collects at the higher rate, and the
battery's 20-epoch cells now fall by up to 0.29 nats where ``bn.fit`` beats the softmax.
The runs (``benchmarks/convergence_swa4``): ``tuning_e6`` (the few-epoch
cells, ``--data mnist1500 digits --epochs 6 --seeds 0 1``, the five networks, ``--methods
softmax recommended --no-held-out``) and the confirming runs of the rule above with
today's default (``digits_e10``, ``mnist5k_e4``, ``mnist5k_e20``, seed 0). The threshold
becomes the largest multiple of 0.05 nats below the smallest fall of the tuning cells
where ``bn.fit``'s NLL is above the softmax's, if it is above every fall of the battery's
20-epoch real-digit rows (``benchmarks/swa_lr``, seeds 0 to 2); it must then pass the
confirmation above on the three confirming runs. Otherwise the threshold stays 0.25 and
RESULTS says where the warning misfires.
"""

from __future__ import annotations

import json
from pathlib import Path

from bayesnet.infer.shared.convergence import STILL_LEARNING_NATS, collection_fall

HERE = Path(__file__).parent / "convergence"
#: the runs of the re-choice for the higher collection rate
REDONE = Path(__file__).parent / "convergence_swa4"


def tuning() -> list[str]:
    """Per (data, epochs, arch): the largest collection fall of seed 0's two starts."""
    lines = ["| data | epochs | arch | largest fall (nats) | warns |", "|---|---|---|---|---|"]
    for path in sorted((HERE / "tuning").glob("*.json")):
        falls: dict[tuple, float] = {}
        for start in json.loads(path.read_text()):
            history = [{"loss": v} for v in start["losses"]]
            fall = collection_fall(history, [(start["first"], len(history) - 1)])
            key = (start["data"], start["epochs"], start["arch"])
            falls[key] = max(falls.get(key, fall), fall)
        for (data, epochs, arch), fall in falls.items():
            warns = "yes" if fall > STILL_LEARNING_NATS else "no"
            lines.append(f"| {data} | {epochs} | {arch} | {fall:.2f} | {warns} |")
    return lines


def runs(root: Path) -> list[tuple[int, str, dict]]:
    """Every (epochs, cell name, rows by method) of the battery-format runs under ``root``
    (folders named ``<anything>_e<epochs>``)."""
    return [
        (
            int(run.name.rsplit("_e", 1)[1]),
            path.stem,
            {r["method"]: r for r in json.loads(path.read_text())},
        )
        for run in sorted(p for p in root.iterdir() if p.is_dir() and "_e" in p.name)
        for path in sorted(run.glob("*.json"))
    ]


def confirming(root: Path = HERE) -> list[str]:
    """Per cell of ``root``'s runs: the softmax's and ``bn.fit``'s test NLL and ECE, the
    fall, whether it warns."""
    lines = [
        "| epochs | cell | softmax NLL | bn.fit NLL | softmax ECE | bn.fit ECE | largest fall "
        "(nats) | warns |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for epochs, cell, rows in runs(root):
        soft, fit = rows["softmax"], rows["recommended"]
        fall = fit["collection_fall"]
        warns = "yes" if fall > STILL_LEARNING_NATS else "no"
        lines.append(
            f"| {epochs} | {cell} | {soft['nll']:.3f} | {fit['nll']:.3f} | {soft['ece']:.3f} | "
            f"{fit['ece']:.3f} | {fall:.2f} | {warns} |"
        )
    return lines


def rechosen() -> str:
    """The re-choice stated in the docstring, on ``REDONE``'s runs."""
    cells = runs(REDONE)
    tuning_cells = [rows for epochs, _, rows in cells if epochs == 6]
    worse = [
        r["recommended"]["collection_fall"]
        for r in tuning_cells
        if r["recommended"]["nll"] > r["softmax"]["nll"]
    ]
    warned = [
        rows["recommended"]["nll"] < rows["softmax"]["nll"]
        for _, _, rows in cells
        if rows["recommended"]["collection_fall"] > STILL_LEARNING_NATS
    ]
    if not worse:
        verdict = (
            f"no cell of the {len(tuning_cells)} few-epoch ones has `bn.fit`'s NLL above the "
            f"softmax's, so no threshold is chosen: it stays {STILL_LEARNING_NATS}"
        )
    else:
        verdict = f"the smallest fall where `bn.fit` loses to the softmax: {min(worse):.2f}"
    below = sum(warned)
    return (
        f"{verdict}; at {STILL_LEARNING_NATS} it warns on {len(warned)} of {len(cells)} cells, "
        f"{below} of them with `bn.fit`'s NLL below the softmax's."
    )


if __name__ == "__main__":
    print("\n".join(tuning()), "\n")
    print("\n".join(confirming()), "\n")
    print("\n".join(confirming(REDONE)), "\n")
    print(rechosen())
