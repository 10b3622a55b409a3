"""``bayesnet compare``: the softmax against its fixes and the Bayesian networks of the
same architecture, on the digits or ``--data NAME:PATH``; writes the run directory."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from .. import __version__, data, priors, zoo
from ..evaluate import compare
from ..evaluate.attacks import fooling_images
from ..evaluate.findings import BAYESIAN_METHODS
from ..evaluate.shift import SHIFTS, noise_like, rotate
from ..infer import MeanField, baselines, fit, fit_hmc, fit_ivon, fit_laplace, fit_sgmcmc, fit_svi
from ..models import Classifier
from ..nn import bayesianize
from ..posterior import Posterior
from ..run import Run
from .demos import segmentation_demo, toy_demo
from .settings import ATTACKS, DEMOS, SVI_REPARAM, CompareSettings, parse_floats, parse_names

__all__ = ["CompareSettings", "run_compare", "EXPORTED"]

#: the posterior ``posterior.nc`` holds, for ``bayesnet diagnose``: the first of these the
#: run fitted (samplers first: convergence is what their chains can be checked for)
EXPORTED = ("hmc", "sgmcmc", *(m for m in BAYESIAN_METHODS if m not in ("hmc", "sgmcmc")))


def _split(settings: CompareSettings):
    """Train / validation / test sets and the OOD inputs: the held-out classes, uniform
    noise, the test images rotated by 90 degrees and the test images of ``--ood`` sets."""
    train, test = data.load(settings.data, seed=settings.seed)
    ood: dict[str, torch.Tensor] = {}
    held_out = settings.held_out_classes()
    if held_out:
        train, _ = data.held_out_classes(train, held_out)
        test, ood["held_out_classes"] = data.held_out_classes(test, held_out)
    train, val = data.validation_split(train, settings.validation, seed=settings.seed)
    x_test = test.tensors[0]
    ood["noise"] = noise_like(x_test, seed=settings.seed)
    ood["rotated90"] = rotate(x_test, 90.0)
    for spec in settings.ood_sources():
        x_ood = data.load(spec, seed=settings.seed)[1].tensors[0]
        if x_ood.shape[1:] != x_test.shape[1:]:
            raise ValueError(
                f"--ood {spec}: images of shape {tuple(x_ood.shape[1:])}, the test images "
                f"are {tuple(x_test.shape[1:])}"
            )
        ood[spec.partition(":")[0]] = x_ood
    return train, val, test, ood


@dataclass(frozen=True)
class _Fit:
    """One method of the comparison, fitted when run."""

    fit: Callable[[], Posterior]
    on_softmax: bool = False  # built on the softmax: its training time counts too
    save: bool = True


@dataclass(frozen=True)
class _Inputs:
    """What every method's fit is built from."""

    settings: CompareSettings
    train: Any
    num_classes: int
    out: Path

    def net(self) -> torch.nn.Module:
        shape = tuple(self.train.tensors[0].shape[1:])
        return zoo.build(self.settings.model, self.num_classes, shape)

    def loader(self):
        return data.to_loader(self.train, self.settings.batch_size, seed=self.settings.seed)

    def common(self) -> dict[str, Any]:
        s = self.settings
        return {"device": s.device, "progress": s.progress, "seed": s.seed}

    def point(self) -> dict[str, Any]:
        """The point estimate's training, shared by the softmax, dropout and the ensemble."""
        return {"epochs": self.settings.epochs, "lr": self.settings.lr, **self.common()}

    def bayesian(self, net: torch.nn.Module, num_data: int, **policy: Any) -> Classifier:
        prior = priors.get(self.settings.prior, scale=self.settings.prior_scale)
        return Classifier(bayesianize(net, prior=prior, **policy), num_data=num_data)

    def run(self, name: str, **options: Any) -> Run:
        """A run that checkpoints under the run directory, started over each time."""
        checkpoints = self.out / "checkpoints" / name
        return Run(checkpoint_dir=checkpoints, overwrite=True, **options, **self.common())


