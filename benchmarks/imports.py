"""Import time: ``import bayesnet`` and ``bayesnet --help`` against ``import torch, pyro``.

    python benchmarks/imports.py [--repeats 15]

Each command runs in a fresh interpreter, interleaved round by round (the machine's speed
drifts); the table gives medians and the difference to the floor. Target: at most 0.3 s
above torch + Pyro, and nothing written to stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "torch_pyro": "import torch, pyro",
    "bayesnet": "import bayesnet",
    "cli_help": "import sys; from bayesnet.cli import main; sys.argv[1:] = ['--help']; main()",
}


def run(code: str) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return time.perf_counter() - start, out.stderr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    times: dict[str, list[float]] = {k: [] for k in COMMANDS}
    stderr: dict[str, str] = {}
    for _ in range(args.repeats + 1):  # the first round warms the file cache
        for name, code in COMMANDS.items():
            seconds, err = run(code)
            times[name].append(seconds)
            stderr[name] = err
    result = {}
    floor = times["torch_pyro"][1:]
    for name, values in times.items():
        values = values[1:]
        result[f"{name}_s"] = statistics.median(values)
        result[f"{name}_minus_torch_pyro_s"] = statistics.median(
            a - b for a, b in zip(values, floor, strict=True)
        )
        result[f"{name}_stderr"] = stderr[name]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
