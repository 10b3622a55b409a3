"""``Posterior``: one interface over every engine's weight draws.

A posterior is a model (network + likelihood) and a *sampler* of the network's sampled
parameters: a variational guide (fresh draws on demand), a set of stored draws (MCMC,
an ensemble, or none at all for a point estimate), or the prior itself. Prediction runs
the same architecture in plain torch (``model.deterministic_net()``) with each draw
swapped in through ``torch.func.functional_call``: no Pyro machinery on the hot path.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pyro import poutine
from torch import nn
from torch.func import functional_call, vmap

from ._checks import check_choice, check_finite
from .checkpoint import CheckpointError, load_safe, load_state, save_atomic
from .data.streams import unpack
from .models import BayesianModel, Classifier, Regressor
from .nn.convert import bayesian_layers
from .nn.distance import STATISTICS as DISTANCE_STATISTICS
from .nn.distance import DistanceLinear, FeatureDistance, head_path
from .nn.layers import BayesianLayer
from .nn.mean_predictive import MeanPredictive
from .nn.normalization import statistic_names, statistics_and_features

__all__ = [
    "log_mean_softmax",
    "Posterior",
    "Sampler",
    "SAMPLERS",
    "DrawsSampler",
    "PriorSampler",
    "MixtureSampler",
    "FORMAT",
    "DEFAULT_DRAWS",
]

FORMAT = "bayesnet.posterior/1"
#: draws of a sampler that has no number of its own (a guide, the prior)
DEFAULT_DRAWS = 100
STRATEGIES = ("auto", "loop", "vmap")


#: every sampler class by its ``kind``, as saved files name them; each engine's module
#: registers the sampler it produces by defining it
SAMPLERS: dict[str, type[Sampler]] = {}


class Sampler(ABC):
    """Draws of the sampled parameters: ``{site name: tensor [S, *shape]}``."""

    kind: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            SAMPLERS[cls.kind] = cls

    @classmethod
    @abstractmethod
    def from_state(cls, model: BayesianModel, state: dict[str, Any], path: Path) -> Sampler:
        """The sampler ``state()`` describes, for ``model`` (read from ``path``)."""

    @abstractmethod
    def sample(self, num_samples: int | None) -> dict[str, torch.Tensor]:
        """Up to ``num_samples`` draws (None: the sampler's natural number)."""

    def natural_size(self) -> int:
        """How many draws ``sample(None)`` gives (samplers that know it say so cheaply)."""
        draws = self.sample(None)
        return next(iter(draws.values())).shape[0] if draws else 1

    def state(self) -> dict[str, Any]:
        """What ``save`` stores to rebuild this sampler (tensors and plain values only)."""
        return {}


class DrawsSampler(Sampler):
    """Stored draws (MCMC chains, ensemble members); no draws at all is a point estimate.
    Subsampling takes evenly spaced draws (across chains).

    ``chains``: how many chains the draws are, chain after chain (equal lengths);
    ``stats``: per-draw sampler statistics, ``{name: [chain][draw]}`` (MCMC's step size,
    divergences, energy ..., which ArviZ's ``sample_stats`` shows)."""

    kind = "draws"

    def __init__(
        self,
        draws: dict[str, torch.Tensor],
        chains: int = 1,
        stats: dict[str, list[list[float]]] | None = None,
    ) -> None:
        sizes = {v.shape[0] for v in draws.values()}
        if len(sizes) > 1:
            raise ValueError(f"every site needs the same number of draws, got {sorted(sizes)}")
        self.draws = draws
        self.num_draws = sizes.pop() if sizes else 1
        if chains < 1 or self.num_draws % chains:
            raise ValueError(f"{self.num_draws} draws cannot be {chains} chains of equal length")
        self.chains, self.stats = chains, stats or {}

    def sample(self, num_samples):
        if num_samples is None or num_samples >= self.num_draws or not self.draws:
            return dict(self.draws)
        idx = torch.linspace(0, self.num_draws - 1, num_samples).round().long()
        return {k: v[idx.to(v.device)] for k, v in self.draws.items()}

    def natural_size(self):
        return self.num_draws

    def state(self):
        return {"draws": self.draws, "chains": self.chains, "stats": self.stats}

    @classmethod
    def from_state(cls, model, state, path):
        return cls(state["draws"], state.get("chains", 1), state.get("stats"))


class PriorSampler(Sampler):
    """Draws from the prior (hierarchical scales first, then the weights they scale)."""

    kind = "prior"

    def __init__(self, model: BayesianModel) -> None:
        self.model = model

    @classmethod
    def from_state(cls, model, state, path):
        return cls(model)

    def natural_size(self):
        return DEFAULT_DRAWS

    def _prior_sites(self) -> None:
        with self.model._context:
            for _, layer in bayesian_layers(self.model.net):
                for name in layer.param_names:
                    getattr(layer, name)

    @torch.no_grad()
    def sample(self, num_samples):
        num_samples = DEFAULT_DRAWS if num_samples is None else num_samples
        draws = [poutine.trace(self._prior_sites).get_trace().nodes for _ in range(num_samples)]
        names = [n for n, s in draws[0].items() if s["type"] == "sample"]
        return {n: torch.stack([d[n]["value"] for d in draws]) for n in names}


class MixtureSampler(Sampler):
    """An equal-weight mixture of samplers over one architecture (``Posterior.mixture``):
    ``S`` draws are split across the ``K`` components in proportion to their weights,
    ``S // K`` each and the remainder to components chosen at random (so every component
    has its share of the draws in expectation, even when ``S < K``), component after
    component. ``fixed[k]`` holds component ``k``'s tensors that it does not sample (the
    deterministic layers, normalisation statistics), repeated with each of its draws."""

    kind = "mixture"

    def __init__(self, components: Sequence[Sampler], fixed: Sequence[dict[str, torch.Tensor]]):
        if not components or len(components) != len(fixed):
            raise ValueError("a mixture needs one or more components, each with its fixed state")
        self.components, self.fixed = list(components), list(fixed)

    def counts(self, num_samples: int) -> list[int]:
        """Draws per component for ``num_samples`` in all."""
        k = len(self.components)
        counts = [num_samples // k] * k
        for i in torch.randperm(k)[: num_samples % k].tolist():
            counts[i] += 1
        return counts

    def natural_size(self):
        return sum(c.natural_size() for c in self.components)

    def sample(self, num_samples):
        counts = [None] * len(self.components) if num_samples is None else self.counts(num_samples)
        parts = []
        for component, fixed, count in zip(self.components, self.fixed, counts, strict=True):
            if count == 0:
                continue
            draws = component.sample(count)
            num = next(iter(draws.values())).shape[0] if draws else 1
            parts.append({**{n: v.expand(num, *v.shape) for n, v in fixed.items()}, **draws})
        names = set(parts[0])
        if any(set(p) != names for p in parts):
            raise ValueError("the mixture's components draw different sites")
        return {n: torch.cat([p[n] for p in parts]) for n in parts[0]}

    def state(self):
        return {
            "components": [
                {"kind": c.kind, "state": c.state(), "fixed": f}
                for c, f in zip(self.components, self.fixed, strict=True)
            ]
        }

    @classmethod
    def from_state(cls, model, state, path):
        parts = state["components"]
        return cls(
            [SAMPLERS[p["kind"]].from_state(model, p["state"], path) for p in parts],
            [p["fixed"] for p in parts],
        )


class Posterior:
    """Posterior (or point estimate, or ensemble) over a model's network.

    ``predict(x, num_samples=S)`` returns the predictive quantity for every draw,
    ``[S, N, ...]`` with the sample dimension first: class probabilities ``[S, N, C]``
    for a ``Classifier``, output means ``[S, N, D]`` for a ``Regressor``.

    ``normalization``: training inputs on which every draw's BatchNorm statistics are
    estimated before it predicts (``bayesnet.nn.normalization``); None keeps the network's
    own running statistics for every draw (draws that carry their own, as an ensemble's
    members do, keep those). Such a posterior estimates each draw's statistics once and
    keeps the draws with them (``cached``, saved with the posterior): later predictions
    reuse them and cost the forward passes alone. ``predict(x, S)`` then predicts with
    ``S`` of the kept draws (evenly spaced through them), drawing and estimating more only
    when ``S`` exceeds what is kept.

    ``temperature``: a classifier's logits are divided by it in every draw before the
    softmax (``bn.baselines.temperature_scaled`` fits it on held-out data); saved with the
    posterior. 1 leaves the predictive as the engine fitted it.

    ``distance`` (a classifier's, ``bayesnet.nn.distance.FeatureDistance``): every draw's
    logits flatten with the input's distance from labelled training examples in that
    draw's feature space; each draw's statistics are estimated once and kept with it, as
    the normalisation statistics are (``bn.distance_aware`` makes such a posterior). Where
    the distance's examples are the ``normalization`` inputs themselves (what
    ``bn.distance_aware`` sets up), one forward pass per draw estimates both.
    """

    def __init__(
        self,
        model: BayesianModel,
        sampler: Sampler,
        info: dict[str, Any] | None = None,
        normalization: torch.Tensor | None = None,
        cached: dict[str, torch.Tensor] | None = None,
        temperature: float = 1.0,
        distance: FeatureDistance | None = None,
    ) -> None:
        if not (isinstance(temperature, (int, float)) and 0 < temperature < math.inf):
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        if temperature != 1 and not isinstance(model, Classifier):
            raise ValueError("a temperature divides a classifier's logits; this is a regressor")
        if distance is not None and not isinstance(model, Classifier):
            raise ValueError("a distance-aware predictive is a classifier's; this is a regressor")
        self.model = model
        self.sampler = sampler
        self.info = dict(info or {})
        self.normalization = normalization
        self.cached: dict[str, torch.Tensor] = dict(cached or {})
        self.temperature = float(temperature)
        self.distance = distance
        self._net: nn.Module | None = None
        self._links: list[tuple[torch.Tensor, nn.Module, str]] = []
        self._names: set[str] = set()  # the twin's parameters and buffers
        self._sites: tuple[set[str], set[str]] = (set(), set())  # weight, all latent

    @classmethod
    def from_prior(cls, model: BayesianModel) -> Posterior:
        """The prior as a posterior: ``predict`` samples functions from the prior, to see
        what it implies before any data (for a classifier: how confident networks drawn
        from it already are)."""
        return cls(model, PriorSampler(model), {"engine": "prior"})

    @classmethod
    def mixture(cls, posteriors: Sequence[Posterior], info: dict[str, Any] | None = None):
        """The equal-weight mixture of ``posteriors`` of one architecture (several starts of
        a fit, say: each finds its own mode, and the mixture covers them all). It predicts
        through the first one's model; every component keeps the tensors it does not
        sample. ``info`` defaults to the first component's."""
        if not posteriors:
            raise ValueError("a mixture needs at least one posterior")
        first = posteriors[0]
        arch = architecture(first.model)
        per_draw = first.normalization is not None
        for k, post in enumerate(posteriors[1:], 1):
            check_architecture(post.model, arch, f"mixture component {k}")
            if (post.normalization is not None) != per_draw:
                raise ValueError(
                    "mixture components must all (or none) estimate each draw's normalisation "
                    f"statistics; component {k} differs from component 0"
                )
            if post.distance is not None or first.distance is not None:
                raise ValueError(
                    "mixture components must not be distance-aware: mix them, then make the "
                    "mixture distance-aware (bn.distance_aware)"
                )
            if post.temperature != first.temperature:
                raise ValueError(
                    f"mixture components must share one temperature; component {k} has "
                    f"{post.temperature:g}, component 0 {first.temperature:g}: mix, then scale"
                )
        return cls(
            first.model,
            MixtureSampler([p.sampler for p in posteriors], [p._fixed() for p in posteriors]),
            first.info if info is None else info,
            first.normalization,
            temperature=first.temperature,
        )

    def derive(
        self,
        info: dict[str, Any],
        *,
        temperature: float | None = None,
        distance: FeatureDistance | None = None,
        normalization: torch.Tensor | None = None,
    ) -> Posterior:
        """This posterior with ``info`` and, where given, another ``temperature``,
        ``distance`` or ``normalization`` inputs: the same model, sampler and kept draws
        (what the wrappers over a fitted posterior return; whatever they do not change
        carries over)."""
        return Posterior(
            self.model,
            self.sampler,
            info,
            self.normalization if normalization is None else normalization,
            self.cached,
            self.temperature if temperature is None else temperature,
            self.distance if distance is None else distance,
        )

    def _fixed(self) -> dict[str, torch.Tensor]:
        """The twin's tensors no draw replaces (statistics estimated per draw excepted)."""
        net = self.net
        skip = set(self.model.latent_sites)
        if self.normalization is not None:
            skip |= set(statistic_names(net))
        tensors = itertools.chain(net.named_parameters(), net.named_buffers())
        return {n: t.detach().clone() for n, t in tensors if n not in skip}

    @property
    def net(self) -> nn.Module:
        """The plain-torch network that predictions run through (eval mode), always in the
        model's current state: built once, then its tensors are copied from the model's on
        every access (training goes on updating BatchNorm statistics and the like)."""
        if self._net is None or not self._synced():
            self._net = self.model.deterministic_net().eval()
            if self.distance is not None:
                self.distance.head(self._net)
            for p in self._net.parameters():
                p.requires_grad_(False)
            self._links = _twin_links(self._net, self.model.net)
            self._names = {
                n
                for n, _ in itertools.chain(self._net.named_parameters(), self._net.named_buffers())
            }
            self._sites = (set(self.model.weight_sites), set(self.model.latent_sites))
        return self._net

    @torch.no_grad()
    def _synced(self) -> bool:
        """Copy the model's tensors into the twin; False when they no longer fit it."""
        for mine, module, name in self._links:
            source = getattr(module, name)
            if source.shape != mine.shape or source.device != mine.device:
                return False
            mine.copy_(source)
        return True

    @property
    def device(self) -> torch.device:
        tensor = next(itertools.chain(self.model.parameters(), self.model.buffers()), None)
        return tensor.device if tensor is not None else torch.device("cpu")

    def sample_params(self, num_samples: int | None = 100) -> dict[str, torch.Tensor]:
        """Draws of the sampled parameters, ``{site: [S, *shape]}``, with each draw's
        normalisation statistics where the posterior has ``normalization`` inputs and its
        head's distance statistics where it is ``distance``-aware."""
        if num_samples is not None and num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        if self.normalization is None and self.distance is None:
            return self.sampler.sample(num_samples)
        num = self.sampler.natural_size() if num_samples is None else num_samples
        have = _count(self.cached)
        if have and self.distance is not None and not self._distance_kept():
            # draws kept before the posterior was made distance-aware: their heads' now
            self.cached.update(self.distance.statistics(self.net, self.cached))
        if num > have:
            fresh = self.sampler.sample(num - have)
            if not fresh and self.distance is None:  # a point estimate: nothing per draw
                return fresh
            features = None
            if self.normalization is not None:
                head = head_path(self.net) if self._one_pass(fresh) else None
                inputs = self.normalization.to(self.device)
                stats, features = statistics_and_features(self.net, fresh, inputs, head)
                fresh = {**stats, **fresh}  # draws with statistics of their own keep them
            if self.distance is not None:
                fresh.update(self.distance.statistics(self.net, fresh, features))
            self.cached = (
                {k: torch.cat([self.cached[k], v.to(self.cached[k])]) for k, v in fresh.items()}
                if have
                else fresh
            )
            have = _count(self.cached)
        idx = torch.linspace(0, have - 1, num).round().long()
        return {k: v[idx.to(v.device)] for k, v in self.cached.items()}

    def _one_pass(self, fresh: dict[str, torch.Tensor]) -> bool:
        """Whether the pass that estimates ``fresh`` draws' normalisation statistics also
        gives their distance head's features: the distance is estimated on the
        normalisation inputs themselves (``bn.distance_aware`` makes it so) and no draw
        brings statistics of its own (an ensemble member's), which the pass would not use."""
        return (
            self.distance is not None
            and self.distance.inputs is self.normalization
            and not any(name in fresh for name in statistic_names(self.net))
        )

    def _distance_kept(self) -> bool:
        """Whether the kept draws carry a distance head's statistics (by their names: no
        twin to build or sync on the way to a prediction)."""
        return any(name.rpartition(".")[2] == DISTANCE_STATISTICS[0] for name in self.cached)

    @torch.no_grad()
    def predict(
        self,
        x: torch.Tensor,
        num_samples: int | None = 100,
        batch_size: int | None = None,
        strategy: str = "auto",
        draws: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Posterior predictive draws ``[S, N, ...]`` on the model's device.

        ``strategy`` is how draws are batched: ``"loop"`` runs one forward pass per draw,
        ``"vmap"`` one ``torch.func.vmap`` pass over all; ``"auto"`` takes the one
        measured faster on the device (``benchmarks/core.py``): loop on CPU, vmap on CUDA.
        ``draws`` (from ``sample_params``) predicts with those draws instead of new ones:
        several inputs predicted by the same networks, their statistics estimated once.
        """
        if draws is None:
            draws = self.sample_params(num_samples)
        probs = self.forward(x, draws, batch_size, strategy)
        bad = (~torch.isfinite(probs)).flatten(1).any(1)
        if bad.any():
            raise FloatingPointError(
                f"{int(bad.sum())} of {len(bad)} draws predict NaN or Inf "
                f"(engine {self.info.get('engine', 'unknown')!r}): the network or its draws "
                "are not finite; these predictions cannot be trusted"
            )
        return probs

    @torch.no_grad()
    def predict_moments(
        self,
        x: torch.Tensor,
        num_samples: int | None = 100,
        draws: dict[str, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A regressor's per-draw predictive means and variances, ``[S, N, D]`` each: the
        mean and the variance of each draw's likelihood (its fitted, learned or
        input-dependent noise). ``bn.evaluate.regression.decompose`` splits them into the
        aleatoric part ``E[sigma^2]`` and the epistemic part ``Var[mu]``."""
        if not isinstance(self.model, Regressor):
            raise ValueError("predict_moments is a regressor's; a classifier's draws: predict(x)")
        if draws is None:
            draws = self.sample_params(num_samples)
        outputs = self.forward(x, draws, link=False)
        parts = [
            self.model.moments(out, {k: v[s] for k, v in draws.items()})
            for s, out in enumerate(outputs)
        ]
        return torch.stack([m for m, _ in parts]), torch.stack([v for _, v in parts])

    def predict_proba(self, x: torch.Tensor, num_samples: int | None = 100) -> torch.Tensor:
        """A classifier's posterior predictive probabilities ``[N, C]``: the mean of
        ``predict``'s draws (what scikit-learn's ``predict_proba`` returns)."""
        if not isinstance(self.model, Classifier):
            raise ValueError("predict_proba is a classifier's; a regressor's draws: predict(x)")
        return self.predict(x, num_samples).mean(0)

    def as_module(self, num_samples: int | None = 100) -> nn.Module:
        """The mean predictive over ``num_samples`` draws (with their normalisation
        statistics) as a plain ``nn.Module`` in eval mode: class probabilities ``[N, C]``
        for a classifier, the mean output for a regressor; no Pyro at call time, for
        deployment or ``torch.export``."""
        net = self.net  # its names are what a draw may replace
        draws = {k: v for k, v in self.sample_params(num_samples).items() if k in self._names}
        link = "softmax" if isinstance(self.model, Classifier) else "identity"
        return MeanPredictive(net, draws, link, self.temperature)

    def predict_loader(
        self,
        loader: Iterable,
        num_samples: int | None = 100,
        draws: dict[str, torch.Tensor] | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """Predict over a loader batch by batch, every batch with the same draws:
        ``(probs [S, B, ...], y)`` per batch of ``(x, y, ...)`` (``y`` None for batches of
        inputs alone). Nothing over the whole data set is held; feed the batches to
        ``bn.evaluate.summary.Summary`` for every metric."""
        if draws is None:
            draws = self.sample_params(num_samples)
        for x, y in map(unpack, loader):
            yield self.predict(x, draws=draws), y

    def forward(
        self,
        x: torch.Tensor,
        draws: dict[str, torch.Tensor],
        batch_size: int | None = None,
        strategy: str = "auto",
        link: bool = True,
    ) -> torch.Tensor:
        """The network on ``x`` for each of the given draws ``[S, N, ...]``; ``link=False``
        returns the outputs (logits, divided by the ``temperature``) instead of
        probabilities. Draws may name
        parameters or buffers (dropout masks, ensemble members' statistics). Gradients flow
        to ``x`` (attacks use them); ``predict`` runs it without autograd."""
        check_choice(strategy, STRATEGIES, "predict strategy")
        device = self.device
        net = self.net  # synced once per call: _forward runs on this one
        x = self._inputs(x, net).to(device)
        self._check_draws(draws)
        params = {k: v.to(device) for k, v in draws.items() if k in self._names}
        if strategy == "auto":
            strategy = "vmap" if device.type == "cuda" else "loop"
        fn = self.model.link if link else _identity
        if self.temperature != 1:
            fn = _tempered(fn, self.temperature)
        chunks = x.split(batch_size or x.shape[0])
        try:
            return torch.cat([_forward(net, params, xb, strategy, fn) for xb in chunks], dim=1)
        except torch.OutOfMemoryError:
            raise
        except RuntimeError as err:  # what the network could not take, in torch's words
            raise ValueError(
                f"the network cannot take inputs of shape {tuple(x.shape)} ({x.dtype}): "
                f"{str(err).splitlines()[0]}"
            ) from err

    def _inputs(self, x: Any, net: nn.Module) -> torch.Tensor:
        """``x`` as the network takes it (NumPy arrays as tensors, float64 as the network's
        float dtype), or an error that names what was expected and the fix."""
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(np.ascontiguousarray(x))
        if not isinstance(x, torch.Tensor):
            if isinstance(x, Iterable) and not isinstance(x, (list, tuple)):
                raise TypeError(
                    f"predict takes a tensor of inputs, got a {type(x).__name__}: for the "
                    "batches of a loader use post.predict_loader(loader)"
                )
            raise TypeError(
                f"predict takes a tensor (or NumPy array) of inputs, got a {type(x).__name__}"
                ": torch.as_tensor(x) if it holds numbers"
            )
        if x.is_meta:
            raise ValueError("predict got inputs on the meta device: they hold no values")
        if x.dtype in (torch.uint8, torch.bool):
            raise ValueError(
                f"predict got {x.dtype} inputs; the network takes floats: x.float() / 255 "
                "for 0-255 images (the scale it was trained on)"
            )
        dtype = next(itertools.chain(net.parameters(), [torch.empty(())])).dtype
        if x.dtype == torch.float64 and dtype != torch.float64:
            x = x.to(dtype)  # NumPy's default float: the same numbers, as the network takes them
        expected = self.info.get("input_shape")
        if expected is not None and list(x.shape[1:]) != list(expected):
            raise ValueError(_shape_fix(tuple(x.shape), tuple(expected)))
        if x.dim() == 0 or x.shape[0] == 0:
            raise ValueError("predict got an empty input batch")
        check_finite(x)
        return x

    def _check_draws(self, draws: dict[str, torch.Tensor]) -> None:
        """Draws must cover every sampled weight and name nothing the model lacks: a draw
        set that does not match the network would silently predict with point weights."""
        weights, latent = self._sites
        missing = sorted(weights - set(draws))
        unknown = sorted(set(draws) - self._names - latent)
        if missing or unknown:
            raise ValueError(
                f"the draws do not match the network: missing weight sites {missing[:5]}"
                f"{' ...' if len(missing) > 5 else ''}, unknown names {unknown[:5]}"
                f"{' ...' if len(unknown) > 5 else ''}"
            )

    def to_arviz(
        self,
        x_eval: torch.Tensor | None = None,
        y_eval: torch.Tensor | None = None,
        num_samples: int = 200,
    ):
        """Export to ``arviz.InferenceData`` (see ``bayesnet.diagnostics.to_arviz``)."""
        from .diagnostics import to_arviz

        return to_arviz(self, x_eval, y_eval, num_samples)

    # -- persistence -------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the posterior to one file, atomically (see ``bayesnet.checkpoint``)."""
        return save_atomic(
            {
                "format": FORMAT,
                "sampler": self.sampler.kind,
                "sampler_state": self.sampler.state(),
                "model_state": self.model.state_dict(),
                "arch": architecture(self.model),
                "info": self.info,
                "normalization": self.normalization,
                "cached": self.cached,
                "temperature": self.temperature,
                "distance": None if self.distance is None else self.distance.state(),
            },
            path,
        )

    @classmethod
    def load(cls, path: str | Path, model: BayesianModel, map_location=None) -> Posterior:
        """Rebuild a saved posterior on ``model`` (which must have the same architecture).
        A regression posterior whose noise was fitted with it (``info["noise"]``: SWAG,
        IVON, the baselines) gets that noise back, whatever ``model`` was built with."""
        payload = load_safe(
            path,
            map_location=map_location,
            format=FORMAT,
            keys=("sampler", "sampler_state", "model_state", "arch", "info"),
        )
        check_architecture(model, payload["arch"], path)
        load_state(model, payload["model_state"], path, "model state")
        kind = payload["sampler"]
        if not isinstance(kind, str) or kind not in SAMPLERS:
            raise CheckpointError(
                f"{path} holds a sampler of unknown kind {kind!r}; this version reads "
                f"{', '.join(map(repr, sorted(SAMPLERS)))}"
            )
        try:
            sampler = SAMPLERS[kind].from_state(model, payload["sampler_state"], path)
        except CheckpointError:
            raise
        except (KeyError, TypeError, IndexError, AttributeError, ValueError, RuntimeError) as err:
            raise CheckpointError(
                f"{path}: its {kind} sampler state cannot be read ({type(err).__name__}: {err})"
            ) from err
        noise = payload["info"].get("noise") if isinstance(payload["info"], dict) else None
        if isinstance(model, Regressor) and isinstance(noise, float):
            model.noise = noise
        cached = payload.get("cached") or {}
        if not isinstance(cached, dict) or not all(
            isinstance(v, torch.Tensor) and v.dim() and len(v) == _count(cached)
            for v in cached.values()
        ):
            raise CheckpointError(f"{path}: its kept draws are not tensors of one number of draws")
        temperature = payload.get("temperature", 1.0)
        try:
            distance = payload.get("distance")
            distance = None if distance is None else FeatureDistance(**distance)
            return cls(
                model,
                sampler,
                payload["info"],
                payload.get("normalization"),
                cached,
                temperature,
                distance,
            )
        except (ValueError, TypeError) as err:
            raise CheckpointError(f"{path}: {err}") from err


def _forward(net: nn.Module, params, x, strategy, link) -> torch.Tensor:
    """``net`` on ``x`` for each draw in ``params`` (none: the network as it is)."""
    if not params:
        return link(net(x)).unsqueeze(0)
    if strategy == "vmap":
        return vmap(lambda p: link(functional_call(net, p, (x,))))(params)
    num = next(iter(params.values())).shape[0]
    return torch.stack(
        [link(functional_call(net, {k: v[s] for k, v in params.items()}, (x,))) for s in range(num)]
    )


def _twin_links(twin: nn.Module, net: nn.Module) -> list[tuple[torch.Tensor, nn.Module, str]]:
    """For every tensor of the plain twin, the module and attribute of ``net`` it mirrors: a
    Bayesian layer's ``weight`` mirrors its ``weight_point`` buffer; a distance-aware head's
    statistics belong to the draws and mirror nothing."""
    modules = dict(net.named_modules())
    links = []
    for full, tensor in itertools.chain(twin.named_parameters(), twin.named_buffers()):
        path, _, name = full.rpartition(".")
        if name in DISTANCE_STATISTICS and isinstance(twin.get_submodule(path), DistanceLinear):
            continue
        module = modules[path]
        if isinstance(module, BayesianLayer) and name in module.param_names:
            name = f"{name}_point"
        links.append((tensor, module, name))
    return links


def log_mean_softmax(logits: torch.Tensor) -> torch.Tensor:
    """``log mean_s softmax(logits_s)`` over the draws of ``logits [S, N, C]``: the log
    posterior predictive ``[N, C]``, computed stably (log-sum-exp)."""
    return logits.log_softmax(-1).logsumexp(0) - math.log(logits.shape[0])


def _tempered(link, temperature: float):
    """``link`` of the outputs divided by ``temperature``."""
    return lambda out: link(out / temperature)


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


def _shape_fix(got: tuple[int, ...], expected: tuple[int, ...]) -> str:
    """What is wrong with inputs of shape ``got`` for a network of inputs ``expected`` (one
    example's shape), and the fix."""
    wanted = f"the network takes inputs of shape [N, {', '.join(map(str, expected))}]"
    if got == expected:
        return f"{wanted}; got one input of shape {list(got)}: add the batch dimension, x[None]"
    if len(got) == len(expected) and got[1:] == expected[1:] and expected[0] == 1:
        return f"{wanted}; got {list(got)}, without the channel dimension: x.unsqueeze(1)"
    return f"{wanted}; got {list(got)}"


def _count(draws: dict[str, torch.Tensor]) -> int:
    """How many draws ``{name: [S, ...]}`` holds (0 for none)."""
    return next(iter(draws.values())).shape[0] if draws else 0


def architecture(model: nn.Module) -> dict[str, list[int]]:
    """Names and shapes of ``model``'s state: what a checkpoint must match to load."""
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def check_architecture(model: nn.Module, arch: dict[str, list[int]], source) -> None:
    """Raise if ``model``'s state does not have the names and shapes saved in ``arch``."""
    mine = architecture(model)
    if not isinstance(arch, dict):
        raise CheckpointError(f"{source} holds no architecture to check against")
    if mine != arch:
        missing = sorted(set(arch) - set(mine))[:3]
        extra = sorted(set(mine) - set(arch))[:3]
        shapes = [k for k in set(arch) & set(mine) if arch[k] != mine[k]][:3]
        raise CheckpointError(
            f"{source} was saved from a different architecture: missing {missing}, "
            f"unexpected {extra}, shape mismatch {shapes}"
        )
