"""Metrics against hand-computed values."""

import math

import pytest
import torch
from sklearn.metrics import average_precision_score

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


def test_ood_auroc_hand_computed():
    # out-scores above in-scores in 3 of the 4 pairs: .35 > .1, .8 > .1, .8 > .4 (not .35 > .4)
    assert m.ood_auroc(torch.tensor([0.1, 0.4]), torch.tensor([0.35, 0.8])) == 0.75
    # a tie counts one half; perfect separation is 1, reversed 0
    assert m.ood_auroc(torch.tensor([0.5, 0.2]), torch.tensor([0.5, 0.9])) == 0.875
    assert m.ood_auroc(torch.tensor([0.1, 0.2]), torch.tensor([0.3])) == 1.0
    assert m.ood_auroc(torch.tensor([0.3]), torch.tensor([0.1, 0.2])) == 0.0


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


def test_calibration_variants_hand_computed():
    # conf .9 .6 .8 .7, right/wrong/right/right; one example per equal-width bin
    assert m.mce(P, Y) == pytest.approx(0.6)
    # equal mass, 2 bins: {.6 wrong, .7 right} gap |.5 - .65|, {.8, .9} gap |1 - .85|
    assert m.adaptive_ece(P, Y, bins=2) == pytest.approx(0.15)
    assert m.adaptive_ece(P, Y) == pytest.approx(m.ece(P, Y))  # 4 bins of one example
    probs = torch.tensor([[[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]]])
    y = torch.tensor([0, 2])
    # one bin per class: |.3 - .5|, |.45 - 0|, |.25 - .5|
    assert m.classwise_ece(probs, y, bins=1) == pytest.approx((0.2 + 0.45 + 0.25) / 3)
    assert m.ece(probs, y, bins=1) == pytest.approx(abs(0.55 - 0.5))


def test_known_predictors_on_every_calibration_error():
    y = torch.tensor([0, 1, 2, 1])
    perfect = torch.nn.functional.one_hot(y, 3).float()[None]
    for metric in (m.mce, m.adaptive_ece, m.classwise_ece):
        assert metric(perfect, y) == pytest.approx(0, abs=1e-12)
    uniform = torch.full((1, 4, 3), 1 / 3)  # ties pick class 0: 1 of 4 right
    assert m.ece(uniform, y) == pytest.approx(1 / 3 - 1 / 4)
    assert m.mce(uniform, y) == pytest.approx(1 / 3 - 1 / 4)
    constant = torch.tensor([[0.7, 0.3]]).expand(10, 2)[None]
    labels = torch.tensor([0] * 6 + [1] * 4)
    assert m.mce(constant, labels) == pytest.approx(0.1)
    assert m.adaptive_ece(constant, labels) == pytest.approx(0.1)


def test_variation_ratio():
    votes = torch.tensor([0, 0, 1, 2])
    probs = torch.nn.functional.one_hot(votes, 3).float()[:, None] * 0.7 + 0.1
    assert m.variation_ratio(probs).item() == pytest.approx(0.5)
    assert m.variation_ratio(P).eq(0).all()  # a point estimate never disagrees with itself


def test_detection_metrics_hand_computed_and_against_sklearn():
    a, b = torch.rand(50), torch.rand(40) + 0.3
    labels = [0] * 50 + [1] * 40
    scores = torch.cat([a, b]).numpy()
    assert m.ood_aupr(a, b) == pytest.approx(average_precision_score(labels, scores))
    # ranking out .8, in .4, out .35, in .1: precision 1 and 2/3 at the two positives
    assert m.ood_aupr(torch.tensor([0.1, 0.4]), torch.tensor([0.35, 0.8])) == pytest.approx(5 / 6)
    # catching 19 of the 20 OOD scores 5..24 needs threshold 6: in-scores 6..9 are flagged
    fpr = m.fpr_at_95_tpr(torch.arange(10.0), torch.arange(5.0, 25.0))
    assert fpr == pytest.approx(0.4)
    assert m.ood_detection(a, b)["auroc"] == m.ood_auroc(a, b)
    with pytest.raises(ValueError, match="empty"):
        m.ood_auroc(a, torch.tensor([]))


def test_risk_coverage_hand_computed():
    coverage, risk = m.risk_coverage(P, Y, m.SCORES["max_prob"](P))
    # most certain first: .9, .8, .7 right, then .6 wrong
    assert coverage.tolist() == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert risk.tolist() == pytest.approx([0, 0, 0, 0.25])
    assert m.aurc(P, Y, m.SCORES["max_prob"](P)) == pytest.approx(0.0625)
    # the reverse ranking rejects the right answers first
    assert m.aurc(P, Y, -m.SCORES["max_prob"](P)) == pytest.approx((1 + 0.5 + 1 / 3 + 0.25) / 4)
    with pytest.raises(ValueError, match="3 scores for 4"):
        m.aurc(P, Y, torch.ones(3))


def test_fidelity_to_a_reference_hand_computed():
    # draws average to [[.6, .4], [.3, .7], [.5, .5] -> argmax 0]; reference [N, C]
    probs = torch.tensor(
        [[[0.8, 0.2], [0.2, 0.8], [0.6, 0.4]], [[0.4, 0.6], [0.4, 0.6], [0.4, 0.6]]]
    )
    reference = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.5, 0.5]])
    # top-1: 0 vs 0 (agree), 1 vs 0 (disagree), 0 vs 0 (agree: ties break to class 0)
    assert m.agreement(probs, reference) == pytest.approx(2 / 3)
    # TV: 0.5 * (|.6-.9| + |.4-.1|) = .3; 0.5 * (.3 + .3) = .3; 0
    assert m.total_variation(probs, reference) == pytest.approx((0.3 + 0.3 + 0.0) / 3)
    # symmetric in its arguments, and [S, N, C] references are averaged first
    assert m.total_variation(reference, probs) == pytest.approx(m.total_variation(probs, reference))


def test_fidelity_of_identical_predictives():
    probs = torch.softmax(torch.randn(5, 7, 4), -1)
    assert m.agreement(probs, probs) == 1.0
    assert m.total_variation(probs, probs) == 0.0
    assert m.agreement(probs, probs.mean(0)) == 1.0
    with pytest.raises(ValueError, match="differ in shape"):
        m.agreement(probs, probs[:, :3])
