"""Bayesian layers inside your own nn.Module, local reparameterization, and a
checkpointed run that is interrupted and resumed.

    python examples/custom_network.py [--quick]
"""

import argparse
import tempfile

import torch
from torch import nn

import bayesnet as bn

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()
epochs = 2 if args.quick else 20


class Net(nn.Module):
    """Bayesian convolutions and head; the BatchNorm stays a learned point estimate."""

    def __init__(self):
        super().__init__()
        self.conv1 = bn.nn.BayesConv2d(1, 8, 3, padding=1, prior=bn.priors.Normal(1.0))
        self.norm = nn.BatchNorm2d(8)
        self.conv2 = bn.nn.BayesConv2d(8, 16, 3, padding=1, prior=bn.priors.Normal(1.0))
        self.head = bn.nn.BayesLinear(16 * 4 * 4, 10, prior=bn.priors.Normal(1.0))

    def forward(self, x):
        x = torch.relu(self.norm(self.conv1(x)))
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.head(x.flatten(1))


torch.manual_seed(0)
train, test = bn.data.digits()
x_test, y_test = test.tensors
model = bn.Classifier(Net(), num_data=len(train))
print("sampled sites:", model.weight_sites)


def stop_halfway(epoch, stats, posterior):
    print(f"epoch {epoch}: nll {stats['nll']:.3f}  kl {stats['kl']:.0f}")
    return epoch == epochs // 2  # returning True stops training (as if interrupted)


with tempfile.TemporaryDirectory() as run_dir:
    # fit_svi's defaults (MAP warm start, T = 0.01), with local reparameterization;
    # the checkpoint directory holds one file per phase: map.pt and svi.pt
    guide = bn.infer.MeanField(reparam="local")
    run = bn.Run(checkpoint_dir=run_dir, seed=0, progress=False)
    bn.fit_svi(
        model,
        bn.data.to_loader(train, seed=0),
        epochs=epochs,
        guide=guide,
        run=run.replace(callbacks=[stop_halfway]),
    )
    print("resuming from", run_dir)
    posterior = bn.fit_svi(
        model,
        bn.data.to_loader(train, seed=0),
        epochs=epochs,
        guide=guide,
        run=run.replace(resume=True),
    )

probs = posterior.predict(x_test, num_samples=50)
print(
    f"accuracy {bn.evaluate.metrics.accuracy(probs, y_test):.3f}  nll {bn.evaluate.metrics.nll(probs, y_test):.3f}"
)
