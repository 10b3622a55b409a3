"""The main job: softmax, baselines and BNNs on the digits, and the command line."""

import json
import re

import pytest

import bayesnet as bn
from bayesnet.cli import main
from bayesnet.cli.compare import CompareSettings, run_compare
from bayesnet.cli.train import run_train
from bayesnet.evaluate import SECTIONS

FILES = {"metrics.json", "metrics.md", "reliability.png", "report.html"}


def _row(rows, method, condition):
    return next(r for r in rows if r["method"] == method and r["condition"] == condition)


@pytest.mark.slow
def test_bnn_beats_softmax_on_nll_at_equal_accuracy_and_flags_ood(tmp_path):
    settings = CompareSettings(
        out=str(tmp_path),
        methods="softmax,svi,multiswag",
        demos="",
        attacks="",  # what this test checks needs neither attacks nor every corruption
        corruptions="gaussian_noise",
        progress=False,
    )
    result = run_compare(settings)
    rows = result["summary"]["rows"]
    soft = _row(rows, "softmax", "test")
    for method in ("svi", "multiswag"):
        ours = _row(rows, method, "test")
        assert ours["nll"] < soft["nll"]
        assert ours["accuracy"] > soft["accuracy"] - 0.01
    # Far from the data (uniform noise images) the recommended posterior is less confident
    # than the softmax, and its entropy tells noise from digits better.
    soft_noise, ours_noise = _row(rows, "softmax", "noise"), _row(rows, "multiswag", "noise")
    assert ours_noise["confidence"] < soft_noise["confidence"] - 0.05
    assert ours_noise["auroc_entropy"] > soft_noise["auroc_entropy"]
    svi = _row(rows, "svi", "test")
    assert svi["collapsed"] is False and svi["temperature"] == 0.01
    assert {p.name for p in tmp_path.iterdir()} >= FILES | {"posterior_multiswag.pt"}


