"""Data-parallel SVI on this machine: one process against two gloo processes (torchrun,
loopback), the zoo digits CNN with fit_svi's defaults, examples per second and the
training NLL from each run's JSON-lines log: on the digits (batch 64), and on a larger
synthetic data set (20,000 digit-shaped images in an .npz, batch 512) where each step
has more work to share.

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

import numpy as np

CONFIG = """[data]
name = "{data}"
batch_size = {batch}

[svi]
epochs = {epochs}

[output]
dir = "{out}"
log_every = 1
"""


def run(processes: int, epochs: int, root: Path, data: str, batch: int) -> dict[str, float]:
    root.mkdir(parents=True, exist_ok=True)
    out = root / f"run{processes}"
    config = root / f"c{processes}.toml"
    # the same global batch: all of it in one process, half on each of two
    config.write_text(CONFIG.format(data=data, batch=batch // processes, epochs=epochs, out=out))
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
    print("| data | processes | examples/s (all ranks) | training NLL after the last epoch |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as root:
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (20_000, 1, 8, 8)).astype(np.uint8)
        y = rng.integers(0, 10, 20_000)
        np.savez(Path(root) / "big.npz", x_train=x, y_train=y, x_test=x[:100], y_test=y[:100])
        for label, data, batch, epochs in (
            ("digits, batch 64", "digits", 64, args.epochs),
            ("synthetic 20,000, batch 512", f"npz:{Path(root) / 'big.npz'}", 512, 3),
        ):
            for k in (1, 2):
                r = run(k, epochs, Path(root) / label.split(",")[0], data, batch)
                print(f"| {label} | {k} | {r['examples_per_s']:.0f} | {r['final_nll']:.3f} |")


if __name__ == "__main__":
    main()
