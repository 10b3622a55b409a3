"""What ``bn.fit`` costs against the deep ensemble it replaces: the same network, the same
data, the same epochs, the two fits interleaved in one process so that the machine's drift
hits both alike; CPU seconds, the median ratio over ``--repeats`` pairs.

    python benchmarks/fit_cost.py [--data digits mnist5k] [--archs bn_cnn cnn lenet5 resnet8]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import bayesnet as bn

DATA = {"mnist5k": bn.data.mnist5k, "digits": bn.data.digits}


def _cpu_seconds(fit, *args, **kwargs) -> float:
    start = time.process_time()
    fit(*args, **kwargs)
    return time.process_time() - start


def ratios(data: str, arch: str, epochs: int, repeats: int) -> tuple[list[float], float]:
    """``bn.fit`` / ``deep_ensemble`` CPU seconds per interleaved pair, and the ensemble's
    median seconds."""
    train, _ = DATA[data](seed=0)
    torch.manual_seed(0)
    net = bn.zoo.build(arch, 10, tuple(train.tensors[0].shape[1:]))
    common = {"epochs": epochs, "progress": False, "seed": 0}
    pairs, ensemble = [], []
    for k in range(repeats):
        loader = bn.data.to_loader(train, 64, seed=k)
        first, second = (
            (bn.baselines.deep_ensemble, bn.fit)
            if k % 2 == 0
            else (bn.fit, bn.baselines.deep_ensemble)
        )
        a = _cpu_seconds(first, net, loader, **common)
        b = _cpu_seconds(second, net, loader, **common)
        ens, ours = (a, b) if first is bn.baselines.deep_ensemble else (b, a)
        pairs.append(ours / ens)
        ensemble.append(ens)
    return pairs, statistics.median(ensemble)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["digits"], choices=list(DATA))
    parser.add_argument("--archs", nargs="+", default=["bn_cnn", "cnn", "lenet5", "resnet8"])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        "| data | arch | epochs | deep ensemble CPU s (median) | bn.fit / ensemble (median) | range |"
    )
    print("|---|---|---|---|---|---|")
    for data in args.data:
        for arch in args.archs:
            pairs, ens = ratios(data, arch, args.epochs, args.repeats)
            print(
                f"| {data} | {arch} | {args.epochs} | {ens:.1f} | {statistics.median(pairs):.3f} "
                f"| {min(pairs):.3f}-{max(pairs):.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
