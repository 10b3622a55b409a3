"""Several processes on this machine, one process against two gloo processes (torchrun,
loopback):

1. the recommended fit, `bn.fit` (its two starts spread over the processes), on the
   real 28x28 digits with the BatchNorm CNN: wall-clock seconds, and whether the two
   processes' posterior equals the one process's (the same test predictions);
2. data-parallel SVI, the zoo digits CNN with fit_svi's defaults, examples per second and
   the training NLL from each run's JSON-lines log: on the digits (batch 64), and on a
   larger synthetic data set (20,000 digit-shaped images in an .npz, batch 512).

    python benchmarks/distributed.py [--epochs 10] [--fit-epochs 20]
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
import torch

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


FIT = """
import sys, time, torch, bayesnet as bn
distributed = sys.argv[1] == "1"
epochs = int(sys.argv[2])
torch.set_num_threads(int(sys.argv[4]))
train, test = bn.data.mnist5k(seed=0)
torch.manual_seed(0)
net = bn.zoo.build("bn_cnn", 10, (1, 28, 28))
start = time.perf_counter()
run = bn.Run(distributed=distributed, seed=0, progress=False)
post = bn.fit(net, bn.data.to_loader(train, 64, seed=0), epochs=epochs, run=run)
seconds = time.perf_counter() - start
torch.manual_seed(1)
probs = post.predict(test.tensors[0][:200], num_samples=6)
if not distributed or torch.distributed.get_rank() == 0:
    torch.save({"seconds": seconds, "probs": probs}, sys.argv[3])
"""


def fit_across_processes(epochs: int, root: Path) -> None:
    """``bn.fit`` in one process (two threads) and spread over two (one thread each); and
    in one process with one thread, the arithmetic of each rank, whose predictions the two
    processes' must equal (a different thread count sums in another order: the two-thread
    run's trajectories drift apart from the others' within a few epochs)."""
    script = root / "fit.py"
    script.write_text(FIT)
    found = {}
    for name, processes, threads in (("1", 1, 2), ("2", 2, 1), ("1, one thread", 1, 1)):
        out = root / f"fit{processes}_{threads}.pt"
        if processes == 1:
            command = [sys.executable, str(script), "0"]
        else:
            command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
            command += ["--nproc-per-node=2", str(script), "1"]
        subprocess.run(
            command + [str(epochs), str(out), str(threads)], check=True, capture_output=True
        )
        found[name] = torch.load(out, weights_only=True)
    print("| bn.fit (2 starts), real digits, bn_cnn | processes | wall-clock s | speed-up |")
    print("|---|---|---|---|")
    for name, run in found.items():
        ratio = found["1"]["seconds"] / run["seconds"]
        print(f"| {epochs} epochs | {name} | {run['seconds']:.1f} | {ratio:.2f} |")
    for name in ("1", "1, one thread"):
        gap = (found["2"]["probs"] - found[name]["probs"]).abs().max().item()
        print(f"\nlargest difference of the two processes' predictions from {name}: {gap:.2g}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--fit-epochs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        fit_across_processes(args.fit_epochs, Path(root))
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
