"""Metrics over a stream of batches, never holding a data set's draws.

``Summary`` is fed predictive draws batch by batch (``update(probs [S, B, C], labels
[B])``) and keeps, per example, only the numbers the metrics need: the predictive's
confidence and whether it is right, the log probability and Brier term of the label, and
every uncertainty score of ``metrics.SCORES``, the size of each prediction set
(the credible set at ``alpha``, and conformal sets given a ``Conformal``) and whether it
holds the label (``[N]`` each); per class and confidence
bin, the sums classwise ECE needs (``[C, bins]``); and, given a reference predictive
alongside, the agreement and total-variation sums. Every metric of ``metrics`` then
comes from these, equal to the in-memory function on the concatenated draws (to float
rounding; ``tests/test_summary.py`` checks each over several batch sizes). Memory is
``O(N + C * bins)``, not ``O(S * N * C)``: S = 100 draws of 60,000 inputs with 10 classes
need 0.5 MB of summaries instead of a 240 MB tensor (``benchmarks/streaming.py``).

Why not torchmetrics: its calibration and classification metrics take one probability
vector per example, so the draws would be averaged first and the mutual information,
variation ratio and expected entropy (the epistemic part this project is about) would
need their own state anyway; the in-memory functions here are tested against hand
computations, and sharing their binning and entropy code keeps one definition of each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from . import metrics
from .conformal import Conformal, check_alpha, credible_sets, set_stats

__all__ = ["Summary", "summarize"]


class Summary:
    """Per-example summaries of a predictive over a data set, accumulated by ``update``."""

    def __init__(
        self, bins: int = 15, alpha: float = 0.1, conformal: Conformal | None = None
    ) -> None:
        self.bins, self.conformal = bins, conformal
        self.alpha = conformal.alpha if conformal is not None else check_alpha(alpha)
        self.draws: int | None = None
        self.num_classes: int | None = None
        self._parts: dict[str, list[torch.Tensor]] = {}
        self._classwise: torch.Tensor | None = None  # [C, bins, 3]: count, sum p, sum hit
        self._agree = self._tv = 0.0
        self._referenced = 0

    def update(
        self,
        probs: torch.Tensor,
        labels: torch.Tensor | None = None,
        reference: torch.Tensor | None = None,
    ) -> None:
        """Add a batch: draws ``[S, B, C]``, labels ``[B]`` (None for unlabelled inputs,
        OOD sets) and a reference predictive ``[S', B, C]`` or ``[B, C]``."""
        probs = metrics.check_probs(probs.cpu(), None if labels is None else labels.cpu())
        if self.num_classes is None:
            self.draws, self.num_classes = probs.shape[0], probs.shape[-1]
        elif probs.shape[-1] != self.num_classes or probs.shape[0] != self.draws:
            raise ValueError(
                f"a batch of {probs.shape[0]} draws over {probs.shape[-1]} classes after "
                f"{self.draws} over {self.num_classes}"
            )
        mean = probs.mean(0)
        confidence, predicted = mean.max(-1)
        parts = {name: score(probs) for name, score in metrics.CHECKED_SCORES.items()}
        parts["confidence"] = confidence
        if self._parts and (labels is not None) != self.labelled:
            raise ValueError("a data set's batches must all have labels or none")
        if labels is not None:
            labels = labels.cpu().long()
            true = mean.gather(-1, labels[:, None]).squeeze(-1)
            onehot = torch.nn.functional.one_hot(labels, self.num_classes).double()
            parts.update(
                hit=(predicted == labels).double(),
                log_true=true.clamp_min(metrics.TINY).log(),
                brier=(mean - onehot).square().sum(-1),
            )
            self._add_classwise(mean, onehot)
        parts.update(self._sets(mean, labels))
        for name, value in parts.items():
            self._parts.setdefault(name, []).append(value)
        if reference is not None:
            ref = metrics.predictive_mean(reference.cpu())
            if ref.shape != mean.shape:
                raise ValueError(f"reference {tuple(ref.shape)} for a batch {tuple(mean.shape)}")
            self._agree += (ref.argmax(-1) == predicted).double().sum().item()
            self._tv += (0.5 * (mean - ref).abs().sum(-1)).sum().item()
            self._referenced += len(mean)

    def _sets(self, mean: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Each example's credible set and (given a ``Conformal``) conformal sets: their
        sizes and whether they hold the label."""
        sets = {"credible": credible_sets(mean, self.alpha)}
        if self.conformal is not None:
            sets.update({s: self.conformal.sets(mean, s) for s in self.conformal.thresholds})
        found = {}
        for name, chosen in sets.items():
            for stat, value in set_stats(chosen, labels).items():
                found[f"{stat}_{name}"] = value
        return found

    def _add_classwise(self, mean: torch.Tensor, onehot: torch.Tensor) -> None:
        if self._classwise is None:
            self._classwise = torch.zeros(self.num_classes, self.bins, 3, dtype=torch.float64)
        for c, p in enumerate(mean.T.contiguous()):
            index = metrics.equal_width_bins(p, self.bins)
            for k, value in enumerate((torch.ones_like(p), p, onehot[:, c])):
                self._classwise[c, :, k].index_add_(0, index, value)

    def __len__(self) -> int:
        return sum(len(v) for v in self._parts.get("confidence", []))

    def _get(self, name: str) -> torch.Tensor:
        if name not in self._parts:
            raise ValueError(
                "no labelled batch was added" if name == "hit" else f"no batch was added ({name})"
            )
        joined = torch.cat(self._parts[name])
        self._parts[name] = [joined]
        return joined

    @property
    def labelled(self) -> bool:
        return "hit" in self._parts

    def score(self, name: str) -> torch.Tensor:
        """The uncertainty score ``name`` of ``metrics.SCORES`` per example ``[N]``."""
        return self._get(name)

    @property
    def confidence(self) -> torch.Tensor:
        """The predictive's top probability per example ``[N]``."""
        return self._get("confidence")

    @property
    def hit(self) -> torch.Tensor:
        """Whether the predictive's top class is the label (1/0) per example ``[N]``."""
        return self._get("hit")

    def accuracy(self) -> float:
        return self.hit.mean().item()

    def nll(self) -> float:
        return -self._get("log_true").mean().item()

    def brier(self) -> float:
        return self._get("brier").mean().item()

    def calibration_bins(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        conf = self.confidence
        return metrics.bin_stats(
            conf, self.hit, metrics.equal_width_bins(conf, self.bins), self.bins
        )

    def ece(self) -> float:
        conf = self.confidence
        index = metrics.equal_width_bins(conf, self.bins)
        return metrics.calibration_error(conf, self.hit, index, self.bins).item()

    def mce(self) -> float:
        _, acc, conf = self.calibration_bins()
        return torch.nan_to_num((acc - conf).abs(), nan=0.0).max().item()

    def adaptive_ece(self) -> float:
        conf = self.confidence
        index = metrics.equal_mass_bins(conf, self.bins)
        return metrics.calibration_error(conf, self.hit, index, self.bins).item()

    def classwise_ece(self) -> float:
        if self._classwise is None:
            raise ValueError("no labelled batch was added")
        count, sum_p, sum_hit = self._classwise.unbind(-1)
        return ((sum_hit - sum_p).abs().sum(-1) / count.sum(-1)).mean().item()

    def aurc(self, score: str) -> float:
        return metrics.risk_from_hits(self.hit, self.score(score))[1].mean().item()

    def risk_coverage(self, score: str) -> tuple[torch.Tensor, torch.Tensor]:
        return metrics.risk_from_hits(self.hit, self.score(score))

    def mean(self, score: str) -> float:
        """The mean of an uncertainty score, or of ``"confidence"``, over examples."""
        return self._get(score).mean().item()

    @property
    def set_names(self) -> list[str]:
        """The sets summarised: ``credible`` and each conformal score."""
        return [k.removeprefix("size_") for k in self._parts if k.startswith("size_")]

    def coverage(self, name: str) -> float:
        """The fraction of labels the sets ``name`` hold (``credible``, ``lac``, ...)."""
        return self._get(f"covered_{name}").mean().item()

    def set_size(self, name: str) -> float:
        """The mean number of classes in the sets ``name``."""
        return self._get(f"size_{name}").mean().item()

    def agreement(self) -> float:
        if not self._referenced:
            raise ValueError("no batch came with a reference")
        return self._agree / self._referenced

    def total_variation(self) -> float:
        if not self._referenced:
            raise ValueError("no batch came with a reference")
        return self._tv / self._referenced


def summarize(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor | None]],
    bins: int = 15,
    alpha: float = 0.1,
    conformal: Conformal | None = None,
    each: Callable[[torch.Tensor, torch.Tensor | None], None] | None = None,
) -> Summary:
    """A ``Summary`` of ``(probs [S, B, C], labels [B] or None)`` batches; ``each`` is also
    called on every batch (what else a caller accumulates from the same draws)."""
    summary = Summary(bins, alpha, conformal)
    for probs, labels in batches:
        summary.update(probs, labels)
        if each is not None:
            each(probs, labels)
    return summary
