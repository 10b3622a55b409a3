"""SVI engine: checkpoints, resume, save/load, divergence, schedules — each on both
training steps (the functional one, chosen by default, and Pyro's traced one)."""

import functools

import pytest
import torch
from conftest import loader_of

import bayesnet as bn
from bayesnet.checkpoint import load_safe
from bayesnet.infer import TrainingDiverged, linear_warmup


@pytest.fixture(autouse=True, params=["auto", "traced"])
def step(request, monkeypatch):
    """Every test here runs once with fit_svi's default step and once with the traced one."""
    monkeypatch.setattr(bn, "fit_svi", functools.partial(bn.infer.fit_svi, step=request.param))
    return request.param


def _setup(digits, n=256):
    torch.manual_seed(5)  # the same initial network every time
    train, test = digits
    x, y = train.tensors[0][:n], train.tensors[1][:n]
    model = bn.Classifier(bn.bayesianize(bn.zoo.mlp(64, 10, hidden=(16,))), num_data=n)
    return model, x, y, test.tensors[0][:32]


def _params(post):
    return {k: v.detach().clone() for k, v in post.sampler.guide.state_dict().items()}


def test_killed_and_resumed_run_matches_uninterrupted(digits, tmp_path):
    model, x, y, _ = _setup(digits)
    options = {"epochs": 4, "progress": False, "seed": 3, "lr": 1e-2}
    expected = _params(bn.fit_svi(model, loader_of(x, y, 64), **options))

    class Kill(Exception):
        pass

    def kill_after_two(epoch, stats, post):
        if epoch == 2:
            raise Kill

    del options["progress"], options["seed"]
    run = bn.Run(seed=3, progress=False, checkpoint_dir=tmp_path)
    model, *_ = _setup(digits)
    with pytest.raises(Kill):
        bn.fit_svi(
            model, loader_of(x, y, 64), run=run.replace(callbacks=[kill_after_two]), **options
        )
    assert (tmp_path / "svi.pt").exists()
    model, *_ = _setup(digits)
    resumed = bn.fit_svi(model, loader_of(x, y, 64), run=run.replace(resume=True), **options)
    got = _params(resumed)
    assert got.keys() == expected.keys()
    for key in expected:
        assert torch.equal(got[key], expected[key]), key
    assert [h["epoch"] for h in resumed.info["history"]] == [1, 2, 3, 4]


def test_checkpoint_is_one_file_and_no_temp_files_remain(digits, tmp_path):
    model, x, y, _ = _setup(digits)
    bn.fit_svi(
        model, loader_of(x, y, 64), epochs=2, run=bn.Run(progress=False, checkpoint_dir=tmp_path)
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.pt", "svi.pt"]


@pytest.mark.parametrize("guide", ["mean_field", "low_rank", "delta"])
def test_save_load_round_trip_gives_identical_predictions(digits, tmp_path, guide):
    model, x, y, x_test = _setup(digits)
    guide = bn.infer.LowRank(rank=2) if guide == "low_rank" else guide
    post = bn.fit_svi(model, loader_of(x, y, 64), epochs=1, guide=guide, progress=False)
    post.save(tmp_path / "post.pt")
    fresh, *_ = _setup(digits)
    loaded = bn.Posterior.load(tmp_path / "post.pt", fresh)
    torch.manual_seed(11)
    a = post.predict(x_test, num_samples=8)
    torch.manual_seed(11)
    b = loaded.predict(x_test, num_samples=8)
    assert torch.equal(a, b)
    assert loaded.info["engine"] == "svi"


def test_loading_into_a_different_architecture_names_the_problem(digits, tmp_path):
    model, x, y, _ = _setup(digits)
    post = bn.fit_svi(model, loader_of(x, y, 64), epochs=1, progress=False)
    post.save(tmp_path / "post.pt")
    other = bn.Classifier(bn.bayesianize(bn.zoo.mlp(64, 10, hidden=(8,))), num_data=256)
    with pytest.raises(ValueError, match="different architecture"):
        bn.Posterior.load(tmp_path / "post.pt", other)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a bayesnet checkpoint"):
        bn.Posterior.load(tmp_path / "junk.pt", model)


@pytest.mark.parametrize("guide", ["delta", "mean_field"])
def test_divergence_stops_with_clear_error_and_keeps_last_finite_state(digits, guide):
    model, x, y, x_test = _setup(digits)
    with pytest.raises(
        TrainingDiverged, match=r"at epoch 1, step \d+ .* start of the last epoch"
    ) as info:
        bn.fit_svi(
            model,
            loader_of(x, y, 64),
            epochs=3,
            guide=guide,
            optimizer="sgd",
            lr=1e12,
            progress=False,
        )
    post = info.value.posterior
    assert all(torch.isfinite(v).all() for v in post.sampler.guide.state_dict().values())
    # the kept state is a usable one, not parameters that blew up to 1e28 on the way
    assert torch.isfinite(post.predict(x_test, num_samples=4)).all()


def test_a_value_error_with_finite_parameters_is_not_called_a_divergence(digits):
    """A divergence is decided by the parameters (not finite), not by an error's words: a
    network's own ValueError propagates as it is."""

    class Refuses(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            if self.calls == 10:
                raise ValueError("found invalid values in my own check")
            return x

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10), Refuses())
    x, y = (t[:512] for t in digits[0].tensors)
    model = bn.Classifier(bn.bayesianize(net), num_data=512)
    with pytest.raises(ValueError, match="my own check") as info:
        bn.fit_svi(model, loader_of(x, y, 64), epochs=3, init="point_estimate", progress=False)
    assert not isinstance(info.value, TrainingDiverged)


