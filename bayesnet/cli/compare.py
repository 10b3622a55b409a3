"""``bayesnet compare``: the softmax against its fixes and the Bayesian networks of the
same architecture, on the digits or ``--data NAME:PATH``; writes the run directory."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
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


def _fit_methods(settings: CompareSettings, train, val, num_classes: int, out: Path):
    """Fit every requested method on ``train``; returns posteriors and fit seconds."""
    methods = settings.method_list()
    fitted: dict[str, Posterior] = {}
    seconds: dict[str, float] = {}
    prior = priors.get(settings.prior, scale=settings.prior_scale)
    common = {"device": settings.device, "progress": settings.progress, "seed": settings.seed}

    def loader():
        return data.to_loader(train, settings.batch_size, seed=settings.seed)

    def timed(name: str, fit, on_softmax: bool = False, save: bool = True) -> None:
        """Fit ``name``; a method built on the softmax counts its training time too."""
        start = time.perf_counter()
        fitted[name] = fit()
        seconds[name] = time.perf_counter() - start
        if on_softmax:
            seconds[name] += seconds["softmax"]
        if save:
            fitted[name].save(out / f"posterior_{name}.pt")

    shape = tuple(train.tensors[0].shape[1:])

    def net():
        return zoo.build(settings.model, num_classes, shape)

    net()  # a network that does not fit the data fails here, before any training

    point = {"epochs": settings.epochs, "lr": settings.lr, **common}
    timed("softmax", lambda: baselines.point_estimate(net(), loader(), **point), save=False)
    softmax = fitted["softmax"]
    if "temperature" in methods:
        timed(
            "temperature",
            lambda: baselines.temperature_scaled(softmax, val.tensors),
            on_softmax=True,
            save=False,
        )
    if "dropout" in methods:
        timed(
            "dropout",
            lambda: baselines.mc_dropout(net(), loader(), p=settings.dropout, **point),
            save=False,
        )
    if "ensemble" in methods:
        timed(
            "ensemble",
            lambda: baselines.deep_ensemble(net(), loader(), members=settings.members, **point),
            save=False,
        )
    # The recommended posterior (bn.fit) and the other engines of plain networks, each with
    # its defaults, from a fresh network.
    engines = {
        "multiswag": lambda: fit(net(), loader(), epochs=settings.epochs, **common),
        "swag": lambda: fit(net(), loader(), epochs=settings.epochs, starts=1, **common),
        "ivon": lambda: fit_ivon(net(), loader(), epochs=settings.epochs, **common),
    }
    for name, engine in engines.items():
        if name in methods:
            timed(name, engine)
    # The SVI posteriors of Bayesian layers are fitted with fit_svi's defaults.
    for name, reparam in SVI_REPARAM.items():
        if name not in methods:
            continue
        model = Classifier(bayesianize(net(), prior=prior), num_data=len(train))
        timed(
            name,
            lambda model=model, reparam=reparam, name=name: fit_svi(
                model,
                loader(),
                epochs=settings.svi_epochs,
                lr=settings.svi_lr,
                temperature=settings.svi_temperature(),
                guide=MeanField(reparam=reparam),
                run=Run(
                    checkpoint_dir=out / "checkpoints" / name,
                    overwrite=True,  # a new compare run starts over in its directory
                    log=out / f"{name}_log.jsonl" if settings.log_every else None,
                    log_every=max(1, settings.log_every),
                    **common,
                ),
            ),
        )
    # the samplers normalise every draw with its own statistics: every layer Bayesian
    if "sgmcmc" in methods:
        model = Classifier(bayesianize(net(), prior=prior, stochastic="all"), len(train))
        timed(
            "sgmcmc",
            lambda: fit_sgmcmc(
                model,
                loader(),
                epochs=settings.sgmcmc_epochs,
                cycles=settings.sgmcmc_cycles,
                run=Run(checkpoint_dir=out / "checkpoints" / "sgmcmc", overwrite=True, **common),
            ),
        )
    if "laplace" in methods:  # around the softmax network
        timed(
            "laplace",
            lambda: fit_laplace(
                softmax,
                loader(),
                subset=settings.laplace_subset,
                hessian=settings.laplace_hessian,
                device=settings.device,
                progress=settings.progress,
            ),
            on_softmax=True,
        )
    if "hmc" in methods:
        x_sub, y_sub = (t[: settings.hmc_subset] for t in train.tensors)
        model = Classifier(bayesianize(softmax.net, prior=prior, stochastic="all"), len(x_sub))
        timed(
            "hmc",
            lambda: fit_hmc(
                model,
                (x_sub, y_sub),
                num_samples=settings.hmc_samples,
                warmup=settings.hmc_warmup,
                num_chains=settings.hmc_chains,
                max_tree_depth=settings.hmc_tree_depth,
                **common,
            ),
            on_softmax=True,
        )
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
