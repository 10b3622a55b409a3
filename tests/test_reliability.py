"""Nothing silently wrong: each test reproduces a defect that once gave a wrong result or an
error that did not name the problem."""

import os
import subprocess
import sys

import pyro
import pytest
import torch
from conftest import loader_of
from torch import nn

import bayesnet as bn
from bayesnet.checkpoint import load_safe, save_atomic


def _bn_mlp(n=256):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU())
    net.append(nn.Linear(32, 10))
    return bn.Classifier(bn.bayesianize(net), num_data=n)


def test_the_prediction_network_follows_the_model_during_training(digits):
    """A callback that predicts after the first epoch must not freeze the BatchNorm
    statistics and weights that SVI goes on training."""
    x, y = (t[:256] for t in digits[0].tensors)
    model = _bn_mlp()

    def peek(epoch, stats, post):
        post.predict(x[:8], num_samples=2)

    post = bn.fit_svi(
        model,
        loader_of(x, y, 64),
        epochs=3,
        init="point_estimate",
        run=bn.Run(callbacks=[peek], progress=False, seed=0),
    )
    fresh = bn.Posterior(model, post.sampler).net  # built now, from the final state
    for (name, a), (_, b) in zip(
        post.net.state_dict().items(), fresh.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_draws_that_do_not_cover_the_network_are_an_error(digits):
    x, y = (t[:64] for t in digits[0].tensors)
    model = _bn_mlp(64)
    post = bn.fit_svi(model, loader_of(x, y, 64), epochs=1, progress=False, seed=0)
    draws = post.sample_params(3)
    partial = {k: v for k, v in draws.items() if k != "4.bias"}
    with pytest.raises(ValueError, match=r"missing weight sites \['4.bias'\]"):
        post.forward(x, partial)
    with pytest.raises(ValueError, match=r"unknown names \['9.weight'\]"):
        post.forward(x, {**draws, "9.weight": draws["4.weight"]})


def _saved(tmp_path, digits):
    x, y = (t[:64] for t in digits[0].tensors)
    model = _bn_mlp(64)
    post = bn.fit_svi(model, loader_of(x, y, 64), epochs=1, progress=False, seed=0)
    return post.save(tmp_path / "post.pt"), model


def test_an_unknown_sampler_kind_is_refused(tmp_path, digits):
    path, model = _saved(tmp_path, digits)
    payload = load_safe(path)
    payload["sampler"] = "sgld_from_the_future"
    save_atomic(payload, path)
    with pytest.raises(ValueError, match="unknown kind 'sgld_from_the_future'"):
        bn.Posterior.load(path, model)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: [1, 2, 3], "holds a list"),
        (lambda p: torch.zeros(3), "holds a Tensor"),
        (lambda p: {k: v for k, v in p.items() if k != "sampler_state"}, r"lacks \['sampler_"),
        (lambda p: {**p, "format": "other/1"}, "is not a bayesnet.posterior/1 file"),
    ],
)
def test_a_foreign_posterior_file_names_the_problem(tmp_path, digits, change, message):
    path, model = _saved(tmp_path, digits)
    save_atomic(change(load_safe(path)), path)
    with pytest.raises(ValueError, match=message) as err:
        bn.Posterior.load(path, model)
    assert str(path) in str(err.value)


def test_a_guide_state_of_the_wrong_shape_names_the_file(tmp_path, digits):
    path, model = _saved(tmp_path, digits)
    payload = load_safe(path)
    guide = payload["sampler_state"]["guide"]
    key = next(k for k in guide if k.startswith("loc"))
    guide[key] = torch.zeros(7)
    save_atomic(payload, path)
    with pytest.raises(ValueError, match="stored guide state does not fit") as err:
        bn.Posterior.load(path, model)
    assert str(path) in str(err.value)


def test_an_optimizer_state_that_does_not_fit_names_the_checkpoint(tmp_path, digits):
    """A checkpoint whose optimizer stepped other tensors (one per site, as guides once
    had) cannot continue this run's optimizer: the error names the file and the part."""
    x, y = (t[:64] for t in digits[0].tensors)

    def fit(epochs, **options):
        return bn.fit_svi(
            _bn_mlp(64),
            loader_of(x, y, 64),
            epochs=epochs,
            init="point_estimate",
            run=bn.Run(checkpoint_dir=tmp_path, progress=False, **options),
        )

    fit(1)
    state = load_safe(tmp_path / "svi.pt")
    group = state["optimizer"]["param_groups"][0]
    group["params"] = [*group["params"], max(group["params"]) + 1]
    save_atomic(state, tmp_path / "svi.pt")
    with pytest.raises(ValueError, match=r"svi.pt: the stored optimizer state does not fit"):
        fit(2, resume=True)


