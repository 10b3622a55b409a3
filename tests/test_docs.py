"""Docs are executable: every Python block of README.md and docs/ runs, at tiny sizes, and
every ``bayesnet`` command-line flag the docs name exists.

Each page's blocks run in order in one namespace (a reader's session), which starts with
what the pages take as given: a few hundred real 28x28 digits as ``train``/``test`` and
their tensors, a loader, a small BatchNorm CNN ``net``, its trained ``softmax`` and the
like. Sizes are cut by rewriting the numbers that set them (``epochs=20`` runs one epoch,
``num_samples=500`` four draws): the code is the page's, only cheaper. Blocks that include
an example script (``--8<--``) are the examples' own tests (``test_examples.py``)."""

import contextlib
import functools
import re
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

import bayesnet as bn

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
#: keyword -> the tiny value a docs block runs with
TINY = {
    "epochs": 1,
    "map_epochs": 1,
    "svi_epochs": 1,
    "num_samples": 4,
    "warmup": 4,
    "members": 2,
    "num_chains": 1,
    "cycles": 1,
    "max_tree_depth": 3,
    "checkpoint_every": 2,
}


def _blocks(page: Path) -> list[str]:
    return [b for b in BLOCK.findall(page.read_text()) if "--8<--" not in b]


def tiny(code: str) -> str:
    """``code`` with every size-setting keyword of ``TINY`` set to its tiny value."""
    for name, value in TINY.items():
        code = re.sub(rf"\b{name}=\d+", f"{name}={value}", code)
    return code


def _small_net() -> torch.nn.Module:
    return bn.zoo.cnn(batch_norm=True, channels=(4, 8), hidden=16)


def _svi(prior, loader) -> bn.Posterior:
    model = bn.Classifier(bn.bayesianize(_small_net(), prior=prior), num_data=256)
    return bn.fit_svi(model, loader, epochs=1, progress=False, seed=0)


@pytest.fixture(scope="module")
def given(monkeypatch_module):
    """What the pages take as given, built once."""
    from dataclasses import dataclass

    import pyro

    train, test = bn.data.mnist5k(seed=0)
    train = torch.utils.data.TensorDataset(*(t[:256] for t in train.tensors))
    test = torch.utils.data.TensorDataset(*(t[:64] for t in test.tensors))
    monkeypatch_module.setattr(bn.data, "mnist5k", lambda *a, **k: (train, test))
    # the sizes a page may leave at their defaults: NUTS's trees, compare's draws
    monkeypatch_module.setattr(bn, "fit_hmc", functools.partial(bn.fit_hmc, max_tree_depth=3))
    cheap = functools.partial(bn.evaluate.compare, num_samples=4, attack_samples=2, attack_size=16)
    monkeypatch_module.setattr(bn.evaluate, "compare", cheap)
    (x_train, y_train), (x, y) = train.tensors, test.tensors
    loader = bn.data.to_loader(train, 64, seed=0)
    net = _small_net()
    quiet = {"epochs": 1, "progress": False, "seed": 0}
    softmax = bn.baselines.point_estimate(net, loader, **quiet)
    model = bn.Classifier(bn.bayesianize(_small_net()), num_data=256)
    post = bn.fit_svi(model, loader, **quiet)  # a posterior of `model`, as pages load it into
    unseen = bn.evaluate.shift.natural_patches(x[:8])
    return {
        "bn": bn,
        "torch": torch,
        "pyro": pyro,
        "dataclass": dataclass,
        "train": train,
        "test": test,
        "x": x,
        "y": y,
        "x_train": x_train,
        "y_train": y_train,
        "x_test": x,
        "y_test": y,
        "x_val": x[:32],
        "y_val": y[:32],
        "x_eval": x[:16],
        "y_eval": y[:16],
        "loader": loader,
        "test_loader": bn.data.to_loader(test, 32, shuffle=False),
        "net": net,
        "model": model,
        "softmax": softmax,
        "post": post,
        "ens": bn.baselines.deep_ensemble(_small_net(), loader, members=2, **quiet),
        "p1": _svi(bn.priors.Normal(1.0), loader),
        "p2": _svi(bn.priors.Laplace(1.0), loader),
        "noise_like": bn.evaluate.shift.noise_like,
        "x_unseen": unseen,
        "fooled": unseen,
        "my_fn": lambda images, severity: images.roll(int(severity), -1),
    }


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.mark.slow
@pytest.mark.parametrize(
    "page", [p for p in PAGES if _blocks(p)], ids=lambda p: str(p.relative_to(ROOT))
)
def test_every_python_block_runs(page, given, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files the pages write land here
    namespace = dict(given)
    with _process_group(any("distributed=True" in b for b in _blocks(page)), tmp_path):
        _run_blocks(page, namespace)


@contextlib.contextmanager
def _process_group(needed: bool, scratch: Path):
    """A process group of one (gloo) for pages that fit under ``torchrun``: the same code
    as one of K processes."""
    if not needed:
        yield
        return
    store = f"file://{scratch / 'store'}"
    dist.init_process_group("gloo", init_method=store, rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _run_blocks(page: Path, namespace: dict) -> None:
    for number, code in enumerate(_blocks(page), 1):
        start = time.perf_counter()
        try:
            exec(compile(tiny(code), f"{page.name} block {number}", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"{page.name} block {number} fails: {err!r}\n{code}") from err
        print(f"{page.name} block {number}: {time.perf_counter() - start:.1f} s")


def test_tiny_rewrites_only_the_sizes():
    code = "bn.fit(net, loader, epochs=20, num_samples=500)  # epochs=20 in a comment too"
    assert tiny(code) == "bn.fit(net, loader, epochs=1, num_samples=4)  # epochs=1 in a comment too"
    assert tiny("lr=2e-3, starts=5") == "lr=2e-3, starts=5"


def test_every_flag_the_docs_name_exists():
    """``bayesnet compare --flag`` in README and docs: each flag is one the parser has."""
    from bayesnet.cli import _parser

    _, commands = _parser()
    known = {
        name: set(re.findall(r"--[a-z][a-z-]*", command.format_help()))
        for name, command in commands.items()
    }
    named = []
    for page in PAGES:
        for line in page.read_text().splitlines():
            for command, rest in re.findall(r"bayesnet (compare|train|diagnose)\b([^`\n]*)", line):
                named += [
                    (page.name, command, flag) for flag in re.findall(r"--[a-z][a-z-]*", rest)
                ]
    assert named, "the docs name no flags: the pattern is wrong"
    unknown = [(p, c, f) for p, c, f in named if f not in known[c] | {"--help", "--version"}]
    assert not unknown, unknown
