"""Settings of ``bayesnet compare``: a light module, so that ``bayesnet --help`` does not
import the evaluation and plotting stack the job itself needs."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..evaluate.corruptions import CORRUPTIONS, SEVERITIES

__all__ = [
    "CompareSettings",
    "METHODS",
    "ATTACKS",
    "DEMOS",
    "SVI_REPARAM",
    "parse_names",
    "parse_floats",
]


SVI_REPARAM = {"svi": None, "svi_local": "local", "svi_flipout": "flipout"}
METHODS = (
    "softmax",
    "temperature",
    "dropout",
    "ensemble",
    "multiswag",
    "swag",
    "ivon",
    *SVI_REPARAM,
    "sgmcmc",
    "laplace",
    "hmc",
)
ATTACKS = ("fgsm", "pgd")
DEMOS = ("toy", "pixel")


def parse_names(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    found = [m.strip() for m in text.split(",") if m.strip()]
    unknown = sorted(set(found) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; choose from {', '.join(allowed)}")
    return found


def parse_floats(text: str, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as err:
        raise ValueError(f"{what} must be comma-separated numbers, got {text!r}") from err
    if not values:
        raise ValueError(f"{what} is an empty list")
    return values


@dataclass
class CompareSettings:
    """Defaults of ``bayesnet compare``; ``quick`` shrinks them to a smoke test.

    ``data``: ``digits`` or ``NAME:PATH`` (``bn.data.SOURCES``); ``model``: a zoo name or
    ``package.module:factory``; ``ood``: comma-separated ``NAME:PATH`` data sets whose test
    images are extra out-of-distribution sets (beside noise and rotated test images).
    ``log_every``: N > 0 writes every N-th epoch of each SVI fit to ``<method>_log.jsonl``
    in the run directory.
    ``methods``: any of ``METHODS`` (softmax always runs: every method is compared with it);
    ``multiswag`` is ``bn.fit``, the recommended posterior, ``swag`` its one-start form
    (``bn.fit(starts=1)``), ``ivon`` ``bn.fit_ivon``; they train for ``epochs``.
    ``laplace_subset`` / ``laplace_hessian``: ``fit_laplace``'s ``subset`` and ``hessian``
    (the Laplace posterior is taken around the softmax network).
    ``held_out``: comma-separated digit classes left out of training and used as an OOD
    set. ``demos``: the toy and per-pixel sections of the report (``""`` skips both).
    ``corruptions``: the common corruptions (``evaluate.corruptions``) at ``severities``
    (``all``, or names; ``""`` skips them); ``alpha``: the prediction sets' level
    ``1 - alpha``, conformal sets calibrated on the validation split.
    """

    out: str = "runs/compare"
    data: str = "digits"
    model: str = "digits_cnn"
    ood: str = ""
    methods: str = "softmax,temperature,dropout,ensemble,multiswag"
    held_out: str = ""
    epochs: int = 30
    svi_epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    svi_lr: float = 1e-2
    prior: str = "normal"
    prior_scale: float = 1.0
    temperature: str = "recommended"
    validation: float = 0.1
    dropout: float = 0.1
    members: int = 5
    sgmcmc_epochs: int = 60
    sgmcmc_cycles: int = 4
    laplace_subset: str = "all"
    laplace_hessian: str = "kron"
    hmc_subset: int = 300
    hmc_warmup: int = 100
    hmc_samples: int = 100
    hmc_chains: int = 2
    hmc_tree_depth: int = 5
    attacks: str = "fgsm,pgd"
    epsilons: str = "0,0.05,0.1,0.2"
    demos: str = "toy,pixel"
    corruptions: str = "all"
    severities: str = "1,2,3,4,5"
    alpha: float = 0.1
    num_samples: int = 100
    log_every: int = 0
    device: str = "auto"
    seed: int = 0
    progress: bool = True
    quick_run: bool = False

    def quick(self) -> CompareSettings:
        small = {
            "epochs": 2,
            "svi_epochs": 2,
            "sgmcmc_epochs": 4,
            "sgmcmc_cycles": 2,
            "members": 2,
            "num_samples": 10,
            "hmc_subset": 100,
            "hmc_warmup": 10,
            "hmc_samples": 10,
            "hmc_tree_depth": 3,
            "epsilons": "0,0.1",
            "corruptions": "gaussian_noise,motion_blur,fog,contrast",
            "severities": "1,5",
        }
        return CompareSettings(**{**asdict(self), **small, "quick_run": True})

    def corruption_list(self) -> list[str]:
        if self.corruptions.strip() == "all":
            return list(CORRUPTIONS)
        return parse_names(self.corruptions, tuple(CORRUPTIONS), "corruptions")

    def severity_list(self) -> list[int]:
        levels = parse_floats(self.severities, "--severities") if self.severities else []
        if any(v not in SEVERITIES for v in levels):
            raise ValueError(f"--severities must be among {SEVERITIES}, got {self.severities!r}")
        return [int(v) for v in levels]

    def method_list(self) -> list[str]:
        methods = parse_names(self.methods, METHODS, "methods")
        return ["softmax"] + [m for m in methods if m != "softmax"]

    def svi_temperature(self) -> float | str | None:
        """``--temperature``: a number, ``auto`` (picked on a validation split) or
        ``recommended`` (``fit_svi``'s default for the network: None)."""
        if self.temperature == "recommended":
            return None
        if self.temperature == "auto":
            return "auto"
        return parse_floats(self.temperature, "--temperature")[0]

    def ood_sources(self) -> list[str]:
        return [s.strip() for s in self.ood.split(",") if s.strip()]

    def held_out_classes(self) -> list[int]:
        return [int(c) for c in parse_floats(self.held_out, "--held-out")] if self.held_out else []
