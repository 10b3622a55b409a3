"""SVI against an exact posterior: Bayesian linear regression with known noise.

    python examples/conjugate_regression.py [--quick]

The full-rank guide recovers the exact posterior covariance; the mean-field guide
recovers the mean and the known mean-field variances 1 / diag(precision), smaller than
the true marginals.
"""

import argparse

import torch
from torch.utils.data import DataLoader, TensorDataset

import bayesnet as bn

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()
epochs = 100 if args.quick else 1000

torch.manual_seed(0)
n, sigma, prior_scale = 40, 0.5, 1.0
x = torch.randn(n, 3)
y = (x @ torch.tensor([1.0, -2.0, 0.5]) + sigma * torch.randn(n))[:, None]

precision = torch.eye(3) / prior_scale**2 + x.T @ x / sigma**2
cov = torch.linalg.inv(precision)
mean = cov @ x.T @ y[:, 0] / sigma**2

for guide in (bn.infer.FullRank(init_scale=0.1), bn.infer.MeanField(init_scale=0.1)):
    net = bn.nn.BayesLinear(3, 1, bias=False, prior=bn.priors.Normal(prior_scale))
    model = bn.Regressor(net, num_data=n, noise=sigma)
    loader = DataLoader(TensorDataset(x, y), batch_size=n)
    post = bn.fit_svi(
        model,
        loader,
        epochs=epochs,
        guide=guide,
        init="point_estimate",  # exact Bayes: untempered, no warm start needed
        temperature=1.0,
        lr=5e-2,
        lr_decay=0.01,
        progress=False,
    )
    draws = post.sample_params(20000)["weight"].reshape(20000, 3)
    print(f"{guide.name}: mean error {(draws.mean(0) - mean).abs().max():.4f}")
    print("  variances  ", draws.var(0).numpy().round(5))
print("exact marginal variances ", cov.diag().numpy().round(5))
print("mean-field optimum       ", (1 / precision.diag()).numpy().round(5))
