"""The device defect class without a GPU: a tensor made without ``device=`` lands on the
CPU whatever the inputs' device, and breaks on CUDA (``adaptive_ece`` did). Every metric,
and the ELBO, runs here under a mode that records factory calls without a device."""

import pytest
import torch
from torch.overrides import TorchFunctionMode

import bayesnet as bn
from bayesnet.evaluate import conformal
from bayesnet.evaluate import metrics as m

FACTORIES = {
    torch.zeros,
    torch.ones,
    torch.empty,
    torch.full,
    torch.arange,
    torch.linspace,
    torch.logspace,
    torch.eye,
    torch.tensor,
    torch.rand,
    torch.randn,
    torch.randint,
    torch.randperm,
}


class DevicelessFactories(TorchFunctionMode):
    """Records every tensor factory called without an explicit ``device``."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in FACTORIES and kwargs.get("device") is None:
            self.calls.append(func.__name__)
        return func(*args, **kwargs)


def _inputs():
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(4, 50, 3, generator=g), -1)
    y = torch.randint(0, 3, (50,), generator=g)
    return p, y, torch.rand(30, generator=g), torch.rand(20, generator=g) + 0.3


P, Y, IN, OUT = _inputs()
CALLS = {
    "accuracy": lambda: m.accuracy(P, Y),
    "nll": lambda: m.nll(P, Y),
    "brier": lambda: m.brier(P, Y),
    "calibration_bins": lambda: m.calibration_bins(P, Y),
    "ece": lambda: m.ece(P, Y),
    "mce": lambda: m.mce(P, Y),
    "adaptive_ece": lambda: m.adaptive_ece(P, Y),
    "classwise_ece": lambda: m.classwise_ece(P, Y),
    "max_probability": lambda: m.max_probability(P),
    "predictive_entropy": lambda: m.predictive_entropy(P),
    "expected_entropy": lambda: m.expected_entropy(P),
    "mutual_information": lambda: m.mutual_information(P),
    "variation_ratio": lambda: m.variation_ratio(P),
    "ood_detection": lambda: m.ood_detection(IN, OUT),
    "risk_coverage": lambda: m.risk_coverage(P, Y, m.predictive_entropy(P)),
    "aurc": lambda: m.aurc(P, Y, m.predictive_entropy(P)),
    "agreement": lambda: m.agreement(P, P[:2]),
    "total_variation": lambda: m.total_variation(P, P[:2]),
    # the building blocks the streaming summaries share
    "bin_stats": lambda: m.bin_stats(
        IN.double(), (IN > 0.5).double(), m.equal_width_bins(IN, 5), 5
    ),
    "calibration_error": lambda: m.calibration_error(IN, IN.round(), m.equal_mass_bins(IN, 5), 5),
    "equal_width_bins": lambda: m.equal_width_bins(IN, 15),
    "equal_mass_bins": lambda: m.equal_mass_bins(IN, 15),
    "risk_from_hits": lambda: m.risk_from_hits((IN > 0.5).double(), OUT[:30].repeat(2)[:30]),
}


def test_every_metric_is_listed():
    assert set(CALLS) | {"check_probs", "predictive_mean", "ood_auroc", "ood_aupr"} | {
        "fpr_at_95_tpr",
        "SCORES",
        "CHECKED_SCORES",
        "TINY",
    } == set(m.__all__)


@pytest.mark.parametrize("name", list(CALLS))
def test_metrics_make_no_tensor_off_their_inputs_device(name):
    with DevicelessFactories() as mode:
        CALLS[name]()
    assert mode.calls == []


SET_CALLS = {
    "lac": lambda: conformal.Conformal.fit(P, Y, 0.2, ("lac",)).sets(P.mean(0), "lac"),
    "aps": lambda: conformal.Conformal.fit(P, Y, 0.2, ("aps",)).sets(P.mean(0), "aps"),
    "raps": lambda: conformal.Conformal.fit(P, Y, 0.2, ("raps",)).sets(P.mean(0), "raps"),
    "credible": lambda: conformal.set_stats(conformal.credible_sets(P.mean(0), 0.1), Y),
}


@pytest.mark.parametrize("name", list(SET_CALLS))
def test_prediction_sets_make_no_tensor_off_their_inputs_device(name):
    with DevicelessFactories() as mode:
        SET_CALLS[name]()
    assert mode.calls == []


def test_the_elbo_makes_no_tensor_off_the_data_device(conjugate):
    from conftest import conjugate_model

    model = conjugate_model(conjugate)
    guide = bn.infer.make_guide(model, "mean_field", init="point_estimate")
    x, y = conjugate["x"], conjugate["y"]
    guide(x, y)
    with DevicelessFactories() as mode:
        bn.infer.elbo_terms(model, guide, x, y)
    assert "zeros" not in mode.calls
