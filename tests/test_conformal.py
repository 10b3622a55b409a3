"""Conformal and credible prediction sets: the guarantee, monotonicity, MAPIE agreement."""

import itertools

import numpy as np
import pytest
import torch

from bayesnet.evaluate import compare
from bayesnet.evaluate.conformal import (
    SET_SCORES,
    Conformal,
    SmallCalibrationWarning,
    calibrate,
    class_scores,
    credible_sets,
    label_scores,
)
from bayesnet.evaluate.summary import Summary


def _fixed_classifier(probs):
    """A prefit scikit-learn classifier whose probabilities are given, indexed by X[:, 0]."""
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Fixed(ClassifierMixin, BaseEstimator):
        def __init__(self, probs=None):
            self.probs = probs

        def fit(self, x, y):
            self.classes_ = np.arange(self.probs.shape[1])
            return self

        def predict_proba(self, x):
            return self.probs[x[:, 0].astype(int)]

        def predict(self, x):
            return self.predict_proba(x).argmax(1)

    return Fixed(probs)


class _Fixed:
    """A predictive of given probabilities for ``compare`` (inputs are ignored)."""

    def __init__(self, probs):
        self.probs = probs.float()

    def predict(self, x, num_samples=None, **_):
        return self.probs[None, : len(x)]


def _calibrated(n, c=6, seed=0):
    """A predictive and labels drawn from it: exchangeable, and calibrated."""
    g = torch.Generator().manual_seed(seed)
    p = (torch.randn(n, c, generator=g) * 2).softmax(-1).double()
    return p, torch.multinomial(p, 1, generator=g).squeeze(1)


@pytest.mark.parametrize("score", SET_SCORES)
def test_split_conformal_coverage_lies_within_its_finite_sample_bounds(score):
    """Over repeated calibration/test splits the mean coverage is at least ``1 - alpha``
    and at most ``1 - alpha + 1 / (n + 1)`` (continuous scores), up to Monte Carlo error."""
    alpha, n, trials = 0.1, 99, 300
    covered = []
    torch.manual_seed(0)
    for t in range(trials):
        p, y = _calibrated(n + 200, seed=t)
        conformal = Conformal.fit(p[:n], y[:n], alpha, (score,))
        sets = conformal.sets(p[n:], score)
        covered.append(sets.gather(-1, y[n:, None]).double().mean().item())
    mean, error = np.mean(covered), 3 * np.std(covered) / np.sqrt(trials)
    assert 1 - alpha - error <= mean
    # APS/RAPS include the class that reaches the threshold: conservative, never below
    upper = 1 - alpha + 1 / (n + 1) if score == "lac" else 1 - alpha + 0.05
    assert mean <= upper + error


def test_sets_grow_as_alpha_shrinks():
    p, y = _calibrated(600)
    for score in SET_SCORES:
        torch.manual_seed(1)
        u = torch.rand(300, dtype=torch.float64)
        sizes = [
            Conformal.fit(p[:300], y[:300], a, (score,), u=u).sets(p[300:], score).sum(-1)
            for a in (0.3, 0.2, 0.1, 0.05, 0.01)
        ]
        for small, large in itertools.pairwise(sizes):
            assert (large >= small).all(), score
        assert sizes[-1].double().mean() > sizes[0].double().mean()
    credible = [credible_sets(p, a).sum(-1) for a in (0.3, 0.1, 0.01)]
    assert all((b >= a).all() for a, b in itertools.pairwise(credible))


def test_the_threshold_is_the_right_order_statistic():
    scores = torch.arange(1.0, 10.0)  # n = 9: ceil(10 * 0.8) = 8th smallest
    assert calibrate(scores, 0.2) == 8.0
    assert calibrate(scores, 0.05) == float("inf")  # ceil(10 * 0.95) = 10 > 9
    with pytest.raises(ValueError, match="alpha"):
        calibrate(scores, 1.0)


def test_scores_by_hand():
    p = torch.tensor([[0.5, 0.3, 0.2]], dtype=torch.float64)
    torch.testing.assert_close(class_scores(p, "lac"), torch.tensor([[0.5, 0.7, 0.8]]).double())
    torch.testing.assert_close(class_scores(p, "aps"), torch.tensor([[0.5, 0.8, 1.0]]).double())
    # ranks 1, 2, 3 with k_reg = 1: penalties 0, lam, 2 lam
    raps = class_scores(p, "raps", lam=0.1, k_reg=1)
    torch.testing.assert_close(raps, torch.tensor([[0.5, 0.9, 1.2]]).double())
    u = torch.tensor([0.5], dtype=torch.float64)
    assert label_scores(p, torch.tensor([1]), "aps", u).item() == pytest.approx(0.8 - 0.15)
    # APS at q = 0.6 keeps the top class and the one that reaches 0.6 (0.5 before it)
    assert Conformal(0.1, {"aps": 0.6}).sets(p, "aps").tolist() == [[True, True, False]]
    assert Conformal(0.1, {"lac": 0.6}).sets(p, "lac").tolist() == [[True, False, False]]


