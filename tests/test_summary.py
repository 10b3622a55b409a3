"""Streaming evaluation equals the in-memory metrics, for every metric and batch size."""

import pytest
import torch

from bayesnet.evaluate import metrics
from bayesnet.evaluate.summary import Summary, summarize


def _draws(s=7, n=203, c=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(s, n, c, generator=g) * 2 + torch.randn(1, n, c, generator=g) * 3
    labels = torch.randint(0, c, (n,), generator=g)
    return logits.softmax(-1), labels


def _stream(probs, labels, batch, reference=None):
    summary = Summary()
    for start in range(0, probs.shape[1], batch):
        part = slice(start, start + batch)
        ref = None if reference is None else reference[:, part]
        summary.update(probs[:, part], None if labels is None else labels[part], ref)
    return summary


@pytest.mark.parametrize("batch", [1, 17, 64, 203, 1000])
def test_every_metric_streams_to_its_in_memory_value(batch):
    probs, labels = _draws()
    reference, _ = _draws(s=3, seed=1)
    s = _stream(probs, labels, batch, reference)
    assert len(s) == 203 and s.draws == 7
    for name in ("accuracy", "nll", "brier", "ece", "mce", "adaptive_ece", "classwise_ece"):
        expected = getattr(metrics, name)(probs, labels)
        assert getattr(s, name)() == pytest.approx(expected, rel=1e-9, abs=1e-12), name
    for name, score in metrics.SCORES.items():
        torch.testing.assert_close(s.score(name), score(probs), rtol=1e-12, atol=1e-12)
        assert s.aurc(name) == pytest.approx(metrics.aurc(probs, labels, score(probs)), rel=1e-12)
        coverage, risk = metrics.risk_coverage(probs, labels, score(probs))
        torch.testing.assert_close(s.risk_coverage(name), (coverage, risk))
    for got, want in zip(
        s.calibration_bins(), metrics.calibration_bins(probs, labels), strict=True
    ):
        torch.testing.assert_close(got, want, equal_nan=True)
    assert s.agreement() == pytest.approx(metrics.agreement(probs, reference), rel=1e-12)
    assert s.total_variation() == pytest.approx(metrics.total_variation(probs, reference), rel=1e-9)


@pytest.mark.parametrize("batch", [5, 50])
def test_ood_detection_from_streamed_scores(batch):
    p_in, labels = _draws()
    p_out, _ = _draws(n=91, seed=2)
    s_in, s_out = _stream(p_in, labels, batch), _stream(p_out, None, batch)
    assert not s_out.labelled
    for name, score in metrics.SCORES.items():
        streamed = metrics.ood_detection(s_in.score(name), s_out.score(name))
        assert streamed == pytest.approx(metrics.ood_detection(score(p_in), score(p_out)))


def test_a_summary_keeps_no_draws_and_refuses_mismatched_batches():
    probs, labels = _draws(s=50, n=400, c=10)
    s = summarize([(probs[:, i : i + 100], labels[i : i + 100]) for i in range(0, 400, 100)])
    kept = sum(t.numel() for parts in s._parts.values() for t in parts)
    assert kept <= 400 * 12 < probs.numel() / 10  # [N] per summary, not [S, N, C]
    with pytest.raises(ValueError, match="a batch of 3 draws"):
        s.update(probs[:3, :10], labels[:10])
    with pytest.raises(ValueError, match="no labelled batch"):
        _stream(probs, None, 100).accuracy()
    with pytest.raises(ValueError, match="all have labels or none"):
        s.update(probs[:, :10])
