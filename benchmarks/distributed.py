"""Data-parallel SVI on this machine: one process against two gloo processes (torchrun,
loopback), the zoo digits CNN with fit_svi's defaults, examples per second and the
training NLL from each run's JSON-lines log.

    python benchmarks/distributed.py [--epochs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CONFIG = """[data]
name = "digits"
batch_size = {batch}

[svi]
epochs = {epochs}

[output]
dir = "{out}"
log_every = 1
"""


def run(processes: int, epochs: int, root: Path) -> dict[str, float]:
    out = root / f"run{processes}"
    config = root / f"c{processes}.toml"
    # the same global batch of 64: 64 in one process, 32 on each of two
    config.write_text(CONFIG.format(batch=64 // processes, epochs=epochs, out=out))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += [f"--nproc-per-node={processes}", "-m", "bayesnet", "train", str(config)]
    env_threads = {"OMP_NUM_THREADS": str(2 // processes)}
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, **env_threads})
    records = [json.loads(line) for line in (out / "train_log.jsonl").open()]
    svi = [r for r in records if r["phase"] == "svi"]
    return {
        "examples_per_s": statistics.median(r["examples_per_s"] * processes for r in svi[1:]),
        "final_nll": svi[-1]["nll"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        results = {k: run(k, args.epochs, Path(root)) for k in (1, 2)}
    print("| processes | examples/s (all ranks) | training NLL after the last epoch |")
    print("|---|---|---|")
    for k, r in results.items():
        print(f"| {k} | {r['examples_per_s']:.0f} | {r['final_nll']:.3f} |")


if __name__ == "__main__":
    main()