def _baseline_fits(given: _Inputs, val, softmax: Posterior) -> dict[str, _Fit]:
    """The usual fixes of the softmax: temperature scaling, MC dropout, a deep ensemble."""
    s, point = given.settings, given.point()
    return {
        "temperature": _Fit(
            lambda: baselines.temperature_scaled(softmax, val.tensors), on_softmax=True, save=False
        ),
        "dropout": _Fit(
            lambda: baselines.mc_dropout(given.net(), given.loader(), p=s.dropout, **point),
            save=False,
        ),
        "ensemble": _Fit(
            lambda: baselines.deep_ensemble(
                given.net(), given.loader(), members=s.members, **point
            ),
            save=False,
        ),
    }


def _network_fits(given: _Inputs) -> dict[str, _Fit]:
    """The recommended posterior (bn.fit) and the other engines of plain networks, each
    with its defaults, from a fresh network."""
    kw = {"epochs": given.settings.epochs, **given.common()}
    return {
        "multiswag": _Fit(lambda: fit(given.net(), given.loader(), **kw)),
        "swag": _Fit(lambda: fit(given.net(), given.loader(), starts=1, **kw)),
        "ivon": _Fit(lambda: fit_ivon(given.net(), given.loader(), **kw)),
    }


def _svi_fit(given: _Inputs, name: str, reparam: str | None) -> _Fit:
    """An SVI posterior of Bayesian layers with ``fit_svi``'s defaults."""
    s = given.settings
    log = given.out / f"{name}_log.jsonl" if s.log_every else None
    return _Fit(
        lambda: fit_svi(
            given.bayesian(given.net(), len(given.train)),
            given.loader(),
            epochs=s.svi_epochs,
            lr=s.svi_lr,
            temperature=s.svi_temperature(),
            guide=MeanField(reparam=reparam),
            run=given.run(name, log=log, log_every=max(1, s.log_every)),
        )
    )


def _model_fits(given: _Inputs, softmax: Posterior) -> dict[str, _Fit]:
    """The Bayesian networks of Bayesian layers: SVI, SG-MCMC, Laplace and HMC (the
    samplers normalise every draw with its own statistics: every layer Bayesian)."""
    s = given.settings
    x_sub, y_sub = (t[: s.hmc_subset] for t in given.train.tensors)
    fits = {name: _svi_fit(given, name, reparam) for name, reparam in SVI_REPARAM.items()}
    fits["sgmcmc"] = _Fit(
        lambda: fit_sgmcmc(
            given.bayesian(given.net(), len(given.train), stochastic="all"),
            given.loader(),
            epochs=s.sgmcmc_epochs,
            cycles=s.sgmcmc_cycles,
            run=given.run("sgmcmc"),
        )
    )
    fits["laplace"] = _Fit(  # around the softmax network
        lambda: fit_laplace(
            softmax,
            given.loader(),
            subset=s.laplace_subset,
            hessian=s.laplace_hessian,
            device=s.device,
            progress=s.progress,
        ),
        on_softmax=True,
    )
    fits["hmc"] = _Fit(
        lambda: fit_hmc(
            given.bayesian(softmax.net, len(x_sub), stochastic="all"),
            (x_sub, y_sub),
            num_samples=s.hmc_samples,
            warmup=s.hmc_warmup,
            num_chains=s.hmc_chains,
            max_tree_depth=s.hmc_tree_depth,
            **given.common(),
        ),
        on_softmax=True,
    )
    return fits


def _fit_methods(settings: CompareSettings, train, val, num_classes: int, out: Path):
    """Fit every requested method on ``train`` (the softmax first: some are built on it);
    returns posteriors and fit seconds."""
    given = _Inputs(settings, train, num_classes, out)
    given.net()  # a network that does not fit the data fails here, before any training
    fitted: dict[str, Posterior] = {}
    seconds: dict[str, float] = {}

    def timed(name: str, method: _Fit) -> None:
        start = time.perf_counter()
        fitted[name] = method.fit()
        seconds[name] = time.perf_counter() - start
        if method.on_softmax:
            seconds[name] += seconds["softmax"]
        if method.save:
            fitted[name].save(out / f"posterior_{name}.pt")

    point = given.point()
    timed(
        "softmax",
        _Fit(lambda: baselines.point_estimate(given.net(), given.loader(), **point), save=False),
    )
    softmax = fitted["softmax"]
    methods = settings.method_list()
    fits = {**_baseline_fits(given, val, softmax), **_network_fits(given)}
    fits.update(_model_fits(given, softmax))
    for name, method in fits.items():
        if name in methods:
            timed(name, method)
    return fitted, seconds


