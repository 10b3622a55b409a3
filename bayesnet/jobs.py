"""The jobs behind the command line: ``compare`` (the main job) and ``train CONFIG``."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import torch

from . import data, diagnostics, priors, zoo
from .evaluate import compare
from .evaluate.shift import noise_like, rotate
from .infer import baselines, fit_hmc, fit_svi
from .models import Classifier
from .nn import bayesianize
from .posterior import Posterior

__all__ = ["CompareSettings", "run_compare", "run_diagnose", "run_train"]


METHODS = ("softmax", "svi", "hmc")


@dataclass
class CompareSettings:
    """Defaults of ``bayesnet compare``; ``quick`` shrinks them to a smoke test."""

    out: str = "runs/compare"
    methods: str = "softmax,svi"
    epochs: int = 30
    svi_epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    svi_lr: float = 1e-2
    prior: str = "normal"
    prior_scale: float = 1.0
    temperature: float = 0.1
    reparam: str | None = None
    hmc_subset: int = 300
    hmc_warmup: int = 100
    hmc_samples: int = 100
    hmc_chains: int = 2
    hmc_tree_depth: int = 5
    num_samples: int = 100
    device: str = "auto"
    seed: int = 0
    progress: bool = True

    def quick(self) -> CompareSettings:
        small = {
            "epochs": 2,
            "svi_epochs": 2,
            "num_samples": 10,
            "hmc_subset": 100,
            "hmc_warmup": 10,
            "hmc_samples": 10,
            "hmc_tree_depth": 3,
        }
        return CompareSettings(**{**asdict(self), **small})

    def method_list(self) -> list[str]:
        methods = [m.strip() for m in self.methods.split(",") if m.strip()]
        unknown = sorted(set(methods) - set(METHODS))
        if unknown or "softmax" not in methods:
            raise ValueError(f"--methods takes softmax plus any of svi, hmc; got {self.methods!r}")
        return methods


def _prior(name: str, scale: float) -> priors.Prior:
    """The named prior, rebuilt with ``scale`` where it has one (so the value is validated)."""
    prior = priors.get(name)
    return type(prior)(scale=scale) if hasattr(prior, "scale") else prior


def run_compare(settings: CompareSettings) -> dict[str, Any]:
    """Train the softmax point estimate and the Bayesian networks (SVI, HMC) of the same
    architecture on the digits, compare them in and out of distribution, and write the
    run directory."""
    methods = settings.method_list()
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)  # the networks' initial weights too
    train, test = data.digits(seed=settings.seed)
    x_test, y_test = test.tensors
    ood = {"noise": noise_like(x_test, seed=settings.seed), "rotated90": rotate(x_test, 90.0)}
    prior = _prior(settings.prior, settings.prior_scale)
    fitted: dict[str, Posterior] = {}
    seconds: dict[str, float] = {}

    def timed(name: str, fit) -> Posterior:
        start = time.perf_counter()
        fitted[name] = fit()
        seconds[name] = time.perf_counter() - start
        return fitted[name]

    def loader():
        return data.to_loader(train, settings.batch_size, seed=settings.seed)

    common = {"device": settings.device, "progress": settings.progress, "seed": settings.seed}
    softmax = timed(
        "softmax",
        lambda: baselines.point_estimate(
            zoo.digits_cnn(), loader(), epochs=settings.epochs, lr=settings.lr, **common
        ),
    )

    # The Bayesian networks start from the trained point estimate's weights.
    if "svi" in methods:
        model = Classifier(bayesianize(softmax.net, prior=prior), num_data=len(train))
        timed(
            "svi",
            lambda: fit_svi(
                model,
                loader(),
                epochs=settings.svi_epochs,
                lr=settings.svi_lr,
                temperature=settings.temperature,
                reparam=settings.reparam,
                checkpoint_dir=out,
                **common,
            ),
        )
        fitted["svi"].save(out / "posterior.pt")
    if "hmc" in methods:
        x_sub, y_sub = (t[: settings.hmc_subset] for t in train.tensors)
        model = Classifier(bayesianize(softmax.net, prior=prior), num_data=len(x_sub))
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
        )
        fitted["hmc"].save(out / "posterior_hmc.pt")
    bayesian = fitted.get("hmc") or fitted.get("svi")
    if bayesian is not None:
        bayesian.to_arviz(x_test, y_test).to_netcdf(out / "posterior.nc")

    report = compare(fitted, test=(x_test, y_test), ood=ood, num_samples=settings.num_samples)
    summary = {"settings": asdict(settings), "fit_seconds": seconds, "rows": report.rows}
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    report.to_markdown(out / "metrics.md")
    report.reliability_diagram(out / "reliability.png")
    report.to_html(out / "report.html")
    return {"report": report, **fitted, "summary": summary}


def run_diagnose(run_dir: str | Path) -> str:
    """Function- and weight-space summary of a run's ``posterior.nc``, with trace, rank
    and energy plots written beside it."""
    import arviz as az
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    path = run_dir / "posterior.nc"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run `bayesnet compare` first")
    idata = az.from_netcdf(path)
    text = str(diagnostics.summary(idata))
    last = min(
        idata.posterior.data_vars, key=lambda v: idata.posterior[v].size
    )  # a bias: few scalars
    plots = {"trace": az.plot_trace, "rank": az.plot_rank}
    for name, plot in plots.items():
        plot(idata, var_names=[last])
        plt.gcf().savefig(run_dir / f"{name}.png", dpi=90)
        plt.close("all")
    if "sample_stats" in idata.groups():
        az.plot_energy(idata)
        plt.gcf().savefig(run_dir / "energy.png", dpi=90)
        plt.close("all")
    return text


TRAIN_SECTIONS = {"data", "model", "svi", "output"}


def run_train(config_path: str | Path) -> Posterior:
    """Run an SVI training script described by a TOML file (see docs/train.md)."""
    config = tomllib.loads(Path(config_path).read_text())
    unknown = set(config) - TRAIN_SECTIONS
    if unknown:
        raise ValueError(
            f"{config_path}: unknown sections {sorted(unknown)}; use {sorted(TRAIN_SECTIONS)}"
        )
    data_cfg = dict(config.get("data", {}))
    model_cfg = dict(config.get("model", {}))
    svi_cfg = dict(config.get("svi", {}))
    out = Path(config.get("output", {}).get("dir", "runs/train"))

    name = data_cfg.pop("name", "digits")
    if name != "digits":
        raise ValueError(
            f"{config_path}: unknown data set {name!r}; this version trains on 'digits'"
        )
    batch_size = data_cfg.pop("batch_size", 64)
    seed = data_cfg.pop("seed", 0)
    _no_extra(data_cfg, "data", config_path)
    train, _ = data.digits(seed=seed)

    arch = model_cfg.pop("arch", "digits_cnn")
    if arch != "digits_cnn":
        raise ValueError(f"{config_path}: unknown architecture {arch!r}")
    prior = _prior(model_cfg.pop("prior", "normal"), model_cfg.pop("prior_scale", 1.0))
    last_layer = model_cfg.pop("last_layer", False)
    _no_extra(model_cfg, "model", config_path)
    net = bayesianize(zoo.digits_cnn(), prior=prior, last_layer=last_layer)
    model = Classifier(net, num_data=len(train))
    svi_cfg.setdefault("checkpoint_dir", str(out))
    svi_cfg.setdefault("seed", seed)
    try:
        post = fit_svi(model, data.to_loader(train, batch_size, seed=seed), **svi_cfg)
    except TypeError as err:
        raise ValueError(f"{config_path}: bad [svi] option ({err})") from err
    post.save(out / "posterior.pt")
    return post


def _no_extra(section: dict, name: str, source) -> None:
    if section:
        raise ValueError(f"{source}: unknown keys in [{name}]: {sorted(section)}")
