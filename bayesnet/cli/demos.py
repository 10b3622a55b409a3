"""The two demonstrations the report shows beside the main comparison, each trained from
scratch: a 2-D toy problem (far from the data) and per-pixel segmentation of digit scenes.

Each returns the fitted methods, a figure (PNG bytes) and tidy rows for the report.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import TensorDataset

from .. import data, priors, zoo
from ..evaluate import metrics, plots
from ..evaluate.pixel import flatten_pixels, pixel_figure, pixel_metrics
from ..evaluate.toy import far_confidence, toy_figure
from ..infer import CollapseWarning, baselines, fit_hmc, fit_svi
from ..models import Classifier
from ..nn import bayesianize
from ..posterior import Posterior

__all__ = ["Demo", "toy_demo", "segmentation_demo"]


@dataclass
class Demo:
    methods: dict[str, Posterior]
    figure: bytes
    rows: list[dict[str, Any]] = field(default_factory=list)
    #: what the figure's reader must know (a fit that collapsed)
    note: str = ""


def _bnn(point: Posterior, num_data: int, scale: float) -> Classifier:
    """A Bayesian copy of the point estimate's network (started at its weights)."""
    return Classifier(bayesianize(point.net, prior=priors.Normal(scale)), num_data=num_data)


def toy_demo(seed: int = 0, quick: bool = False, hmc: bool = True, progress: bool = False) -> Demo:
    """Two moons, a 2-16-16-2 ReLU network: softmax point estimate, SVI and (optionally)
    NUTS. Rows give each method's mean confidence ten times farther out than any
    training point, and its accuracy on fresh moons."""
    torch.manual_seed(seed)
    train, test = data.two_moons(200, seed=seed), data.two_moons(500, seed=seed + 1000)
    x, y = train.tensors
    epochs = 30 if quick else 300
    loader = data.to_loader(train, 50, seed=seed)
    common = {"progress": progress, "seed": seed, "device": "cpu"}
    point = baselines.point_estimate(
        zoo.mlp(2, 2, (16, 16)), loader, epochs=epochs, lr=1e-2, **common
    )
    methods = {"softmax": point}
    # 386 weights and 200 points: the untempered posterior is not the prior here, and it is
    # the one whose far-from-the-data behaviour HMC's can be set beside.
    methods["svi"] = fit_svi(
        _bnn(point, len(x), 1.0),
        loader,
        epochs=epochs,
        init="point_estimate",
        temperature=1.0,
        lr_decay=1.0,
        **common,
    )
    if hmc:
        draws = 20 if quick else 100
        methods["hmc"] = fit_hmc(
            _bnn(point, len(x), 1.0),
            (x, y),
            num_samples=draws,
            # 20 warm-up steps left the step size unadapted: every draw diverged
            warmup=40 if quick else draws,
            max_tree_depth=4 if quick else 6,
            **common,
        )
    rows = [
        {
            "method": name,
            "kind": "toy",
            "condition": "two moons, 10x farther out",
            "severity": None,
            "accuracy": metrics.accuracy(post.predict(test.tensors[0], None), test.tensors[1]),
            "confidence": far_confidence(post, x),
        }
        for name, post in methods.items()
    ]
    return Demo(methods, plots.png(toy_figure(methods, (x, y))), rows)


def segmentation_demo(
    train: TensorDataset,
    test: TensorDataset,
    seed: int = 0,
    quick: bool = False,
    num_samples: int = 50,
    progress: bool = False,
) -> Demo:
    """A Bayesian FCN (``zoo.fcn``) on digit scenes against its softmax point estimate.
    Rows: pixel accuracy, NLL and ECE on clean test scenes, and on scenes with unfamiliar
    objects pasted in, the mean confidence and mutual information on those objects'
    pixels against the digits' pixels."""
    torch.manual_seed(seed)
    scenes = data.digit_scenes(train, 60 if quick else 400, seed=seed)
    clean = data.digit_scenes(test, 20 if quick else 100, seed=seed + 1)
    odd = data.digit_scenes(test, 4 if quick else 60, unfamiliar=2, seed=seed + 2)
    loader = data.to_loader(scenes.dataset(), 32, seed=seed)
    common = {"progress": progress, "seed": seed}
    epochs = 2 if quick else 40
    point = baselines.point_estimate(zoo.fcn(width=64), loader, epochs=epochs, lr=3e-3, **common)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CollapseWarning)
        bnn = fit_svi(
            _bnn(point, len(scenes.images), 1.0),
            loader,
            epochs=2 if quick else 10,
            init="point_estimate",
            temperature=0.1,
            lr_decay=1.0,
            **common,
        )
    note = ""
    if any(issubclass(w.category, CollapseWarning) for w in caught):
        note = (
            "The per-pixel demo's Bayesian FCN collapsed (its posterior ignores the data"
            + (", as a --quick run's two epochs leave it" if quick else "")
            + "): its maps below show a prior's uncertainty, not a fitted posterior's."
        )
        warnings.warn(f"per-pixel demo: {note}", CollapseWarning, stacklevel=2)
    methods = {"softmax": point, "svi": bnn}
    rows = []
    for name, post in methods.items():
        p_clean = post.predict(clean.images, num_samples=num_samples).cpu()
        p_odd = flatten_pixels(post.predict(odd.images, num_samples=num_samples).cpu())
        unfamiliar, digit = odd.unfamiliar.flatten(), odd.labels.flatten() < data.scenes.BACKGROUND
        conf, mi = metrics.max_probability(p_odd), metrics.mutual_information(p_odd)
        rows.append(
            {
                "method": name,
                "kind": "pixel",
                "condition": "digit scenes",
                "severity": None,
                **pixel_metrics(p_clean, clean.labels),
                "confidence_unfamiliar": conf[unfamiliar].mean().item(),
                "confidence_digits": conf[digit].mean().item(),
                "mi_unfamiliar": mi[unfamiliar].mean().item(),
                "mi_digits": mi[digit].mean().item(),
            }
        )
    figure = pixel_figure(
        point, bnn, odd.images[:3], outline=odd.unfamiliar[:3], num_samples=num_samples
    )
    return Demo(methods, plots.png(figure), rows, note)
