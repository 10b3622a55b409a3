"""Variational families as typed options: ``MeanField(init_scale=...)``,
``LowRank(rank=...)``, ``FullRank()``, ``Delta()``, or a family of the user's own.

A family is a small frozen object that says which guide to build and with what options;
``fit_svi(model, loader, guide=LowRank(rank=5))`` cannot express an option of another
family (``rank`` belongs to ``LowRank`` alone, ``reparam`` to ``MeanField``). As in TyXe,
the guide itself is built by the family from the model, so users bring their own by
subclassing ``GuideFamily``:

    @dataclass(frozen=True)
    class Normal(bn.infer.GuideFamily):
        name = "my_normal"            # the key saved posteriors record
        init_scale: float = 0.05

        def build(self, model, init_loc_fn):
            return pyro.infer.autoguide.AutoNormal(model, init_loc_fn=init_loc_fn,
                                                   init_scale=self.init_scale)

Saved posteriors and checkpoints store a family as its ``name`` and ``options()`` (plain
numbers and strings, read without unpickling code); loading looks the name up among the
subclasses defined so far, so a user family loads wherever its class has been imported.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from pyro import poutine
from torch import nn

from .guides import FullRankNormal, LowRankNormal, MeanFieldNormal, PointMass
from .initial import init_strategy
from .reparam import REPARAMS

__all__ = [
    "GuideFamily",
    "MeanField",
    "LowRank",
    "FullRank",
    "Delta",
    "GUIDES",
    "guide_family",
    "family_from_spec",
    "make_guide",
]

_REGISTRY: dict[str, type[GuideFamily]] = {}


class GuideFamily(ABC):
    """The guide protocol: a family has a ``name`` (unique; what saved files record),
    ``build(model, init_loc_fn) -> guide`` (a Pyro guide over the model's latent sites, an
    ``nn.Module`` whose parameters the optimiser trains; ``init_loc_fn`` is Pyro's init
    strategy for where its means start) and ``options()`` (keywords that rebuild it).
    Subclasses register themselves under ``name``; a frozen dataclass gets ``options``
    from its fields."""

    name: ClassVar[str]
    #: local reparameterization or flipout (the mean-field family alone can run them)
    reparam: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if not isinstance(name, str):
            raise TypeError(f"guide family {cls.__name__} needs a class attribute name: str")
        _REGISTRY[name] = cls

    @abstractmethod
    def build(self, model: Callable, init_loc_fn: Callable) -> nn.Module:
        """The guide for ``model`` (the likelihood hidden), its means from ``init_loc_fn``."""

    def options(self) -> dict[str, Any]:
        """The keywords ``type(self)(**options)`` rebuilds this family from."""
        return dataclasses.asdict(self) if dataclasses.is_dataclass(self) else {}

    def spec(self) -> dict[str, Any]:
        """``name`` and ``options()``: what saved files record."""
        return {"name": self.name, **self.options()}


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


@dataclasses.dataclass(frozen=True)
class MeanField(GuideFamily):
    """Independent Normals per weight (analytic KL against Normal priors), standard
    deviations starting at ``init_scale``; ``reparam``: None, ``"local"`` (local
    reparameterization) or ``"flipout"``."""

    name = "mean_field"
    init_scale: float = 1e-2
    reparam: str | None = None

    def __post_init__(self) -> None:
        _positive("init_scale", self.init_scale)
        if self.reparam not in (None, *REPARAMS):
            raise ValueError(
                f"reparam must be None or one of {tuple(REPARAMS)}, got {self.reparam!r}"
            )

    def build(self, model, init_loc_fn):
        return MeanFieldNormal(model, init_loc_fn=init_loc_fn, init_scale=float(self.init_scale))


@dataclasses.dataclass(frozen=True)
class LowRank(GuideFamily):
    """A Normal with a diagonal plus rank-``rank`` covariance (Pyro's
    ``AutoLowRankMultivariateNormal``; None: its default, about the square root of the
    number of weights)."""

    name = "low_rank"
    rank: int | None = None
    init_scale: float = 1e-2

    def __post_init__(self) -> None:
        _positive("init_scale", self.init_scale)
        if self.rank is not None and not (isinstance(self.rank, int) and self.rank >= 1):
            raise ValueError(f"rank must be a positive int or None, got {self.rank!r}")

    def build(self, model, init_loc_fn):
        return LowRankNormal(
            model, init_loc_fn=init_loc_fn, init_scale=float(self.init_scale), rank=self.rank
        )


@dataclasses.dataclass(frozen=True)
class FullRank(GuideFamily):
    """A Normal with a full covariance over all weights (small models only)."""

    name = "full_rank"
    init_scale: float = 1e-2

    def __post_init__(self) -> None:
        _positive("init_scale", self.init_scale)

    def build(self, model, init_loc_fn):
        return FullRankNormal(model, init_loc_fn=init_loc_fn, init_scale=float(self.init_scale))


@dataclasses.dataclass(frozen=True)
class Delta(GuideFamily):
    """A point mass per weight: SVI with it is maximum a posteriori."""

    name = "delta"

    def build(self, model, init_loc_fn):
        return PointMass(model, init_loc_fn=init_loc_fn)


#: the built-in families by name (``fit_svi(guide="low_rank")`` is ``LowRank()``)
GUIDES = ("mean_field", "low_rank", "full_rank", "delta")


def guide_family(guide: str | GuideFamily) -> GuideFamily:
    """``guide`` as a family: a family as it is, a built-in's name as its defaults."""
    if isinstance(guide, GuideFamily):
        return guide
    if isinstance(guide, str) and guide in GUIDES:
        return _REGISTRY[guide]()
    raise ValueError(
        f"unknown guide {guide!r}: pass a GuideFamily (MeanField(), LowRank(rank=...), "
        f"FullRank(), Delta(), or your own) or one of {GUIDES}"
    )


def family_from_spec(spec: dict[str, Any]) -> GuideFamily:
    """The family a saved ``spec`` names (``GuideFamily.spec``); keys that are not its
    options are ignored, so files of earlier versions (which stored ``init_scale`` and
    ``rank`` for every family) still load."""
    cls = _REGISTRY.get(spec["name"])
    if cls is None:
        raise ValueError(
            f"the guide family {spec['name']!r} is not defined: import the module that "
            "defines it (a GuideFamily subclass) before loading"
        )
    fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    return cls(**{k: v for k, v in spec.items() if k in fields and v is not None})


def make_guide(model, guide: str | GuideFamily = "mean_field", init: str = "point_estimate"):
    """Build ``guide``'s guide for ``model``; ``init`` chooses where its means start."""
    family = guide_family(guide)
    init_loc_fn = init_strategy(model, init)
    # Guides cover the latent sites only; hiding the likelihood lets them be set up
    # from inputs alone (the labels are not needed to know the weights' shapes).
    return family.build(poutine.block(model, hide=["obs"]), init_loc_fn)