def test_a_foreign_svi_checkpoint_names_the_problem(tmp_path, digits):
    x, y = (t[:64] for t in digits[0].tensors)
    (tmp_path / "svi.pt").write_bytes(b"")
    torch.save({"format": "bayesnet.svi/1", "epoch": 1}, tmp_path / "svi.pt")
    with pytest.raises(ValueError, match=r"damaged bayesnet.svi/1 file: it lacks \['spec'"):
        bn.fit_svi(
            _bn_mlp(64),
            loader_of(x, y, 64),
            epochs=1,
            init="point_estimate",
            run=bn.Run(checkpoint_dir=tmp_path, resume=True, progress=False),
        )


def test_a_model_step_draws_no_permutation_of_the_data_set(digits, monkeypatch):
    """The plate is handed the batch; asking it for a random subset cost O(num_data)."""
    x, y = (t[:32] for t in digits[0].tensors)
    model = bn.Classifier(bn.bayesianize(bn.zoo.mlp(64, 10, (8,))), num_data=1_280_000)

    def forbidden(*args, **kwargs):
        raise AssertionError("randperm called")

    monkeypatch.setattr(torch, "randperm", forbidden)
    trace = pyro.poutine.trace(model).get_trace(x, y)
    assert trace.nodes["obs"]["scale"] == pytest.approx(1_280_000 / 32)


def _checkpointed(digits, tmp_path, resume=False, overwrite=False, seed=0, **kw):
    x, y = (t[:128] for t in digits[0].tensors)
    run = bn.Run(checkpoint_dir=tmp_path, resume=resume, overwrite=overwrite, seed=seed)
    options = {"epochs": 1, "init": "point_estimate", "progress": False}
    return bn.fit_svi(_bn_mlp(128), loader_of(x, y, 64), run=run, **{**options, **kw})


def test_resume_without_a_checkpoint_says_so(digits, tmp_path):
    with pytest.warns(UserWarning, match=f"{tmp_path} holds no checkpoint"):
        _checkpointed(digits, tmp_path, resume=True)


def test_a_finished_run_is_not_overwritten_by_a_typo(digits, tmp_path):
    _checkpointed(digits, tmp_path)
    before = (tmp_path / "svi.pt").read_bytes()
    with pytest.raises(FileExistsError, match="resume=True to continue it or overwrite=True"):
        _checkpointed(digits, tmp_path)
    assert (tmp_path / "svi.pt").read_bytes() == before
    _checkpointed(digits, tmp_path, overwrite=True, seed=1)
    assert (tmp_path / "svi.pt").read_bytes() != before


def test_resuming_with_another_learning_rate_warns_and_keeps_the_stored_one(digits, tmp_path):
    _checkpointed(digits, tmp_path, lr=1e-2)
    with pytest.warns(UserWarning, match=r"written with \{'optimizer': 'Adam', 'lr': 0.01\}"):
        post = _checkpointed(digits, tmp_path, lr=0.5, epochs=2, resume=True)
    assert [h["epoch"] for h in post.info["history"]] == [1, 2]


def test_to_arviz_checks_labels_and_loo_refuses_a_single_draw(digits):
    x, y = (t[:64] for t in digits[0].tensors)
    softmax = bn.baselines.point_estimate(
        bn.zoo.mlp(64, 10, (8,)), loader_of(x, y, 64), epochs=1, progress=False
    )
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        softmax.to_arviz(x[:8], y[:8] + 10)
    with pytest.raises(ValueError, match="7 labels for 8 inputs"):
        softmax.to_arviz(x[:8], y[:7])
    with pytest.raises(ValueError, match="must be integers"):
        softmax.to_arviz(x[:8], y[:8].float())
    with pytest.raises(ValueError, match="single draw .* PSIS-LOO needs several"):
        bn.diagnostics.compare({"softmax": softmax}, x[:8], y[:8])