def test_credible_sets_are_the_smallest_holding_the_mass():
    p, _ = _calibrated(200, c=5)
    for alpha in (0.05, 0.2, 0.5):
        sets = credible_sets(p, alpha)
        assert ((p * sets).sum(-1) >= 1 - alpha - 1e-12).all()
        for row, chosen in zip(p, sets, strict=True):
            size = int(chosen.sum())
            # no smaller subset of classes holds the mass (brute force over 5 classes)
            for subset in itertools.combinations(range(5), size - 1):
                assert row[list(subset)].sum() < 1 - alpha


def test_lac_and_aps_sets_equal_mapies():
    mapie = pytest.importorskip("mapie.classification")
    p, y = _calibrated(500)
    x = np.arange(500)[:, None]
    estimator = _fixed_classifier(p.numpy()).fit(x, y.numpy())
    u = torch.tensor(np.random.RandomState(0).uniform(size=300))  # MAPIE's draws
    for score in ("lac", "aps"):
        reference = mapie.SplitConformalClassifier(
            estimator, confidence_level=0.9, conformity_score=score, prefit=True, random_state=0
        )
        reference.conformalize(x[:300], y[:300].numpy())
        params = {"include_last_label": True} if score == "aps" else None
        _, expected = reference.predict_set(x[300:], conformity_score_params=params)
        ours = Conformal.fit(p[:300], y[:300], 0.1, (score,), u=u).sets(p[300:], score)
        assert (ours.numpy() == expected[:, :, 0]).all(), score


def _saturated(n, wrong=0.3, c=5, seed=0):
    """One-hot predictions, a ``wrong`` fraction of them on another class than the label:
    every probability ties at 0 or 1."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(c, (n,), generator=g)
    guess = torch.where(torch.rand(n, generator=g) < wrong, (y + 1) % c, y)
    return torch.nn.functional.one_hot(guess, c).double(), y


def _tied(n, c=5, seed=0):
    """A predictive whose probabilities take few values (many ties), labels drawn from it."""
    g = torch.Generator().manual_seed(seed)
    levels = torch.tensor([0.4, 0.3, 0.3, 0.0, 0.0], dtype=torch.float64)
    p = torch.stack([levels[torch.randperm(c, generator=g)] for _ in range(n)])
    return p, torch.multinomial(p, 1, generator=g).squeeze(1)


@pytest.mark.parametrize("make", [_saturated, _tied])
@pytest.mark.parametrize("score", SET_SCORES)
def test_tied_and_saturated_predictives_keep_their_coverage(make, score):
    """The issue's case: with one-hot probabilities (30% wrong) APS covered 0.695 and RAPS
    0.845 at a 0.9 target; every score must cover at least 1 - alpha over exchangeable
    splits."""
    alpha, n, trials = 0.1, 99, 200
    covered = []
    torch.manual_seed(0)
    for t in range(trials):
        p, y = make(n + 200, seed=t)
        sets = Conformal.fit(p[:n], y[:n], alpha, (score,)).sets(p[n:], score)
        covered.append(sets.gather(-1, y[n:, None]).double().mean().item())
    error = 3 * np.std(covered) / np.sqrt(trials)
    assert np.mean(covered) >= 1 - alpha - error


def test_aps_sets_on_a_saturated_predictive_contain_mapies_and_cover():
    """MAPIE 1.6 breaks ties by position: on one-hot probabilities its APS sets hold one
    class and cover about 0.7 at a 0.9 target. Ours hold every class whose more probable
    classes are within the threshold (ties alike): never smaller than MAPIE's, and they
    cover."""
    mapie = pytest.importorskip("mapie.classification")
    p, y = _saturated(4000)
    x = np.arange(4000)[:, None]
    estimator = _fixed_classifier(p.numpy()).fit(x, y.numpy())
    reference = mapie.SplitConformalClassifier(
        estimator, confidence_level=0.9, conformity_score="aps", prefit=True, random_state=0
    )
    reference.conformalize(x[:2000], y[:2000].numpy())
    _, theirs = reference.predict_set(
        x[2000:], conformity_score_params={"include_last_label": True}
    )
    ours = Conformal.fit(p[:2000], y[:2000], 0.1, ("aps",)).sets(p[2000:], "aps").numpy()
    assert (ours >= theirs[:, :, 0]).all()
    assert ours[np.arange(2000), y[2000:].numpy()].mean() >= 0.9


def test_calibration_refuses_what_it_cannot_calibrate_on():
    p, y = _calibrated(50)
    with pytest.raises(ValueError, match="one label per prediction"):
        Conformal.fit(p, y[:40])
    with pytest.raises(ValueError, match=r"lie in 0\.\.5"):
        Conformal.fit(p, torch.where(y == 0, 6, y))
    with pytest.raises(ValueError, match="empty"):
        Conformal.fit(p[:0], y[:0])
    with pytest.warns(SmallCalibrationWarning, match="too few for alpha = 0.05"):
        conformal = Conformal.fit(p[:10], y[:10], alpha=0.05)
    assert conformal.sets(p, "lac").all()
    for alpha in (-0.5, 0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="alpha"):
            Summary(alpha=alpha)
        with pytest.raises(ValueError, match="alpha"):
            compare({"p": _Fixed(p)}, test=(torch.zeros(50, 1), y), alpha=alpha)