def provenance(
    settings: CompareSettings, argv: list[str] | None, sizes: tuple[int, int, int], seconds: float
) -> str:
    """One line on how the run was made: the command, the settings that differ from the
    defaults, whether it was a smoke test, the version, the seed, the data, the duration."""
    command = " ".join(["bayesnet", *(argv or ["compare"])])
    defaults = asdict(CompareSettings())
    changed = [
        f"{k}={v}"
        for k, v in asdict(settings).items()
        if k not in ("quick_run", "progress") and v != defaults[k]
    ]
    kind = (
        "a --quick smoke test (tiny settings: not results)" if settings.quick_run else "a full run"
    )
    train, val, test = sizes
    return (
        f"bayesnet {__version__}, `{command}`: {kind}; settings that differ from the defaults: "
        f"{', '.join(changed) or 'none'}; seed {settings.seed}; data {settings.data} "
        f"({train} train, {val} validation, {test} test); {seconds:.0f} s"
    )


def run_compare(
    settings: CompareSettings, given: list[str] | None = None, argv: list[str] | None = None
) -> dict[str, Any]:
    """Train the softmax point estimate, the baselines and the Bayesian networks of the
    same architecture on ``settings.data``; compare them in distribution, out of distribution
    (noise, rotation, held-out classes, fooling images), along the shift suite and under
    attack; add the toy and per-pixel demonstrations; write the run directory (its report
    opens with ``provenance``; ``given``: the options the user set, ``argv`` the command)."""
    started = time.perf_counter()
    settings.check()
    attacks = parse_names(settings.attacks, ATTACKS, "attacks")
    epsilons = parse_floats(settings.epsilons, "--epsilons")
    demos = parse_names(settings.demos, DEMOS, "demos")
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)  # the networks' initial weights too
    train, val, test, ood = _split(settings)
    x_test, y_test = test.tensors
    num_classes = int(train.tensors[1].max()) + 1
    fitted, seconds = _fit_methods(settings, train, val, num_classes, out)
    ood["fooling"] = fooling_images(
        fitted["softmax"],
        tuple(x_test.shape[1:]),
        list(range(num_classes)) * 2,
        steps=20 if settings.quick_run else 200,
        seed=settings.seed,
    )
    bayesian = next((fitted[m] for m in EXPORTED if m in fitted), None)
    if bayesian is not None:
        bayesian.to_arviz(x_test, y_test).to_netcdf(out / "posterior.nc")

    report = compare(
        fitted,
        test=(x_test, y_test),
        ood=ood,
        shifts={name: severities for name, (_, severities) in SHIFTS.items()},
        attacks={name: epsilons for name in attacks},
        num_samples=settings.num_samples,
        calibration=val.tensors if len(val) else None,
        alpha=settings.alpha,
        corruptions=settings.corruption_list() if settings.corruptions else (),
        severities=settings.severity_list(),
    )
    for row in report.select("test"):
        row["fit_seconds"] = seconds[row["method"]]
        info = fitted[row["method"]].info  # the posterior's temperature, the collapse check
        row.update({k: info[k] for k in ("temperature", "collapsed") if k in info})
    common = {"seed": settings.seed, "quick": settings.quick_run, "progress": settings.progress}
    if "toy" in demos:
        toy = toy_demo(hmc=True, **common)
        report.add_rows(toy.rows)
        report.add_figure("Far from the data", toy.figure)
    if "pixel" in demos:
        digits_train, digits_test = data.digits(seed=settings.seed)
        pixel = segmentation_demo(digits_train, digits_test, **common)
        report.add_rows(pixel.rows)
        report.add_figure("Per-pixel uncertainty", pixel.figure, pixel.note)
    sizes = (len(train), len(val), len(test))
    report.provenance = provenance(settings, argv, sizes, time.perf_counter() - started)
    summary = {
        "settings": asdict(settings),
        "given": given or [],
        "provenance": report.provenance,
        "fit_seconds": seconds,
        "rows": report.rows,
    }
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    report.to_markdown(out / "metrics.md")
    report.reliability_diagram(out / "reliability.png")
    report.to_html(out / "report.html")
    return {"report": report, **fitted, "summary": summary}