def test_importing_bayesnet_leaves_the_matplotlib_backend_and_pyro_settings_alone(tmp_path):
    """It once switched a notebook's backend to Agg (figures are now built without pyplot)
    and Pyro into module-local mode for the whole process."""
    code = (
        "import matplotlib, pyro, bayesnet, bayesnet.evaluate.plots as plots;"
        "fig, axes = plots.grid(1, 2); axes[0, 0].plot([0, 1]);"
        f"plots.save(fig, {str(tmp_path / 'f.png')!r});"
        "print(matplotlib.get_backend(), pyro.settings.get('module_local_params'))"
    )
    env = {**os.environ, "MPLBACKEND": "svg"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "svg False"
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


class _BreaksAfter(nn.Module):
    """Finite for its first ``calls`` forward passes, NaN ever after."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.left = calls

    def forward(self, x):
        self.left -= 1
        return x if self.left >= 0 else x * float("nan")


def test_nuts_that_meets_nan_mid_run_raises_and_predict_never_returns_nan(conjugate):
    c = conjugate
    net = nn.Sequential(bn.nn.BayesLinear(3, 1, bias=False), _BreaksAfter(40))
    model = bn.Regressor(net, num_data=40, noise=c["sigma"])
    with pytest.raises(bn.infer.SamplingDiverged, match=r"chain\(s\) \[0\] diverged at every draw"):
        bn.fit_hmc(model, (c["x"], c["y"]), num_samples=10, warmup=10, progress=False, seed=0)
    # the plain twin that predictions run through carries the broken module too
    net[1].left = 0
    broken = bn.Posterior(model, bn.posterior.DrawsSampler({"0.weight": torch.zeros(2, 1, 3)}))
    with pytest.raises(FloatingPointError, match="2 of 2 draws predict NaN"):
        broken.predict(c["x"][:4])


def test_import_writes_nothing_and_loads_arviz_only_when_used():
    heavy = "('arviz', 'sklearn', 'matplotlib', 'xarray', 'pandas')"
    code = (
        "import sys, bayesnet as bn, bayesnet.cli;"
        f"assert not [m for m in {heavy} if m in sys.modules], sys.modules.keys();"
        "bn.diagnostics.summary; assert 'arviz' in sys.modules;"
        "assert callable(bn.evaluate.compare) and 'matplotlib' in sys.modules"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # ArviZ's own FutureWarning shows when a user reaches for diagnostics, not on import
    quiet = subprocess.run(
        [sys.executable, "-c", "import bayesnet"], capture_output=True, text=True
    )
    assert quiet.stderr == ""


def test_bayesnet_keeps_pyros_global_settings_and_parameter_store(digits):
    """Importing or using bayesnet once switched Pyro into module-local mode for the whole
    process; a user's own Pyro code must keep Pyro's defaults (the global param store)."""
    assert pyro.settings.get("module_local_params") is False
    pyro.clear_param_store()
    (x, y), _ = (t.tensors for t in digits)
    posts = [
        bn.fit_svi(
            bn.Classifier(bn.bayesianize(bn.zoo.digits_cnn(channels=(2, 4), hidden=8)), 256),
            loader_of(x[:256], y[:256], 64),
            epochs=1,
            progress=False,
            seed=seed,
        )
        for seed in (0, 1)
    ]
    assert pyro.settings.get("module_local_params") is False
    # two guides over the same layer names keep their own parameters, none in the store
    assert not list(pyro.get_param_store().keys())
    a, b = (p.sampler.guide.locs["6.weight"] for p in posts)
    assert a is not b and not torch.equal(a, b)
    # a user's PyroModule, made after bayesnet ran, registers globally as Pyro documents
    user = pyro.nn.PyroModule[nn.Linear](2, 1)
    user(torch.zeros(1, 2))
    assert set(pyro.get_param_store().keys()) == {"weight", "bias"}
    pyro.clear_param_store()


def test_a_saved_file_is_read_on_the_cpu_and_its_payload_moved_where_asked(tmp_path):
    """The envelope was read with the caller's map_location: its bytes landed there and
    ``.numpy()`` failed (reproduced with "meta", as "cuda" on a GPU machine)."""
    path = save_atomic({"format": "x/1", "w": torch.ones(3)}, tmp_path / "f.pt")
    payload = load_safe(path, map_location="meta", format="x/1", keys=("w",))
    assert payload["w"].device.type == "meta" and payload["w"].shape == (3,)
    assert load_safe(path, map_location="cpu", format="x/1")["w"].sum() == 3


def test_a_saved_file_gets_the_mode_the_umask_gives(tmp_path):
    """mkstemp's files are 0600; a saved posterior is as readable as any file the process
    writes (0644 under the usual umask)."""
    mask = os.umask(0o022)
    try:
        path = save_atomic({"format": "x/1"}, tmp_path / "f.pt")
        assert path.stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        path = save_atomic({"format": "x/1"}, tmp_path / "g.pt")
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(mask)


@pytest.mark.parametrize("fit", [bn.fit_swag, bn.fit_ivon, bn.fit])
def test_a_posterior_that_would_predict_with_no_draws_is_refused_before_training(fit, monkeypatch):
    """``num_samples=0`` trained, then ``predict`` failed with a raw RuntimeError."""
    import bayesnet.infer.networks.ivon as ivon
    import bayesnet.infer.networks.swag as swag

    def train_net(*args, **kwargs):
        raise AssertionError("trained before checking its options")

    for module in (swag, ivon):
        monkeypatch.setattr(module, "train_net", train_net)
    x, y = torch.randn(32, 4), torch.arange(32) % 2
    with pytest.raises(ValueError, match="num_samples must be a positive int"):
        fit(nn.Linear(4, 2), (x, y), num_samples=0, progress=False)
