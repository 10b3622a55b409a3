"""Posteriors from the training loop you already have: SWAG's collector attached to your
optimiser, IVON's posterior from the ivon.IVON you train with, and Laplace after training.

    python examples/your_training_loop.py [--quick]

A plain PyTorch loop trains a BatchNorm CNN on the 8x8 digits three times (Adam with the
SWAG collector attached; ivon.IVON; Adam alone, then Laplace around the result); each
becomes a bayesnet Posterior in one call and is compared with the plain network's softmax.
"""

import argparse

import torch
from torch import nn

import bayesnet as bn
from bayesnet.evaluate import metrics

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()
epochs = 2 if args.quick else 20

train, test = bn.data.digits()
x_test, y_test = test.tensors
loader = bn.data.to_loader(train, 64, seed=0)


def network() -> nn.Module:
    torch.manual_seed(0)
    return bn.zoo.cnn(image_size=8, batch_norm=True)


def your_loop(net, optimizer, sampled=None):
    """The loop you already have (``sampled``: IVON's weight draw around each gradient)."""
    net.train()
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            if sampled is None:
                nn.functional.cross_entropy(net(x), y).backward()
            else:
                with sampled(train=True):
                    nn.functional.cross_entropy(net(x), y).backward()
            optimizer.step()


# SWAG: attach the collector; it collects from the second half of training, 4 an epoch
net = network()
optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
swag = bn.swag.Collector(net)
steps = len(loader)
swag.attach(optimizer, start=epochs * steps // 2, every=max(1, steps // 4))
your_loop(net, optimizer)
softmax_probs = net.eval()(x_test).softmax(-1)[None]
posteriors = {"SWAG (collector)": swag.posterior(loader)}

# IVON is an optimiser: train with it, then ask for its posterior
try:
    import ivon

    net = network()
    optimizer = ivon.IVON(net.parameters(), lr=0.5, ess=len(train), beta2=0.999)
    your_loop(net, optimizer, sampled=optimizer.sampled_params)
    posteriors["IVON (optimiser)"] = bn.ivon.posterior(net, optimizer, loader)
except ImportError:
    print("ivon-opt is not installed (pip install 'bayesnet[ivon]'): skipping IVON")

# Laplace needs nothing from training: a trained network and its data
try:
    import laplace  # noqa: F401

    net = network()
    your_loop(net, torch.optim.Adam(net.parameters(), lr=1e-3))
    posteriors["Laplace (after training)"] = bn.fit_laplace(net, loader, progress=False)
except ImportError:
    print("laplace-torch is not installed (pip install 'bayesnet[laplace]'): skipping Laplace")

print(f"softmax of the plain network: test NLL {metrics.nll(softmax_probs, y_test):.3f}")
for name, post in posteriors.items():
    probs = post.predict(x_test, num_samples=30)
    print(
        f"{name}: test NLL {metrics.nll(probs, y_test):.3f}, accuracy "
        f"{metrics.accuracy(probs, y_test):.3f}"
    )