@pytest.mark.slow  # 24 s; the fast tier keeps the CLI's options, train and regression compare
def test_cli_quick_writes_the_run_directory_and_every_report_section(tmp_path, capsys):
    args = ["compare", "--quick", "--out", str(tmp_path), "--no-progress", "--held-out", "8,9"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "ensemble" in out and "multiswag" in out and "auroc_entropy" in out
    assert {p.name for p in tmp_path.iterdir()} >= FILES | {"posterior_multiswag.pt"}
    rows = json.loads((tmp_path / "metrics.json").read_text())["rows"]
    methods = ("softmax", "temperature", "dropout", "ensemble", "multiswag")
    conditions = {"test", "noise", "rotated90", "held_out_classes", "fooling", "fgsm", "pgd"}
    assert {(r["method"], r["condition"]) for r in rows} >= {
        (m, c) for m in methods for c in conditions | {"rotation", "noise", "blur", "inversion"}
    }
    kinds = {"test", "ood", "shift", "corruption", "attack", "toy", "pixel"}
    assert {r["kind"] for r in rows} == kinds
    test = _row(rows, "softmax", "test")
    # conformal sets calibrated on the validation split, and the credible sets, by default
    assert test["set_level"] == 0.9 and {"coverage_lac", "size_raps", "coverage_credible"} <= set(
        test
    )
    corrupted = {(r["condition"], r["severity"]) for r in rows if r["kind"] == "corruption"}
    names = ("gaussian_noise", "motion_blur", "fog", "contrast", "mean")
    assert corrupted == {(c, s) for c in names for s in (1, 5)}
    # entropy ranks the softmax's errors late: its AURC is below the plain error rate
    assert test["fit_seconds"] > 0 and test["aurc_entropy"] < 1 - test["accuracy"]
    html = (tmp_path / "report.html").read_text()
    headings = re.findall(r"<h2 id='[^']+'>([^<]+)</h2>", html)
    # every section with a figure (all but the metrics, which is tables only)
    classification = [s for s in SECTIONS[1:] if s != "In between the data"]
    assert headings == ["What this run shows", *classification, "Tables"]
    assert html.count("data:image/png;base64,") == html.count("<figcaption>") == 9
    assert html.count("<details>") == 7  # test, ood, shift, corruption, attack, toy, pixel
    assert "Does a conformal set still cover under shift" in html
    assert "Averaged over 4 corruptions" in html


def test_cli_reports_bad_options(tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        main(["compare", "--quick", "--out", str(out), "--prior", "wishful", "--no-progress"])
    assert exit_.value.code == 2
    assert "invalid choice: 'wishful'" in capsys.readouterr().err
    for bad, says in (
        (["--methods", "softmax,mcmc"], "unknown methods ['mcmc']"),
        (["--model", "resnet99"], "--model 'resnet99': a zoo name"),
        (["--corruptions", "snow"], "unknown corruptions ['snow']"),
        (["--epochs", "0"], "--epochs must be >= 1"),
    ):
        assert main(["compare", "--out", str(out), *bad]) == 2
        assert says in capsys.readouterr().err
        assert not out.exists()  # refused before any directory is made


def test_cli_suggests_the_option_meant_in_the_commands_usage(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--epcohs", "3"])
    err = capsys.readouterr().err
    assert err.startswith("usage: bayesnet compare")
    assert "unrecognized arguments: --epcohs 3 (did you mean --epochs?)" in err
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"bayesnet {bn.__version__}"


def test_every_option_says_what_it_does_and_what_it_takes():
    """Walk the parser: every option of every command has a description; a choice option
    lists its values, and the list options name theirs from the registries the code
    checks against."""
    from bayesnet.cli import _parser
    from bayesnet.cli.settings import CHOICES, METHODS
    from bayesnet.evaluate.corruptions import CORRUPTIONS

    parser, commands = _parser()
    assert "uncertainty measure" in parser.description
    for name, command in commands.items():
        assert command.description, name
        for action in command._actions:  # the parser's own record of its options
            assert action.help and len(action.help) > 15, (name, action.dest)
    text = commands["compare"].format_help()
    for names in (*CHOICES.values(), METHODS, tuple(CORRUPTIONS)):
        assert all(n in text for n in names)
    assert "(default: 'softmax,temperature,dropout,ensemble,multiswag')" in " ".join(text.split())


def test_quick_lowers_only_what_the_user_did_not_set(monkeypatch, tmp_path):
    import bayesnet.cli.compare as compare_module

    seen = {}

    def fake(settings, given=None, argv=None):
        seen.update(settings=settings, given=given, argv=argv)
        raise ValueError("stop here")

    monkeypatch.setattr(compare_module, "run_compare", fake)
    main(["compare", "--quick", "--epochs", "5", "--corruptions", "", "--out", str(tmp_path)])
    settings = seen["settings"]
    assert settings.epochs == 5 and settings.corruptions == ""  # given: kept
    assert settings.members == 2 and settings.num_samples == 10  # not given: lowered
    assert settings.quick_run and seen["given"] == ["corruptions", "epochs", "out"]


def test_train_from_config(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text(
        f"""
[data]
batch_size = 128
[model]
prior = "normal"
prior_scale = 1.0
last_layer = true
[svi]
epochs = 2
lr = 0.01
progress = false
[output]
dir = "{tmp_path / "out"}"
"""
    )
    assert main(["train", str(config)]) == 0
    assert (tmp_path / "out" / "posterior.pt").exists() and (tmp_path / "out" / "svi.pt").exists()
    config.write_text("[svi]\nepochz = 2\n")
    assert main(["train", str(config)]) == 2
    assert "unknown keys in [svi]: ['epochz']" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name, attribute", [("fan_in", "gain"), ("hierarchical", "gain"), ("scale_mixture", "sigma1")]
)
def test_prior_scale_reaches_every_prior(tmp_path, name, attribute):
    config = tmp_path / "run.toml"
    config.write_text(
        f"""
[data]
batch_size = 256
[model]
prior = "{name}"
prior_scale = 2.5
stochastic = "all"
[svi]
epochs = 1
progress = false
[output]
dir = "{tmp_path / "out"}"
"""
    )
    with pytest.warns(bn.CollapseWarning):  # one epoch learns nothing
        post = run_train(config)
    layers = bn.nn.bayesian_layers(post.model.net)
    assert [getattr(layer.prior, attribute) for _, layer in layers] == [2.5] * 4  # every layer


@pytest.mark.slow
def test_compare_with_hmc_and_diagnose(tmp_path, capsys):
    assert (
        main(
            [
                "compare",
                "--quick",
                "--methods",
                "softmax,svi,hmc",
                "--demos",
                "",
                "--attacks",
                "",
                "--corruptions",
                "",
                "--out",
                str(tmp_path),
                "--no-progress",
            ]
        )
        == 0
    )
    assert "hmc" in capsys.readouterr().out
    assert {"posterior.nc", "posterior_hmc.pt"} <= {p.name for p in tmp_path.iterdir()}
    assert main(["diagnose", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "function space" in out and "lpd" in out and "divergences" in out
    assert {"trace.png", "rank.png", "energy.png"} <= {p.name for p in tmp_path.iterdir()}
    assert main(["compare", "--quick", "--methods", "svi,mcmc", "--out", str(tmp_path)]) == 2
    assert "unknown methods ['mcmc']" in capsys.readouterr().err
    assert main(["diagnose", str(tmp_path / "nowhere")]) == 2


@pytest.mark.slow
def test_compare_with_sgmcmc_and_diagnose_its_cycles(tmp_path, capsys):
    args = ["compare", "--quick", "--methods", "softmax,sgmcmc", "--demos", "", "--attacks", ""]
    args += ["--corruptions", ""]
    assert main([*args, "--out", str(tmp_path), "--no-progress"]) == 0
    rows = json.loads((tmp_path / "metrics.json").read_text())["rows"]
    assert any(r["method"] == "sgmcmc" for r in rows)
    post = bn.Posterior.load(
        tmp_path / "posterior_sgmcmc.pt",
        bn.Classifier(bn.bayesianize(bn.zoo.digits_cnn(), stochastic="all"), 1),
    )
    assert post.info["engine"] == "sgmcmc" and post.sampler.chains == 2  # --quick: 2 cycles
    assert main(["diagnose", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "function space" in out and "step_size" in out and "divergences" not in out
    names = {p.name for p in tmp_path.iterdir()}
    assert {"trace.png", "rank.png"} <= names and "energy.png" not in names


@pytest.mark.slow
def test_compare_with_laplace_around_the_softmax(tmp_path):
    pytest.importorskip("laplace")
    args = ["compare", "--quick", "--methods", "softmax,laplace", "--demos", "", "--attacks", ""]
    args += ["--corruptions", ""]
    assert main([*args, "--out", str(tmp_path), "--no-progress"]) == 0
    summary = json.loads((tmp_path / "metrics.json").read_text())
    row = next(r for r in summary["rows"] if r["method"] == "laplace" and r["kind"] == "test")
    assert (
        row["collapsed"] is False and row["fit_seconds"] > summary["fit_seconds"]["softmax"] - 1e-9
    )
    post = bn.Posterior.load(
        tmp_path / "posterior_laplace.pt", bn.Classifier(bn.nn.Linearized(bn.zoo.digits_cnn()), 1)
    )
    assert post.info["engine"] == "laplace" and post.info["subset"] == "all"
    weights = {f"net.{name}" for name, _ in bn.zoo.digits_cnn().named_parameters()}
    assert set(post.sample_params(3)) == weights  # every weight, linearised


def test_compare_regression_writes_its_report_and_the_point_estimate_cannot_flag(tmp_path, capsys):
    args = ["compare", "--task", "regression", "--quick", "--out", str(tmp_path), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "auroc_epistemic" in out and "recommended" in out
    summary = json.loads((tmp_path / "metrics.json").read_text())
    rows = summary["rows"]
    methods = {"point", "heteroscedastic", "dropout", "ensemble", "recommended"}
    assert {r["method"] for r in rows if r["kind"] == "test"} == methods
    point = next(r for r in rows if r["method"] == "point" and r["kind"] == "ood")
    assert point["auroc_total"] == 0.5  # one noise level everywhere: no flag at all
    test = next(r for r in rows if r["method"] == "recommended" and r["kind"] == "test")
    assert {"coverage_90", "width_90", "coverage_conformal_cqr", "crps", "pit_error"} <= set(test)
    html = (tmp_path / "report.html").read_text()
    assert "Does the point estimate" in html and "In between the data" in html
    assert "--quick smoke test" in html
    assert (tmp_path / "posterior_recommended.pt").exists()
