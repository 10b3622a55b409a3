"""NUTS on a small Bayesian CNN, two chains, and its diagnostics in ArviZ.

    python examples/hmc_diagnostics.py [--quick]

Shows why weight-space R-hat is the wrong check for networks: chains that agree on
every prediction (function-space R-hat near 1) can disagree on the weights.
"""

import argparse

import arviz as az
import matplotlib
import torch
from torch import nn

import bayesnet as bn

matplotlib.use("Agg")
parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()
warmup, draws = (10, 10) if args.quick else (150, 150)

torch.manual_seed(0)
train, test = bn.data.digits()
x, y = (t[:200] for t in train.tensors)
xt, yt = (t[:100] for t in test.tensors)
net = nn.Sequential(
    nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10)
)
# HMC moves the Bayesian layers only: make every layer Bayesian (the default keeps the
# convolution as a point estimate, which suits SVI)
model = bn.Classifier(
    bn.bayesianize(net, prior=bn.priors.Normal(1.0), stochastic="all"), num_data=len(x)
)

post = bn.fit_hmc(
    model, (x, y), num_samples=draws, warmup=warmup, num_chains=2, max_tree_depth=6, seed=0
)
idata = post.to_arviz(xt, yt)
print(idata)
print(bn.diagnostics.summary(idata))
print(az.loo(idata))
az.plot_trace(idata, var_names=["4.bias"], coords={"4.bias_dim_0": [0, 1, 2]})
matplotlib.pyplot.savefig("hmc_trace.png")
az.plot_energy(idata)
matplotlib.pyplot.savefig("hmc_energy.png")
idata.to_netcdf("hmc_posterior.nc")
print("wrote hmc_trace.png, hmc_energy.png, hmc_posterior.nc")
