"""A training log in JSON lines: one object per logged epoch, appended as it ends, so a
long run can be followed (``tail -f``) or plotted while it runs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

__all__ = ["JsonLinesLog"]


class JsonLinesLog:
    """Appends every ``every``-th epoch's statistics, and the last one, to ``path``."""

    def __init__(self, path: str | Path, every: int = 1) -> None:
        if every < 1:
            raise ValueError(f"log every must be >= 1 epoch, got {every}")
        self.path, self.every = Path(path), every
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, phase: str, stats: dict[str, Any], last: bool = False) -> None:
        if stats["epoch"] % self.every and not last:
            return
        record = {"phase": phase, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **stats}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
