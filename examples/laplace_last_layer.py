"""A last-layer Laplace posterior around a trained softmax, in seconds.

    python examples/laplace_last_layer.py [--quick]

Train the zoo digits CNN the usual way (``bn.baselines.point_estimate``), then turn it into
a posterior with ``bn.fit_laplace`` (laplace-torch: the last layer, K-FAC curvature, the
prior precision that maximises the marginal likelihood). Its draws lower the confidence on
noise images far more than on digits, so entropy separates the two better; on the digits
themselves it is less confident than it should be (its NLL and ECE are higher than the
softmax's: benchmarks/RESULTS.md, "Laplace"). Needs the laplace extra: ``pip install "bayesnet[laplace]"``.
"""

import argparse

import torch

import bayesnet as bn
from bayesnet.evaluate import metrics

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()

torch.manual_seed(0)
train, test = bn.data.digits()
x, y = test.tensors
loader = bn.data.to_loader(train, 64, seed=0)
softmax = bn.baselines.point_estimate(bn.zoo.digits_cnn(), loader, epochs=3 if args.quick else 30)
post = bn.fit_laplace(softmax, loader)
info = post.info
print(
    f"Laplace over {info['num_params']} weights of layer {info['last_layer']!r}, prior "
    f"precision {info['prior_precision']:.3g} (marginal likelihood), {info['seconds']:.1f} s"
)

noise = bn.evaluate.shift.noise_like(x, seed=0)
for name, p in (("softmax", softmax), ("last-layer Laplace", post)):
    near, far = p.predict(x), p.predict(noise)
    auroc = metrics.ood_auroc(metrics.predictive_entropy(near), metrics.predictive_entropy(far))
    print(
        f"{name:19s} accuracy {metrics.accuracy(near, y):.3f}  NLL {metrics.nll(near, y):.3f}  "
        f"ECE {metrics.ece(near, y):.3f}  mean confidence on noise "
        f"{metrics.max_probability(far).mean():.3f}  noise AUROC {auroc:.3f}"
    )
