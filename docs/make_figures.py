"""Regenerate the figures of the example pages: run each example that writes one, in
full, in a scratch directory, and copy its PNGs next to its page.

    python docs/make_figures.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).parent.parent
FIGURES = {
    "far_from_data": ["far_from_data.png"],
    "segmentation_uncertainty": ["segmentation_uncertainty.png"],
    "hmc_diagnostics": ["hmc_trace.png", "hmc_energy.png"],
}


def main() -> None:
    for example, names in FIGURES.items():
        with tempfile.TemporaryDirectory() as scratch:
            script = ROOT / "examples" / f"{example}.py"
            subprocess.run([sys.executable, str(script)], cwd=scratch, check=True)
            for name in names:
                shutil.copy(Path(scratch) / name, ROOT / "docs" / "examples" / name)
                print(f"docs/examples/{name}")


if __name__ == "__main__":
    main()
