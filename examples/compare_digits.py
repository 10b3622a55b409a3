"""Softmax point estimate vs its baselines vs the Bayesian posterior predictive, same CNN.

    python examples/compare_digits.py [--quick]

Trains on digits 0-7 (8 and 9 held out as OOD), then compares the softmax, temperature
scaling, MC dropout, a deep ensemble, the recommended posterior (``bn.fit`` with its defaults)
and an SVI BNN: calibration, OOD detection (noise,
held-out classes, fooling images made against the softmax), the rotation and blur shift
suites, FGSM and PGD. Writes compare_digits.html in the working directory.
"""

import argparse

import torch

import bayesnet as bn
from bayesnet.evaluate.attacks import fooling_images
from bayesnet.evaluate.shift import noise_like

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()
epochs = 2 if args.quick else 30

torch.manual_seed(0)
train, test = bn.data.digits()
train, _ = bn.data.held_out_classes(train, [8, 9])  # labels 0-7
test, unseen_classes = bn.data.held_out_classes(test, [8, 9])
train, val = bn.data.validation_split(train, 0.1, seed=0)
x_test, y_test = test.tensors
loader = bn.data.to_loader(train, seed=0)


def cnn():
    return bn.zoo.digits_cnn(num_classes=8)


# Every method is a Posterior: predict returns [S, N, C] (S = 1 for the softmax).
softmax = bn.baselines.point_estimate(cnn(), loader, epochs=epochs, seed=0)
methods = {
    "softmax": softmax,
    "temperature": bn.baselines.temperature_scaled(softmax, val.tensors),
    "dropout": bn.baselines.mc_dropout(cnn(), loader, p=0.1, epochs=epochs, seed=0),
    "ensemble": bn.baselines.deep_ensemble(
        cnn(), loader, members=2 if args.quick else 5, epochs=epochs
    ),
}
# The recommended posterior of the same architecture, with its defaults: two SWAG fits
# from independent starts within 1.5 trainings, mixed
methods["bn.fit"] = bn.fit(cnn(), loader, epochs=epochs, seed=0)
# The same architecture with priors over its head, fitted with fit_svi's defaults
# (a MAP warm start, then a mean-field posterior tempered to T = 0.01).
model = bn.Classifier(bn.bayesianize(cnn()), len(train))
methods["svi"] = bn.fit_svi(model, loader, epochs=epochs, seed=0)
print(
    "temperature fitted on the validation split:",
    round(methods["temperature"].info["temperature"], 3),
)

report = bn.evaluate.compare(
    methods,
    test=(x_test, y_test),
    ood={
        "noise": noise_like(x_test),
        "digits 8 and 9": unseen_classes,
        "fooling": fooling_images(
            softmax, (1, 8, 8), list(range(8)), steps=20 if args.quick else 200
        ),
    },
    shifts={"rotation": [0, 30, 60, 90], "blur": [0, 1, 2]},
    attacks={"fgsm": [0, 0.1, 0.2], "pgd": [0, 0.1]},
    num_samples=10 if args.quick else 100,
)
print(report.table("test"))
print(report.table("ood"))
report.to_html("compare_digits.html")
print("wrote compare_digits.html")
