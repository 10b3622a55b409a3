"""Settings of ``bayesnet compare``: a light module, so that ``bayesnet --help`` does not
import the evaluation and plotting stack the job itself needs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..data import REGRESSION, SOURCES
from ..evaluate.corruptions import CORRUPTIONS, SEVERITIES
from ..infer.networks.laplace import HESSIANS, SUBSETS
from ..priors import NAMES as PRIORS
from ..zoo import NAMES as MODELS

__all__ = [
    "CompareSettings",
    "HELP",
    "CHOICES",
    "QUICK",
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
    task: str = "classification"
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

    def quick(self, given: frozenset[str] = frozenset()) -> CompareSettings:
        """A smoke test: ``QUICK``'s values for every setting not in ``given`` (the ones the
        user set keep their values)."""
        small = {k: v for k, v in QUICK.items() if k not in given}
        return CompareSettings(**{**asdict(self), **small, "quick_run": True})

    def check(self) -> None:
        """Every setting that names something (methods, model, prior, data, corruptions,
        severities, numbers' ranges) checked at once, before any work or directory."""
        self.method_list()
        self.corruption_list()
        self.severity_list()
        self.held_out_classes()
        self.svi_temperature()
        parse_names(self.attacks, ATTACKS, "attacks")
        parse_names(self.demos, DEMOS, "demos")
        parse_floats(self.epsilons, "--epsilons")
        for name, choices in CHOICES.items():
            if getattr(self, name) not in choices:
                flag = "--" + name.replace("_", "-")
                raise ValueError(
                    f"{flag} {getattr(self, name)!r}: choose from {', '.join(choices)}"
                )
        if self.task == "regression":
            if self.data not in ("digits", *REGRESSION):
                raise ValueError(f"--task regression: --data is one of {', '.join(REGRESSION)}")
            return
        for spec in (self.data, *self.ood_sources()):
            if spec.partition(":")[0] not in SOURCES:
                raise ValueError(f"unknown data set {spec!r}; choose from {', '.join(SOURCES)}")
        if self.model not in MODELS and ":" not in self.model:
            raise ValueError(
                f"--model {self.model!r}: a zoo name ({', '.join(MODELS)}) or "
                "package.module:factory"
            )
        if not 0 < self.alpha < 1 or not 0 < self.validation < 1:
            raise ValueError("--alpha and --validation must lie in (0, 1)")
        small = [f.name for f in fields(self) if f.name in POSITIVE and getattr(self, f.name) < 1]
        if small:
            raise ValueError(f"{', '.join('--' + n.replace('_', '-') for n in small)} must be >= 1")

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


#: what ``--quick`` lowers (unless the option is given)
QUICK = {
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
#: settings with one value from a fixed list (the help shows it, ``check`` enforces it)
CHOICES = {
    "task": ("classification", "regression"),
    "prior": tuple(PRIORS),
    "laplace_subset": SUBSETS,
    "laplace_hessian": HESSIANS,
}
#: settings that count something
POSITIVE = (
    "epochs",
    "svi_epochs",
    "batch_size",
    "members",
    "sgmcmc_epochs",
    "sgmcmc_cycles",
    "hmc_subset",
    "hmc_warmup",
    "hmc_samples",
    "hmc_chains",
    "hmc_tree_depth",
    "num_samples",
)


def _listed(names) -> str:
    return ", ".join(names)


#: one line per option: what it does and what it takes (the defaults are added by the parser)
HELP = {
    "out": "the run directory (report.html, metrics.json, metrics.md, the posteriors)",
    "task": "classification (the softmax's questions, on images) or regression (a "
    "network's one noise level against the posterior's split into aleatoric and "
    f"epistemic parts, on --data {' or '.join(REGRESSION)}: diabetes unless given)",
    "data": f"the data set: digits, or NAME:PATH of local files, NAME one of {_listed(SOURCES)}",
    "model": f"the network: a zoo name ({_listed(MODELS)}) or package.module:factory",
    "ood": "extra out-of-distribution sets: comma-separated NAME:PATH (their test images)",
    "methods": "comma-separated methods besides the softmax (which always runs), of "
    f"{_listed(METHODS)}; multiswag is bn.fit, the recommendation; swag its one start",
    "held_out": "comma-separated classes left out of training and tested as OOD (e.g. 8,9)",
    "epochs": "epochs of one training of the network (the softmax's; bn.fit spends 1.5 "
    "trainings, the ensemble one per member)",
    "svi_epochs": "epochs of the SVI methods",
    "batch_size": "training batch size",
    "lr": "learning rate of the softmax, dropout and ensemble networks (Adam)",
    "svi_lr": "learning rate of the SVI methods",
    "prior": f"the weight prior of the Pyro-model methods (svi, sgmcmc, hmc): {_listed(PRIORS)}",
    "prior_scale": "the prior's width (its scale, gain or sigma1)",
    "temperature": "the SVI methods' posterior temperature (not temperature scaling): "
    "recommended (fit_svi's default), auto (chosen on a validation split) or a number",
    "validation": "fraction of the training set held out: temperature scaling fits on it, "
    "conformal sets calibrate on it",
    "dropout": "MC dropout's rate where the network has no dropout",
    "members": "deep ensemble members",
    "sgmcmc_epochs": "epochs of cyclical SG-MCMC",
    "sgmcmc_cycles": "its cosine cycles",
    "laplace_subset": f"the Laplace posterior's weights: {_listed(SUBSETS)}",
    "laplace_hessian": f"its curvature: {_listed(HESSIANS)}",
    "hmc_subset": "training images HMC conditions on (full-batch)",
    "hmc_warmup": "HMC warm-up steps per chain",
    "hmc_samples": "HMC draws per chain",
    "hmc_chains": "HMC chains",
    "hmc_tree_depth": "NUTS's largest tree depth",
    "attacks": f'comma-separated attacks of {_listed(ATTACKS)} ("" skips them)',
    "epsilons": "the attacks' comma-separated L-infinity budgets",
    "demos": f'comma-separated demonstrations of {_listed(DEMOS)} ("" skips them)',
    "corruptions": f"the common corruptions: all, or comma-separated names of "
    f'{_listed(CORRUPTIONS)} ("" skips them)',
    "severities": "comma-separated corruption severities among 1-5",
    "alpha": "the prediction sets' level is 1 - alpha (conformal and credible)",
    "num_samples": "posterior draws per prediction",
    "log_every": "N > 0 writes every N-th epoch of each SVI fit to <method>_log.jsonl",
    "device": "auto (CUDA when there is one), cpu, cuda or cuda:K",
    "seed": "seed of the split, the networks and the draws",
}
