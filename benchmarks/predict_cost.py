"""What a prediction costs against the plain network's forward passes: ``predict(x, S)`` of
the recommended posterior of a BatchNorm CNN (each draw's statistics estimated on training
inputs) over S forward passes of the same network on the same inputs, interleaved in one
process; the first prediction (which estimates the draws' statistics) and the later ones
(which reuse them).

    python benchmarks/predict_cost.py [--data mnist5k] [--archs bn_cnn resnet8] [--draws 50]
    python benchmarks/predict_cost.py --distance   # bn.fit(distance=True): its head too
"""

from __future__ import annotations

import argparse
import statistics

import torch
from timing import interleaved, machine, median_ratio

import bayesnet as bn

DATA = {"mnist5k": bn.data.mnist5k, "digits": bn.data.digits}


def ratios(
    data: str, arch: str, draws: int, epochs: int, repeats: int, distance: bool = False
) -> dict[str, float]:
    """Median ratios over ``repeats`` interleaved rounds."""
    train, test = DATA[data](seed=0)
    x = test.tensors[0]
    torch.manual_seed(0)
    net = bn.zoo.build(arch, 10, tuple(x.shape[1:]))
    loader = bn.data.to_loader(train, 64, seed=0)
    post = bn.fit(net, loader, epochs=epochs, seed=0, progress=False, distance=distance)
    plain = post.model.deterministic_net().eval()  # the network as it is: no distance head

    @torch.no_grad()
    def floor():
        for _ in range(draws):
            plain(x).softmax(-1)

    def first():
        post.cached = {}
        post.predict(x, draws)

    times = interleaved(
        {"floor": floor, "first": first, "later": lambda: post.predict(x, draws)},
        torch.device("cpu"),
        repeats,
    )
    return {
        "floor_s": statistics.median(times["floor"]),
        "first": median_ratio(times["first"], times["floor"]),
        "later": median_ratio(times["later"], times["floor"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist5k", choices=list(DATA))
    parser.add_argument("--archs", nargs="+", default=["bn_cnn", "resnet8"])
    parser.add_argument("--draws", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--distance", action="store_true", help="bn.fit(distance=True): the distance-aware head"
    )
    args = parser.parse_args()
    print(machine(torch.device("cpu")))
    print(
        f"| data | arch | S | {args.draws} forward passes (s) | first predict / floor | later predict / floor |"
    )
    print("|---|---|---|---|---|---|")
    for arch in args.archs:
        r = ratios(args.data, arch, args.draws, args.epochs, args.repeats, args.distance)
        print(
            f"| {args.data} | {arch} | {args.draws} | {r['floor_s']:.2f} | {r['first']:.2f} "
            f"| {r['later']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