def test_kl_weight_schedule_and_tempering_change_the_fit(digits):
    model, x, y, _ = _setup(digits)
    assert linear_warmup(0.5)(0.25) == 0.5 and linear_warmup(0.5)(0.9) == 1.0
    warm = bn.fit_svi(
        model,
        loader_of(x, y, 64),
        epochs=2,
        kl_weight=linear_warmup(1.0),
        temperature=1.0,
        progress=False,
        seed=0,
    )
    model, *_ = _setup(digits)
    cold = bn.fit_svi(model, loader_of(x, y, 64), epochs=2, temperature=0.1, progress=False, seed=0)
    model, *_ = _setup(digits)
    plain = bn.fit_svi(
        model, loader_of(x, y, 64), epochs=2, temperature=1.0, progress=False, seed=0
    )
    assert warm.info["history"][0]["loss"] < plain.info["history"][0]["loss"]
    # a cold posterior weighs the data ten times more: it fits the training data better
    assert cold.info["history"][-1]["nll"] < plain.info["history"][-1]["nll"]


def test_regressor_with_learned_noise(conjugate):
    net = bn.nn.BayesLinear(3, 1)
    model = bn.Regressor(net, num_data=40)
    post = bn.fit_svi(
        model,
        loader_of(conjugate["x"], conjugate["y"], 40),
        epochs=300,
        init="point_estimate",
        temperature=1.0,
        lr=3e-2,
        lr_decay=1.0,
        progress=False,
        seed=0,
    )
    noise = post.sample_params(500)["noise"]
    assert 0.3 < noise.median() < 0.8  # the data were made with noise 0.5
    assert post.predict(conjugate["x"][:4], num_samples=5).shape == (5, 4, 1)


def test_a_json_lines_log_follows_both_phases(digits, tmp_path):
    import json

    model, x, y, _ = _setup(digits)
    path = tmp_path / "log.jsonl"
    post = bn.fit_svi(
        model,
        loader_of(x, y, 64),
        epochs=5,
        run=bn.Run(log=path, log_every=2, progress=False, seed=0),
    )
    records = [json.loads(line) for line in path.read_text().splitlines()]
    # epochs 2, 4 and the last (5) of the MAP warm start, then of SVI
    assert [(r["phase"], r["epoch"]) for r in records] == [
        ("map", 2),
        ("map", 4),
        ("map", 5),
        ("svi", 2),
        ("svi", 4),
        ("svi", 5),
    ]
    assert records[-1]["nll"] == post.info["history"][-1]["nll"]
    assert all(r["examples_per_s"] > 0 for r in records)


def test_a_posterior_saved_with_per_site_guide_parameters_still_loads(digits, tmp_path):
    """Guides once kept a mean and a raw scale per site (``locs.<site>``, ``scales.<site>``,
    "." as "/"); they are now two flat tensors. A file in the old layout loads to the same
    guide."""
    model, x, y, x_test = _setup(digits)
    post = bn.fit_svi(model, loader_of(x, y, 64), epochs=1, progress=False)
    guide = post.sampler.guide
    old = {k: v for k, v in guide.state_dict().items() if k not in ("loc", "raw_scale")}
    for name in guide.site_names:
        key = name.replace(".", "/")
        old[f"locs.{key}"] = guide.locs[name].detach().clone()
        old[f"scales.{key}"] = guide.split(guide.raw_scale)[name].detach().clone()
    post.save(tmp_path / "post.pt")
    saved = load_safe(tmp_path / "post.pt")
    saved["sampler_state"]["guide"] = old
    torch.save(saved, tmp_path / "old.pt")  # as files were written before the checksum
    fresh, *_ = _setup(digits)
    with pytest.warns(UserWarning, match="without a checksum"):
        loaded = bn.Posterior.load(tmp_path / "old.pt", fresh)
    assert torch.equal(loaded.sampler.guide.loc, guide.loc)
    assert torch.equal(loaded.sampler.guide.raw_scale, guide.raw_scale)


class _Unsized:
    """Batches without a length, as a generator or an IterableDataset gives them."""

    def __init__(self, loader) -> None:
        self.loader = loader

    def __iter__(self):
        yield from self.loader


def test_the_learning_rate_decays_over_the_run_with_or_without_a_length(digits):
    """The decay per step came from ``len(loader)``, 0 for an unsized loader: the rate
    then fell tenfold on every batch. Both kinds must end at ``lr * lr_decay``."""
    x, y = (t[:256] for t in digits[0].tensors)
    for loader in (loader_of(x, y, 64), _Unsized(loader_of(x, y, 64))):
        torch.manual_seed(0)
        model = bn.Classifier(bn.bayesianize(bn.zoo.mlp(64, 10, (16,))), num_data=256)
        post = bn.fit_svi(model, loader, epochs=3, init="point_estimate", progress=False)
        rates = [row["lr"] for row in post.info["history"]]
        assert rates[-1] == pytest.approx(1e-2 * 0.1, rel=1e-6)
        assert rates[0] == pytest.approx(1e-2 * 0.1 ** (1 / 3), rel=1e-6)
