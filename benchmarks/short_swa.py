"""Why ``bn.fit`` is underconfident on PyTorch's MNIST example after a short run: its
mixture, and each variant of the SWAG fit, on one (data set, architecture, seed) cell of
the battery, against the softmax of the same network trained as long.

    python benchmarks/short_swa.py --data mnist1500 --arch torch_mnist_bn --seed 0 --epochs 6

Prints accuracy, NLL, ECE and the mean top-class probability on the test digits (20 draws)
for ``bn.fit(..., distance=False)`` with its defaults and with each variant: ``scale=0``
(each start's SWA mean alone), ``swa_lr=2e-3`` (collected at the training's rate),
both, and ``collect_from=0.75``; then the softmax.
"""

from __future__ import annotations

import torch
from battery import one_cell

import bayesnet as bn
from bayesnet.evaluate import metrics

VARIANTS = (
    {},
    {"scale": 0.0},
    {"swa_lr": 2e-3},
    {"swa_lr": 2e-3, "scale": 0.0},
    {"collect_from": 0.75},
)


def line(name: str, probs: torch.Tensor, labels: torch.Tensor) -> str:
    return (
        f"{name}: acc {metrics.accuracy(probs, labels):.4f} NLL {metrics.nll(probs, labels):.4f} "
        f"ECE {metrics.ece(probs, labels):.4f} "
        f"confidence {metrics.max_probability(probs).mean():.4f}"
    )


def main() -> None:
    cell, test = one_cell(__doc__.splitlines()[0], "mnist1500", 6)
    x, y = test.tensors
    for options in VARIANTS:
        post = bn.fit(
            cell.net, cell.loader(), epochs=cell.epochs, distance=False, **options, **cell.common
        )
        print(line(f"bn.fit {options or 'defaults'}", post.predict(x, 20), y), flush=True)
    soft = bn.baselines.point_estimate(cell.net, cell.loader(), epochs=cell.epochs, **cell.common)
    print(line("softmax", soft.predict(x), y))


if __name__ == "__main__":
    main()
