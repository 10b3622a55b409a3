"""``bayesnet train CONFIG.toml``: an SVI training script from a TOML file, also under
``torchrun`` (data-parallel)."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .. import data, priors, zoo
from ..infer import fit_svi
from ..models import Classifier
from ..nn import bayesianize
from ..posterior import Posterior

__all__ = ["run_train"]


TRAIN_SECTIONS = {"data", "model", "svi", "output"}


def run_train(config_path: str | Path) -> Posterior:
    """Run an SVI training script described by a TOML file (see docs/cli.md)."""
    config = tomllib.loads(Path(config_path).read_text())
    unknown = set(config) - TRAIN_SECTIONS
    if unknown:
        raise ValueError(
            f"{config_path}: unknown sections {sorted(unknown)}; use {sorted(TRAIN_SECTIONS)}"
        )
    data_cfg = dict(config.get("data", {}))
    model_cfg = dict(config.get("model", {}))
    svi_cfg = dict(config.get("svi", {}))
    output = dict(config.get("output", {}))
    out = Path(output.pop("dir", "runs/train"))
    log_every = output.pop("log_every", 0)
    _no_extra(output, "output", config_path)

    source = data_cfg.pop("name", "digits")
    batch_size = data_cfg.pop("batch_size", 64)
    seed = data_cfg.pop("seed", 0)
    _no_extra(data_cfg, "data", config_path)
    train, _ = data.load(source, seed=seed)
    num_classes = int(train.tensors[1].max()) + 1

    arch = model_cfg.pop("arch", "digits_cnn")
    prior = priors.get(model_cfg.pop("prior", "normal"), scale=model_cfg.pop("prior_scale", None))
    last_layer = model_cfg.pop("last_layer", False)
    stochastic = model_cfg.pop("stochastic", "head")
    _no_extra(model_cfg, "model", config_path)
    plain = zoo.build(arch, num_classes, tuple(train.tensors[0].shape[1:]))
    net = bayesianize(plain, prior=prior, last_layer=last_layer, stochastic=stochastic)
    model = Classifier(net, num_data=len(train))
    svi_cfg.setdefault("checkpoint_dir", str(out))
    # under torchrun (WORLD_SIZE > 1) every process trains on its shard: data-parallel SVI
    svi_cfg.setdefault("distributed", int(os.environ.get("WORLD_SIZE", "1")) > 1)
    if log_every:
        svi_cfg.setdefault("log", str(out / "train_log.jsonl"))
        svi_cfg.setdefault("log_every", log_every)
    svi_cfg.setdefault("seed", seed)
    options = set(inspect.signature(fit_svi).parameters) - {"model", "loader"}
    _no_extra({k: v for k, v in svi_cfg.items() if k not in options}, "svi", config_path)
    post = fit_svi(model, data.to_loader(train, batch_size, seed=seed), **svi_cfg)
    if int(os.environ.get("RANK", "0")) == 0:
        post.save(out / "posterior.pt")
    return post


def _no_extra(section: dict, name: str, source) -> None:
    if section:
        raise ValueError(f"{source}: unknown keys in [{name}]: {sorted(section)}")
