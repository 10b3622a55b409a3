"""fit_svi's defaults, decided on the 8x8 digits: fit_svi with nothing set against the
softmax of the same network, several starts mixed into one posterior, what a collapsed fit looks like
(and says), and temperature="auto".

    python examples/defaults_beat_the_softmax.py [--quick]
"""

import argparse
import warnings

import torch

import bayesnet as bn
from bayesnet.evaluate import metrics
from bayesnet.evaluate.shift import noise_like

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()
epochs = 3 if args.quick else 30

train, test = bn.data.digits()
x, y = test.tensors
loader = bn.data.to_loader(train, seed=0)
noise = noise_like(x)


def report(name, post):
    p, q = post.predict(x), post.predict(noise)
    entropy = metrics.predictive_entropy
    print(
        f"{name:<24} accuracy {metrics.accuracy(p, y):.3f}  NLL {metrics.nll(p, y):.3f}  "
        f"ECE {metrics.ece(p, y):.3f}  AUROC noise {metrics.ood_auroc(entropy(p), entropy(q)):.3f}"
    )


torch.manual_seed(0)
net = bn.zoo.digits_cnn()
report("softmax", bn.baselines.point_estimate(net, loader, epochs=epochs, progress=False))

# Nothing set but the epochs: the linear layers Bayesian (the convolutions point estimates),
# a MAP warm start, then mean-field SVI tempered to T = 0.01.
post = bn.fit_svi(
    bn.Classifier(bn.bayesianize(net), num_data=len(train)), loader, epochs=epochs, progress=False
)
report("SVI, defaults", post)

# Four independent fits (each from fresh initial weights, so each finds its own mode),
# mixed with equal weights: four times the cost, a lower NLL and better noise detection
# than one start (benchmarks/RESULTS.md).
mixed = bn.fit_svi(
    bn.Classifier(bn.bayesianize(net), num_data=len(train)),
    loader,
    epochs=epochs,
    starts=4,
    progress=False,
    seed=0,
)
report("SVI, 4 starts", mixed)

# The textbook recipe (and this package's defaults before they were measured): every
# weight Bayesian under a fan-in prior, untempered, from the random network. The KL of 38k
# weights outweighs what 1,437 images can say: the posterior is the prior, and fit_svi
# says so.
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", bn.CollapseWarning)
    untempered = bn.fit_svi(
        bn.Classifier(
            bn.bayesianize(net, prior=bn.priors.FanIn(), stochastic="all"), num_data=len(train)
        ),
        loader,
        epochs=epochs,
        init="point_estimate",
        temperature=1.0,
        lr=1e-3,
        lr_decay=1.0,
        progress=False,
    )
report("SVI, untempered", untempered)
for w in caught:
    print("CollapseWarning:", str(w.message)[:160], "...")
print("info['collapsed']:", untempered.info["collapsed"])

# temperature="auto": five candidate temperatures scored by NLL on a held-out 10%.
auto = bn.fit_svi(
    bn.Classifier(bn.bayesianize(net), num_data=len(train)),
    loader,
    epochs=epochs,
    temperature="auto",
    progress=False,
)
report(f"SVI, T = {auto.info['temperature']} (auto)", auto)
print(
    "validation NLL by temperature:",
    {t: round(v, 4) for t, v in auto.info["temperature_scores"].items()},
)
