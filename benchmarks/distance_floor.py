"""How many inputs fall beyond each draw's floor: training digits (by construction about
1 - ``level`` of them), test digits (flattened for nothing) and far inputs, for one
(data set, architecture, seed) cell of the battery, with the floor read off the training
examples' own distances (``folds=1``, the default) and out of fold (``folds=5``).

    python benchmarks/distance_floor.py --data digits --arch torch_mnist_bn --seed 0

An input is beyond a draw's floor when the distance changes that draw's probabilities
(by more than 1e-6); the share is over inputs and 50 draws. Also the test NLL and ECE, and
the noise and inverted digits' AUROC (predictive entropy), with and without the distance.
"""

from __future__ import annotations

from battery import one_cell

import bayesnet as bn
from bayesnet.evaluate import metrics
from bayesnet.evaluate.shift import invert, noise_like


def main() -> None:
    cell, test = one_cell(__doc__.splitlines()[0], "digits", 20)
    alone = bn.fit(cell.net, cell.loader(), epochs=cell.epochs, distance=False, **cell.common)
    x, y = test.tensors
    inputs = {
        "train": cell.train.tensors[0][:1000],
        "test": x,
        "noise": noise_like(x, seed=cell.seed),
        "inverted": invert(x, 1.0),
    }
    draws = alone.sample_params(50)
    plain = {name: alone.predict(v, draws=draws) for name, v in inputs.items()}
    print(
        f"without: test NLL {metrics.nll(plain['test'], y):.4f} "
        f"ECE {metrics.ece(plain['test'], y):.4f}"
    )
    for folds in (1, 5):
        post = bn.distance_aware(alone, cell.loader(), folds=folds)
        aware = {**draws, **post.distance.statistics(post.net, draws)}
        probs = {name: post.predict(v, draws=aware) for name, v in inputs.items()}
        beyond = {
            name: float(((probs[name] - plain[name]).abs().amax(-1) > 1e-6).float().mean())
            for name in inputs
        }
        h_test = metrics.predictive_entropy(probs["test"])
        auroc = {
            name: metrics.ood_auroc(h_test, metrics.predictive_entropy(probs[name]))
            for name in ("noise", "inverted")
        }
        print(
            f"folds {folds}: beyond the floor "
            + ", ".join(f"{k} {v:.3f}" for k, v in beyond.items())
            + f"; test NLL {metrics.nll(probs['test'], y):.4f} "
            f"ECE {metrics.ece(probs['test'], y):.4f}; AUROC "
            + ", ".join(f"{k} {v:.4f}" for k, v in auroc.items())
        )


if __name__ == "__main__":
    main()
