"""``bayesnet train CONFIG.toml``: an SVI training script from a TOML file, also under
``torchrun`` (data-parallel). ``read_config`` parses and checks the file before anything
runs: any document either gives ``TrainConfig`` or raises ``SettingsError`` naming the
file, the section and the key."""

from __future__ import annotations

import dataclasses
import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .. import data, priors, zoo
from ..data.sources import EMBEDDED, SOURCES
from ..infer import fit_svi
from ..infer.svi.families import guide_family
from ..models import Classifier
from ..nn import bayesianize
from ..nn.convert import STOCHASTIC
from ..posterior import Posterior
from ..run import Run

__all__ = ["run_train", "read_config", "TrainConfig", "SettingsError"]


class SettingsError(ValueError):
    """A training configuration that cannot be run: not TOML, or a section, key or value
    the command does not take."""


#: each section's keys and the types their values may have (``None``: a TOML value is
#: never None, so a key listed with it may be left out only)
SECTIONS: dict[str, dict[str, tuple[type, ...]]] = {
    "data": {"name": (str,), "batch_size": (int,), "seed": (int,)},
    "model": {
        "arch": (str,),
        "prior": (str,),
        "prior_scale": (int, float),
        "last_layer": (bool,),
        "stochastic": (str,),
    },
    "output": {"dir": (str,), "log_every": (int,)},
}
#: ``fit_svi``'s options a config may set, with the types their defaults have
SVI_TYPES: dict[str, tuple[type, ...]] = {
    "epochs": (int,),
    "guide": (str,),
    "init": (str,),
    "map_epochs": (int,),
    "init_scale": (int, float),
    "rank": (int,),
    "reparam": (str,),
    "step": (str,),
    "kl_weight": (int, float),
    "temperature": (int, float, str),
    "normalization": (str,),
    "optimizer": (str,),
    "lr": (int, float),
    "lr_decay": (int, float),
    "device": (str,),
    "checkpoint_dir": (str,),
    "resume": (bool,),
    "overwrite": (bool,),
    "progress": (bool,),
    "seed": (int,),
    "validation": (int, float),
    "log": (str,),
    "log_every": (int,),
    "distributed": (bool,),
    "starts": (int,),
}


@dataclass
class TrainConfig:
    """A checked training configuration: its sections' values, defaults filled in."""

    source: str = "digits"
    batch_size: int = 64
    seed: int = 0
    arch: str = "digits_cnn"
    prior: str = "normal"
    prior_scale: float | None = None
    last_layer: bool = False
    stochastic: str = "auto"
    out: Path = Path("runs/train")
    log_every: int = 0
    svi: dict[str, Any] = field(default_factory=dict)


def read_config(config_path: str | Path) -> TrainConfig:
    """Parse and check a training configuration (``docs/cli.md``)."""
    try:
        text = Path(config_path).read_text(encoding="utf-8")
        config = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise SettingsError(f"{config_path}: not a readable TOML file ({err})") from err
    allowed = {*SECTIONS, "svi"}
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise SettingsError(f"{config_path}: unknown sections {unknown}; use {sorted(allowed)}")
    for name, section in config.items():
        if not isinstance(section, dict):
            raise SettingsError(f"{config_path}: [{name}] must be a table, got {section!r}")
        schema = SVI_TYPES if name == "svi" else SECTIONS[name]
        extra = sorted(set(section) - set(schema))
        if extra:
            raise SettingsError(f"{config_path}: unknown keys in [{name}]: {extra}")
        for key, value in section.items():
            kinds = schema[key]
            # TOML's booleans are Python ints too: a number is never a bool here
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                names = " or ".join(k.__name__ for k in kinds)
                raise SettingsError(f"{config_path}: [{name}] {key} must be {names}, got {value!r}")
    cfg = TrainConfig(
        **{k: v for k, v in config.get("data", {}).items() if k != "name"},
        **config.get("model", {}),
        svi=dict(config.get("svi", {})),
    )
    cfg.source = config.get("data", {}).get("name", cfg.source)
    output = config.get("output", {})
    cfg.out = Path(output.get("dir", str(cfg.out)))
    cfg.log_every = output.get("log_every", cfg.log_every)
    _check_values(cfg, config_path)
    return cfg


