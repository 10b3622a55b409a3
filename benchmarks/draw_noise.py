"""How much a cell's columns move with the draws alone: one fit of ``--method`` on a
battery cell, then ``predict(x, --draws)`` of the test digits with fresh draws under each
of ``--draw-seeds`` seeds (the fit, its kept statistics and the test set fixed). A
difference between two runs smaller than this spread says nothing about the fits.

    python benchmarks/draw_noise.py --data digits --arch resnet8 --seed 0
"""

from __future__ import annotations

import argparse

import torch
from battery import METHODS, Cell, split

from bayesnet.evaluate import metrics


def spread(
    data: str, arch: str, seed: int, method: str, draws: int, seeds: int, epochs: int = 20
) -> dict:
    """Per draw seed, the test digits' accuracy, NLL and ECE."""
    train, val, test = split(data, seed)
    post = METHODS[method](Cell(arch, seed, train, val, epochs, 10))
    x, y = test.tensors
    found = {"accuracy": [], "nll": [], "ece": []}
    for k in range(seeds):
        post.cached = {}  # fresh draws, their statistics estimated again
        torch.manual_seed(k)
        probs = post.predict(x, draws)
        for name, values in found.items():
            values.append(getattr(metrics, name)(probs, y))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--arch", default="resnet8")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--method", default="recommended", choices=METHODS)
    parser.add_argument("--draws", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--draw-seeds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    found = spread(
        args.data, args.arch, args.seed, args.method, args.draws, args.draw_seeds, args.epochs
    )
    print("| data | arch | seed | method | draws x seeds | " + " | ".join(found) + " |")
    print("|---|---|---|---|---|" + "---|" * len(found))
    cols = [f"{min(v):.4f}-{max(v):.4f}" for v in found.values()]
    print(
        f"| {args.data} | {args.arch} | {args.seed} | {args.method} | "
        f"{args.draws} x {args.draw_seeds} | " + " | ".join(cols) + " |"
    )


if __name__ == "__main__":
    main()
