"""Full-page screenshots of a ``report.html`` in headless Chromium, at 1400 and 800 px.

    python benchmarks/screenshot_report.py runs/compare/report.html [--out shots] [--height 14000]

Chromium comes from the system packages (``apt-get install chromium``). Headless Chromium
captures the window, so the window is made as tall as the page is expected to be; the
screenshots show whether anything runs off the right edge (it must not: tables scroll
inside themselves) and what a reader sees first.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

WIDTHS = (1400, 800)


def screenshot(report: Path, out: Path, width: int, height: int) -> Path:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("no chromium on PATH: apt-get install chromium")
    target = out / f"report_{width}.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={width},{height}",
            f"--screenshot={target}",
            report.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
    )
    return target


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("report", type=Path)
    parser.add_argument("--out", type=Path, default=Path("shots"))
    parser.add_argument("--height", type=int, default=14000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        print(screenshot(args.report, args.out, width, args.height))


if __name__ == "__main__":
    main()