def _check_values(cfg: TrainConfig, config_path) -> None:
    """Values of the right type that the command still cannot use."""
    name, _, path = cfg.source.partition(":")
    problems = []
    if name not in SOURCES or (name not in EMBEDDED and not path):
        problems.append(f"[data] name {cfg.source!r} is not one of {sorted(SOURCES)} (NAME:PATH)")
    if cfg.batch_size < 1:
        problems.append(f"[data] batch_size must be >= 1, got {cfg.batch_size}")
    if cfg.log_every < 0:
        problems.append(f"[output] log_every must be >= 0, got {cfg.log_every}")
    if cfg.stochastic not in STOCHASTIC:
        problems.append(f"[model] stochastic must be one of {list(STOCHASTIC)}")
    try:
        priors.get(cfg.prior, scale=cfg.prior_scale)
    except (ValueError, TypeError) as err:
        problems.append(f"[model] {err}")
    if problems:
        raise SettingsError(f"{config_path}: " + "; ".join(problems))


def run_train(config_path: str | Path) -> Posterior:
    """Run an SVI training script described by a TOML file (see docs/cli.md)."""
    cfg = read_config(config_path)
    train, _ = data.load(cfg.source, seed=cfg.seed)
    num_classes = int(train.tensors[1].max()) + 1
    prior = priors.get(cfg.prior, scale=cfg.prior_scale)
    plain = zoo.build(cfg.arch, num_classes, tuple(train.tensors[0].shape[1:]))
    net = bayesianize(plain, prior=prior, last_layer=cfg.last_layer, stochastic=cfg.stochastic)
    model = Classifier(net, num_data=len(train))
    svi_cfg = dict(cfg.svi)
    run_cfg = {k: svi_cfg.pop(k) for k in RUN_KEYS if k in svi_cfg}
    run_cfg.setdefault("checkpoint_dir", str(cfg.out))
    # under torchrun (WORLD_SIZE > 1) every process trains on its shard: data-parallel SVI
    run_cfg.setdefault("distributed", int(os.environ.get("WORLD_SIZE", "1")) > 1)
    if cfg.log_every:
        run_cfg.setdefault("log", str(cfg.out / "train_log.jsonl"))
        run_cfg.setdefault("log_every", cfg.log_every)
    run_cfg.setdefault("seed", cfg.seed)
    family = {k: svi_cfg.pop(k) for k in GUIDE_KEYS if k in svi_cfg}
    guide = guide_family(svi_cfg.pop("guide", "mean_field"))
    try:
        svi_cfg["guide"] = type(guide)(**{**guide.options(), **family})
        run = Run(**run_cfg)
    except (TypeError, ValueError) as err:
        raise SettingsError(f"{config_path}: [svi] {err}") from err
    loader = data.to_loader(train, cfg.batch_size, seed=cfg.seed)
    post = fit_svi(model, loader, run=run, **svi_cfg)
    if int(os.environ.get("RANK", "0")) == 0:
        post.save(cfg.out / "posterior.pt")
    return post


#: the [svi] keys that are run settings (``bn.Run``) and options of the guide's family
RUN_KEYS = {f.name for f in dataclasses.fields(Run)} - {"callbacks"}
GUIDE_KEYS = ("init_scale", "rank", "reparam")
#: every option of fit_svi a config may set is typed above (a test keeps them in step)
SVI_OPTIONS = (
    (set(inspect.signature(fit_svi).parameters) - {"model", "loader", "run"})
    | RUN_KEYS
    | set(GUIDE_KEYS)
)
