"""Metrics against hand-computed values."""

import math

import pytest
import torch
from sklearn.metrics import roc_auc_score

from bayesnet.evaluate import metrics as m

P = torch.tensor([[[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.3, 0.7]]])
Y = torch.tensor([0, 1, 1, 1])


def test_hand_computed_values():
    assert m.accuracy(P, Y) == pytest.approx(0.75)
    assert m.nll(P, Y) == pytest.approx(
        -(math.log(0.9) + math.log(0.4) + math.log(0.8) + math.log(0.7)) / 4
    )
    assert m.brier(P, Y) == pytest.approx((0.02 + 0.72 + 0.08 + 0.18) / 4)
    # one example per bin: |1-.9|, |0-.6|, |1-.8|, |1-.7|
    assert m.ece(P, Y) == pytest.approx((0.1 + 0.6 + 0.2 + 0.3) / 4, abs=1e-6)


def test_perfect_and_uniform_predictors():
    y = torch.tensor([0, 1, 2, 1])
    perfect = torch.nn.functional.one_hot(y, 3).float()[None]
    assert m.accuracy(perfect, y) == 1 and m.nll(perfect, y) == pytest.approx(0, abs=1e-9)
    assert m.brier(perfect, y) == 0 and m.ece(perfect, y) == 0
    uniform = torch.full((1, 4, 3), 1 / 3)
    assert m.nll(uniform, y) == pytest.approx(math.log(3))
    assert m.brier(uniform, y) == pytest.approx(2 / 3)
    assert m.predictive_entropy(uniform) == pytest.approx(
        torch.full((4,), math.log(3), dtype=torch.float64)
    )


def test_constant_confidence_predictor_ece_is_the_gap():
    probs = torch.tensor([[0.7, 0.3]]).expand(10, 2)[None]
    y = torch.tensor([0] * 6 + [1] * 4)  # 60% accurate at 70% confidence
    assert m.ece(probs, y) == pytest.approx(0.1)


def test_entropy_decomposition_and_agreeing_draws():
    probs = torch.softmax(torch.randn(20, 30, 5), -1)
    total = m.predictive_entropy(probs)
    assert torch.allclose(
        total, m.expected_entropy(probs) + m.mutual_information(probs), atol=1e-12
    )
    assert (m.mutual_information(probs) >= -1e-12).all()
    same = probs[:1].expand(20, 30, 5)
    assert torch.allclose(
        m.mutual_information(same), torch.zeros(30, dtype=torch.float64), atol=1e-12
    )


def test_ood_auroc_agrees_with_sklearn():
    a, b = torch.rand(50), torch.rand(40) + 0.3
    expected = roc_auc_score([0] * 50 + [1] * 40, torch.cat([a, b]).numpy())
    assert m.ood_auroc(a, b) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("probs", "labels", "message"),
    [
        (torch.full((1, 4, 2), 0.4), Y, "sum to one"),
        (torch.full((1, 4, 2), float("nan")), Y, "NaN"),
        (P, Y[:3], "3 labels for 4 predictions"),
        (torch.ones(1, 4, 1), Y, "at least two classes"),
    ],
)
def test_bad_probabilities(probs, labels, message):
    with pytest.raises(ValueError, match=message):
        m.nll(probs, labels)
