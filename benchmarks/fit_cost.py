"""What the recommended fit costs: ``bn.fit`` with its defaults, and the deep ensemble of
five, against the softmax point estimate of the same network for the same epochs, the
fits interleaved in one process so that the machine's drift hits all alike; CPU seconds,
the median ratio over ``--repeats`` rounds (the order rotates each round).

    python benchmarks/fit_cost.py [--data digits mnist5k] [--archs bn_cnn cnn lenet5 resnet8]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import bayesnet as bn

DATA = {"mnist5k": bn.data.mnist5k, "digits": bn.data.digits}
FITS = {
    "softmax": bn.baselines.point_estimate,
    "bn.fit": bn.fit,
    "deep ensemble": bn.baselines.deep_ensemble,
}


def _cpu_seconds(fit, *args, **kwargs) -> float:
    start = time.process_time()
    fit(*args, **kwargs)
    return time.process_time() - start


def ratios(data: str, arch: str, epochs: int, repeats: int) -> dict[str, list[float]]:
    """Per round, each fit's CPU seconds over the softmax's of that round; and the
    softmax's seconds themselves."""
    train, _ = DATA[data](seed=0)
    torch.manual_seed(0)
    net = bn.zoo.build(arch, 10, tuple(train.tensors[0].shape[1:]))
    common = {"epochs": epochs, "progress": False, "seed": 0}
    names = list(FITS)
    found: dict[str, list[float]] = {name: [] for name in names}
    for k in range(repeats):
        order = names[k % len(names) :] + names[: k % len(names)]
        seconds = {
            name: _cpu_seconds(FITS[name], net, bn.data.to_loader(train, 64, seed=k), **common)
            for name in order
        }
        for name in names:
            found[name].append(seconds[name] / seconds["softmax"])
        found["softmax"][-1] = seconds["softmax"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["digits"], choices=list(DATA))
    parser.add_argument("--archs", nargs="+", default=["bn_cnn", "cnn", "lenet5", "resnet8"])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        "| data | arch | epochs | softmax CPU s (median) | bn.fit / softmax (median, range) "
        "| deep ensemble / softmax (median, range) |"
    )
    print("|---|---|---|---|---|---|")
    for data in args.data:
        for arch in args.archs:
            r = ratios(data, arch, args.epochs, args.repeats)
            cols = [
                f"{statistics.median(r[n]):.2f} ({min(r[n]):.2f}-{max(r[n]):.2f})"
                for n in ("bn.fit", "deep ensemble")
            ]
            print(
                f"| {data} | {arch} | {args.epochs} | {statistics.median(r['softmax']):.1f} | "
                + " | ".join(cols)
                + " |",
                flush=True,
            )


if __name__ == "__main__":
    main()
