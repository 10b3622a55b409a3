"""What a prior says before any data: functions drawn from it.

    python examples/prior_predictive.py [--quick]

A narrow fan-in prior gives near-uniform class probabilities; a wide N(0, 1) prior gives
random networks that are each very confident, about different classes.
"""

import argparse

import torch

import bayesnet as bn

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()
samples = 10 if args.quick else 200

torch.manual_seed(0)
_, test = bn.data.digits()
x = test.tensors[0][:100]
for prior in (
    bn.priors.FanIn(1.0),
    bn.priors.FanIn(2.0),
    bn.priors.Normal(1.0),
    bn.priors.Laplace(0.5),
):
    # every layer drawn from the prior (by default the convolutions are point estimates)
    net = bn.bayesianize(bn.zoo.digits_cnn(), prior=prior, stochastic="all")
    model = bn.Classifier(net, num_data=1)
    probs = bn.Posterior.from_prior(model).predict(x, num_samples=samples)
    conf = probs.max(-1).values.mean().item()
    mi = bn.evaluate.metrics.mutual_information(probs).mean().item()
    print(f"{prior!r:<28} mean max-probability per draw {conf:.3f}   mutual information {mi:.3f}")
