"""Cyclical SGHMC on the digits: samples from several modes in the time of a few trainings.

    python examples/cyclical_sgmcmc.py [--quick]

The zoo digits CNN, ``bn.fit_sgmcmc`` with its defaults (four cosine cycles of SGHMC,
draws in the small-step end of each), against the softmax of the same network. Each cycle
is one chain: the function-space diagnostics show whether the cycles found different
modes (they should: that is what the cycles are for).
"""

import argparse

import torch

import bayesnet as bn
from bayesnet.evaluate import metrics

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()
epochs, cycles = (4, 2) if args.quick else (60, 4)

torch.manual_seed(0)
train, test = bn.data.digits()
x, y = test.tensors
loader = bn.data.to_loader(train, 64, seed=0)
net = bn.zoo.digits_cnn()
softmax = bn.baselines.point_estimate(net, loader, epochs=epochs, seed=0)
# the sampler moves the Bayesian layers only: every layer Bayesian
model = bn.Classifier(bn.bayesianize(net, stochastic="all"), num_data=len(train))
post = bn.fit_sgmcmc(model, loader, epochs=epochs, cycles=cycles, seed=0)
print(f"{post.sampler.num_draws} draws in {post.sampler.chains} cycles, thin {post.info['thin']}")

noise = bn.evaluate.shift.noise_like(x, seed=0)
for name, p in (("softmax", softmax.predict(x)), ("cyclical SGHMC", post.predict(x))):
    q = (softmax if name == "softmax" else post).predict(noise)
    auroc = metrics.ood_auroc(metrics.predictive_entropy(p), metrics.predictive_entropy(q))
    print(
        f"{name:15s} accuracy {metrics.accuracy(p, y):.3f}  NLL {metrics.nll(p, y):.3f}  "
        f"ECE {metrics.ece(p, y):.3f}  noise AUROC {auroc:.3f}"
    )
print(bn.diagnostics.summary(post, x, y).function_space)
