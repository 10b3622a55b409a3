"""The main job: softmax vs SVI BNN on the digits, and the command line."""

import json

import pytest

from bayesnet.cli import main
from bayesnet.jobs import CompareSettings, run_compare

FILES = {"posterior.pt", "svi.pt", "metrics.json", "metrics.md", "reliability.png", "report.html"}


def _row(rows, method, data):
    return next(r for r in rows if r["method"] == method and r["data"] == data)


@pytest.mark.slow
def test_bnn_beats_softmax_on_nll_at_equal_accuracy_and_flags_ood(tmp_path):
    result = run_compare(CompareSettings(out=str(tmp_path), progress=False))
    rows = result["summary"]["rows"]
    soft, svi = _row(rows, "softmax", "test"), _row(rows, "svi", "test")
    assert svi["nll"] < soft["nll"]
    assert svi["accuracy"] > soft["accuracy"] - 0.01
    # Far from the data (uniform noise images) the softmax stays confident; the BNN does not.
    soft_noise, svi_noise = _row(rows, "softmax", "noise"), _row(rows, "svi", "noise")
    assert svi_noise["confidence"] < soft_noise["confidence"] - 0.1
    assert svi_noise["auroc_entropy"] > soft_noise["auroc_entropy"]
    assert {p.name for p in tmp_path.iterdir()} >= FILES


def test_cli_quick_writes_the_run_directory(tmp_path, capsys):
    assert main(["compare", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "softmax" in out and "svi" in out and "auroc_entropy" in out
    assert {p.name for p in tmp_path.iterdir()} >= FILES
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {(r["method"], r["data"]) for r in metrics["rows"]} == {
        (m, d) for m in ("softmax", "svi") for d in ("test", "noise", "rotated90")
    }
    html = (tmp_path / "report.html").read_text()
    assert "<table>" in html and "data:image/png;base64," in html


def test_cli_reports_bad_options(tmp_path, capsys):
    assert (
        main(["compare", "--quick", "--out", str(tmp_path), "--prior", "wishful", "--no-progress"])
        == 2
    )
    assert "unknown prior" in capsys.readouterr().err


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
    assert "bad [svi] option" in capsys.readouterr().err


def test_compare_with_hmc_and_diagnose(tmp_path, capsys):
    assert (
        main(
            [
                "compare",
                "--quick",
                "--methods",
                "softmax,svi,hmc",
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
    assert main(["diagnose", str(tmp_path / "nowhere")]) == 2
