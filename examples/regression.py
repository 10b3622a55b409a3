"""Regression with its uncertainty split into aleatoric and epistemic parts.

    python examples/regression.py [--quick]

1. The in-between toy (Foong et al. 2019): two clusters of data and a gap between them.
   A heteroscedastic network's own noise estimate does not widen in the gap; the
   posterior's epistemic part does (the figure: regression_bands.png).
2. scikit-learn's diabetes data, standardised on a 90% training split: test RMSE, NLL,
   90% interval coverage, and whether the epistemic variance flags test inputs moved far
   along the data's first principal component.
"""

import argparse

import torch

import bayesnet as bn
from bayesnet.cli.regression import away_from_the_data
from bayesnet.evaluate import plots
from bayesnet.evaluate import regression as reg

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()
epochs = 10 if args.quick else 200


def mlp(inputs: int, outputs: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return bn.zoo.mlp(inputs, outputs, hidden=(50, 50))


# 1. in between: a mean and a scale per input (2 outputs), heteroscedastic
toy = bn.data.in_between(seed=0)
point = bn.baselines.point_estimate(
    mlp(1, 2), toy, epochs=epochs, task="heteroscedastic", seed=0, progress=False
)
post = bn.fit(mlp(1, 2), toy, epochs=epochs, task="heteroscedastic", seed=0, progress=False)
gap = torch.linspace(-0.4, 0.4, 50)[:, None]
for name, method in (("heteroscedastic point estimate", point), ("bn.fit", post)):
    split = reg.decompose(*method.predict_moments(gap, num_samples=50))
    print(
        f"{name}, in the gap: aleatoric sd {split['aleatoric'].sqrt().mean():.3f}, "
        f"epistemic sd {split['epistemic'].sqrt().mean():.3f}"
    )
figure = plots.regression_bands(
    {"point estimate": point, "bn.fit": post}, *toy.tensors, torch.linspace(-2, 2, 200)[:, None]
)
plots.save(figure, "regression_bands.png")

# 2. real data: diabetes, one standardised split
split = next(bn.data.standardized_splits(bn.data.diabetes(), 1, seed=0))
width = split.train.tensors[0].shape[1]
x, y = split.test.tensors
for name, method in (
    (
        "point estimate",
        bn.baselines.point_estimate(
            mlp(width, 1), split.train, epochs=epochs, task="regression", seed=0, progress=False
        ),
    ),
    (
        "bn.fit",
        bn.fit(
            mlp(width, 2),
            split.train,
            epochs=epochs,
            task="heteroscedastic",
            seed=0,
            progress=False,
        ),
    ),
):
    means, variances = method.predict_moments(x, num_samples=50)
    low, high = reg.intervals(means, variances, 0.9)
    inside = reg.decompose(means, variances)["epistemic"].sum(-1)
    away = reg.decompose(*method.predict_moments(away_from_the_data(x), num_samples=50))
    auroc = bn.evaluate.metrics.ood_auroc(inside, away["epistemic"].sum(-1))
    print(
        f"diabetes, {name}: RMSE {reg.rmse(means, y) * split.scale:.1f}, NLL "
        f"{reg.nll(means, variances, y) + torch.tensor(split.scale).log():.3f}, 90% coverage "
        f"{reg.coverage(low, high, y)[0]:.2f}, epistemic AUROC away from the data {auroc:.2f}"
    )
