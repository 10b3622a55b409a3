"""Read time of the data-file readers on full-size files written in the real formats:
MNIST (60,000 + 10,000 images, IDX, plain and gzipped) and CIFAR-10 (50,000 + 10,000,
binary batches). Synthetic pixels; the byte layouts are the real ones.

    python benchmarks/readers.py
"""

from __future__ import annotations

import gzip
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import bayesnet as bn

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from test_readers import _cifar_records, _idx  # noqa: E402  (the tests' format writers)


def write_mnist(root: Path, gz: bool) -> None:
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 60_000), ("t10k", 10_000)):
        for kind, shape in (("images-idx3", (n, 28, 28)), ("labels-idx1", (n,))):
            data = _idx(rng.integers(0, 256 if kind.startswith("images") else 10, shape))
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (root / f"{name}.gz").write_bytes(gzip.compress(data, compresslevel=1))
            else:
                (root / name).write_bytes(data)


def write_cifar10(root: Path) -> None:
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        images = rng.integers(0, 256, (10_000, 3, 32, 32))
        (root / name).write_bytes(_cifar_records(rng.integers(0, 10, 10_000), images))


def timed(fn, root) -> tuple[float, int]:
    start = time.perf_counter()
    train, test = fn(root)
    return time.perf_counter() - start, len(train) + len(test)


def main() -> None:
    print("| files | images | read seconds |")
    print("|---|---|---|")
    for label, write, read in (
        ("MNIST IDX", lambda r: write_mnist(r, False), bn.data.mnist),
        ("MNIST IDX, gzipped", lambda r: write_mnist(r, True), bn.data.mnist),
        ("CIFAR-10 binary", write_cifar10, bn.data.cifar10),
    ):
        with tempfile.TemporaryDirectory() as root:
            write(Path(root))
            seconds, n = timed(read, root)
        print(f"| {label} | {n:,} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
