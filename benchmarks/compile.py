"""Would ``torch.compile`` make the functional SVI step faster? (issue 10, item 3)

    python benchmarks/compile.py

A 30-epoch SVI fit of the zoo CNN on the digits (``init="point_estimate"``: the SVI phase
alone) with the functional step as it is, and with its ``__call__`` wrapped in
``torch.compile`` (compile time included, as a user would pay it). Prints wall seconds,
the last epoch's loss and test accuracy for each, so the two fits can be seen to agree.
"""

from __future__ import annotations

import time
import warnings

import torch

import bayesnet as bn
import bayesnet.infer.svi.step as svi
from bayesnet.evaluate import metrics
from bayesnet.infer.svi.functional import functional_elbo


def compiled_elbo(model, guide, reparam):
    fast, why = functional_elbo(model, guide, reparam)
    return (torch.compile(fast.__call__) if fast is not None else None), why


def fit(compiled: bool) -> tuple[float, float, float]:
    train, test = bn.data.digits()
    svi.functional_elbo = compiled_elbo if compiled else functional_elbo
    torch.manual_seed(0)
    model = bn.Classifier(bn.bayesianize(bn.zoo.digits_cnn(), stochastic="all"), len(train))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dynamo's recompilation notices
        post = bn.fit_svi(
            model,
            bn.data.to_loader(train, 64, seed=0),
            epochs=30,
            init="point_estimate",
            progress=False,
            seed=0,
        )
    seconds = time.perf_counter() - start
    x, y = test.tensors
    return seconds, post.info["history"][-1]["loss"], metrics.accuracy(post.predict(x), y)


def main() -> None:
    print("| step | seconds (30 epochs) | last loss | test accuracy |")
    print("|---|---|---|---|")
    for compiled in (False, True):
        seconds, loss, accuracy = fit(compiled)
        name = "torch.compile" if compiled else "functional (eager)"
        print(f"| {name} | {seconds:.1f} | {loss:.1f} | {accuracy:.4f} |", flush=True)
    svi.functional_elbo = functional_elbo


if __name__ == "__main__":
    main()
