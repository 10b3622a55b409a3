"""What the recommended fit costs: ``bn.fit`` with its defaults, and the deep ensemble of
five, against the softmax point estimate of the same network for the same epochs, the
fits interleaved in one process so that the machine's drift hits all alike; CPU seconds,
the median ratio over ``--repeats`` rounds (the order rotates each round).

    python benchmarks/fit_cost.py [--data digits mnist5k] [--archs bn_cnn cnn lenet5 resnet8]

``--train-size N`` trains on the split's first N examples (a newcomer's short run: 1,500
real digits for 6 epochs); ``--check DRAWS EXAMPLES`` adds ``bn.fit`` with its collapse
check at that size (the fit is the same; what the check predicts with is not) to the
rounds, so the check's share of a fit is measured against the same softmax.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import TensorDataset

import bayesnet as bn
from bayesnet.infer.shared import collapse

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


def with_check(draws: int, examples: int):
    """``bn.fit`` whose collapse check predicts with ``draws`` draws on ``examples``."""

    def fit(*args, **kwargs):
        kept = collapse.CHECK_DRAWS, collapse.CHECK_EXAMPLES
        collapse.CHECK_DRAWS, collapse.CHECK_EXAMPLES = draws, examples
        try:
            return bn.fit(*args, **kwargs)
        finally:
            collapse.CHECK_DRAWS, collapse.CHECK_EXAMPLES = kept

    return fit


def ratios(
    data: str, arch: str, epochs: int, repeats: int, fits: dict, size: int | None = None
) -> dict[str, list[float]]:
    """Per round, each fit's CPU seconds over the softmax's of that round; and the
    softmax's seconds themselves."""
    train, _ = DATA[data](seed=0)
    train = TensorDataset(*(t[:size] for t in train.tensors))
    torch.manual_seed(0)
    net = bn.zoo.build(arch, 10, tuple(train.tensors[0].shape[1:]))
    common = {"epochs": epochs, "progress": False, "seed": 0}
    names = list(fits)
    found: dict[str, list[float]] = {name: [] for name in names}
    for k in range(repeats):
        order = names[k % len(names) :] + names[: k % len(names)]
        seconds = {
            name: _cpu_seconds(fits[name], net, bn.data.to_loader(train, 64, seed=k), **common)
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
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--check", type=int, nargs=2, metavar=("DRAWS", "EXAMPLES"))
    parser.add_argument("--no-ensemble", action="store_true", help="leave the ensemble out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    fits = dict(FITS)
    if args.no_ensemble:
        del fits["deep ensemble"]
    if args.check:
        fits["bn.fit, check {} x {}".format(*args.check)] = with_check(*args.check)
    shown = [name for name in fits if name != "softmax"]
    print(
        "| data | arch | train | epochs | softmax CPU s (median) | "
        + " | ".join(f"{name} / softmax (median, range)" for name in shown)
        + " |"
    )
    print("|---|---|---|---|---|" + "---|" * len(shown))
    for data in args.data:
        for arch in args.archs:
            r = ratios(data, arch, args.epochs, args.repeats, fits, args.train_size)
            cols = [
                f"{statistics.median(r[n]):.2f} ({min(r[n]):.2f}-{max(r[n]):.2f})" for n in shown
            ]
            size = args.train_size or "all"
            print(
                f"| {data} | {arch} | {size} | {args.epochs} | "
                f"{statistics.median(r['softmax']):.1f} | " + " | ".join(cols) + " |",
                flush=True,
            )


if __name__ == "__main__":
    main()
