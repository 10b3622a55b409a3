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

from . import data, priors, zoo
from .evaluate import compare
from .evaluate.shift import noise_like, rotate
from .infer import baselines, fit_svi
from .models import Classifier
from .nn import bayesianize
from .posterior import Posterior

__all__ = ["CompareSettings", "run_compare", "run_train"]


@dataclass
class CompareSettings:
    """Defaults of ``bayesnet compare``; ``quick`` shrinks them to a smoke test."""

    out: str = "runs/compare"
    epochs: int = 30
    svi_epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    svi_lr: float = 1e-2
    prior: str = "normal"
    prior_scale: float = 1.0
    temperature: float = 0.1
    reparam: str | None = None
    num_samples: int = 100
    device: str = "auto"
    seed: int = 0
    progress: bool = True

    def quick(self) -> CompareSettings:
        return CompareSettings(**{**asdict(self), "epochs": 2, "svi_epochs": 2, "num_samples": 10})


def _prior(name: str, scale: float) -> priors.Prior:
    prior = priors.get(name)
    if hasattr(prior, "scale"):
        prior.scale = scale
    return prior


def run_compare(settings: CompareSettings) -> dict[str, Any]:
    """Train the softmax point estimate and the SVI BNN of the same architecture on the
    digits, compare them in and out of distribution, and write the run directory."""
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)  # the networks' initial weights too
    train, test = data.digits(seed=settings.seed)
    x_test, y_test = test.tensors
    ood = {"noise": noise_like(x_test, seed=settings.seed), "rotated90": rotate(x_test, 90.0)}

    start = time.perf_counter()
    softmax = baselines.point_estimate(
        zoo.digits_cnn(),
        data.to_loader(train, settings.batch_size, seed=settings.seed),
        epochs=settings.epochs,
        lr=settings.lr,
        device=settings.device,
        progress=settings.progress,
        seed=settings.seed,
    )
    softmax_time = time.perf_counter() - start

    # The BNN starts from the trained point estimate: its guide means are those weights.
    net = bayesianize(softmax.net, prior=_prior(settings.prior, settings.prior_scale))
    model = Classifier(net, num_data=len(train))
    start = time.perf_counter()
    svi = fit_svi(
        model,
        data.to_loader(train, settings.batch_size, seed=settings.seed),
        epochs=settings.svi_epochs,
        lr=settings.svi_lr,
        temperature=settings.temperature,
        reparam=settings.reparam,
        device=settings.device,
        progress=settings.progress,
        seed=settings.seed,
        checkpoint_dir=out,
    )
    svi_time = time.perf_counter() - start
    svi.save(out / "posterior.pt")

    report = compare(
        {"softmax": softmax, "svi": svi},
        test=(x_test, y_test),
        ood=ood,
        num_samples=settings.num_samples,
    )
    summary = {
        "settings": asdict(settings),
        "fit_seconds": {"softmax": softmax_time, "svi": svi_time},
        "rows": report.rows,
    }
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    report.to_markdown(out / "metrics.md")
    report.reliability_diagram(out / "reliability.png")
    report.to_html(out / "report.html")
    return {"report": report, "softmax": softmax, "svi": svi, "summary": summary}


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
