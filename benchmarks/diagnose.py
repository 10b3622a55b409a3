"""How long ``bayesnet diagnose RUN_DIR`` takes on a quick run's posterior, as a user runs
it (a fresh process, imports included): the run directory of ``bayesnet compare --quick``
with its default methods, and of one with HMC (``--methods softmax,hmc``); wall seconds,
the median over ``--repeats`` runs. Target: under 10 s.

    python benchmarks/diagnose.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = {"default methods": [], "softmax,hmc": ["--methods", "softmax,hmc"]}


def _bayesnet(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "bayesnet", *args], check=True, capture_output=True)


def seconds(run_dir: Path, repeats: int, *flags: str) -> list[float]:
    """Wall seconds of ``repeats`` fresh ``bayesnet diagnose`` processes on ``run_dir``."""
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        _bayesnet("diagnose", str(run_dir), *flags)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| quick run | posterior.nc (MB) | diagnose s (median, range) | with --weights s |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, methods in RUNS.items():
            run_dir = Path(tmp) / name.replace(",", "_").replace(" ", "_")
            _bayesnet("compare", "--quick", "--no-progress", "--out", str(run_dir), *methods)
            size = (run_dir / "posterior.nc").stat().st_size / 2**20
            plain = seconds(run_dir, args.repeats)
            weights = seconds(run_dir, 1, "--weights")
            print(
                f"| {name} | {size:.1f} | {statistics.median(plain):.1f} "
                f"({min(plain):.1f}-{max(plain):.1f}) | {weights[0]:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
