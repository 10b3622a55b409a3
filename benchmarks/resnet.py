"""A Bayesian ResNet-20 on CIFAR-shaped synthetic data (issue 12): one SVI epoch against
one plain torch epoch of the same network, and the peak memory of each on CUDA.

    python benchmarks/resnet.py [--device auto] [--images 10000] [--repeats 3]

Random 3x32x32 images with random labels (no CIFAR files are needed: only the cost is
measured). The epoch ratio comes from ``core.bench_svi`` (interleaved with the plain
epochs, the functional step with each reparameterization); memory is
``torch.cuda.max_memory_allocated`` over one epoch, reported only on CUDA.
"""

from __future__ import annotations

import argparse
import json
import warnings

import torch
from core import bench_svi, plain_epoch
from timing import machine, sync
from torch.utils.data import TensorDataset

import bayesnet as bn
from bayesnet.device import resolve


def cifar_shaped(n: int) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    return TensorDataset(
        torch.rand(n, 3, 32, 32, generator=g), torch.randint(10, (n,), generator=g)
    )


def peak_memory(train: TensorDataset, device: torch.device, batch: int) -> dict[str, float]:
    """Peak CUDA memory (MiB) of one plain epoch and one SVI epoch."""
    loader = bn.data.to_loader(train, batch, seed=0)
    rows = {}
    runs = {
        "plain": plain_epoch(bn.zoo.resnet20().to(device), loader, device),
        "svi": lambda: bn.fit_svi(
            bn.Classifier(bn.bayesianize(bn.zoo.resnet20()), num_data=len(train)),
            loader,
            epochs=1,
            init="point_estimate",
            device=device,
            progress=False,
        ),
    }
    for name, run in runs.items():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        run()
        sync(device)
        rows[f"{name}_epoch_peak_MiB"] = torch.cuda.max_memory_allocated(device) / 2**20
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    # random labels: there is nothing to learn, so every fit is rightly called collapsed
    warnings.simplefilter("ignore", bn.CollapseWarning)
    device = resolve(args.device)
    train = cifar_shaped(args.images)
    result = {**machine(device), "images": args.images, "batch": args.batch}
    result.update(
        bench_svi(device, args.repeats, bn.zoo.resnet20, train, args.batch, steps=("functional",))
    )
    if device.type == "cuda":
        result.update(peak_memory(train, device, args.batch))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
