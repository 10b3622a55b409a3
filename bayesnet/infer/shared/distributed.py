"""Data-parallel SVI on ``torch.distributed``: each process (rank) reads its shard of the
training loader's batches, computes the ELBO's gradient on its minibatch, and the gradients are
averaged across ranks before every optimizer step.

Why averaging is exact: rank ``r``'s minibatch ELBO scales its log-likelihood by
``num_data / B`` and counts the KL once; the mean over ``R`` ranks of those gradients is
the gradient of the ELBO of the global batch of ``R * B`` examples, scaled by
``num_data / (R * B)``, with the KL once — the unbiased full-data estimate a single
process would take on the same examples. At setup every rank takes rank 0's parameters and
buffers (as ``DistributedDataParallel`` does), so replicas built without a common seed
start alike; each then applies the same averaged gradient, and they stay alike whatever
weight draws their own RNGs make. Rank 0 alone writes files.
"""

from __future__ import annotations

import copy
import itertools
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from ...posterior import Posterior

__all__ = [
    "Ranks",
    "Shard",
    "StartFailed",
    "setup",
    "broadcast",
    "shard",
    "average_gradients",
    "gather_starts",
]


@dataclass(frozen=True)
class Ranks:
    """This process's place in the group."""

    rank: int
    world: int

    @property
    def main(self) -> bool:
        """Whether this process writes checkpoints, posteriors and progress."""
        return self.rank == 0


def setup(device: torch.device) -> Ranks:
    """Join the process group ``torchrun`` describes (its environment variables), or the one
    the caller already initialised: gloo on CPU, NCCL on CUDA."""
    if not dist.is_available():
        raise RuntimeError("distributed=True needs a torch build with torch.distributed")
    if not dist.is_initialized():
        if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
            raise RuntimeError(
                "distributed=True runs under torchrun (e.g. torchrun --standalone "
                "--nproc-per-node=2 script.py), or after torch.distributed.init_process_group"
            )
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size())


@torch.no_grad()
def broadcast(module: nn.Module, ranks: Ranks) -> None:
    """Rank 0's parameters and buffers, on every rank."""
    if ranks.world == 1:
        return
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        dist.broadcast(tensor, src=0)


class Shard:
    """Rank ``r``'s share of a loader: of every ``world`` consecutive batches the loader
    yields, the ``r``-th (the loader is what it yields: its sampler, ``collate_fn`` and
    batches apply). One step of all ranks together sees ``world`` consecutive batches, as
    one process would with ``world`` times the batch. Every rank takes
    ``len(loader) // world`` batches, so they step alike; the loader must iterate in the same
    order on every rank (a seeded fit, or a loader with a seeded generator)."""

    def __init__(self, loader: Iterable, ranks: Ranks) -> None:
        try:
            batches = len(loader)
        except TypeError:
            raise ValueError("distributed=True needs a loader with a length") from None
        if batches < ranks.world:
            raise ValueError(f"{batches} batch(es) cannot be shared by {ranks.world} ranks")
        self.loader, self.ranks, self.steps = loader, ranks, batches // ranks.world
        # the shuffling generator a checkpoint saves and a resumed run restores
        self.generator = getattr(loader, "generator", None)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator:
        taken = 0
        for i, batch in enumerate(self.loader):
            if taken == self.steps:
                return
            if i % self.ranks.world == self.ranks.rank:
                taken += 1
                yield batch


def shard(loader: Iterable, ranks: Ranks) -> Shard:
    """This rank's ``Shard`` of ``loader``."""
    return Shard(loader, ranks)


def average_gradients(params: list[torch.Tensor], ranks: Ranks) -> None:
    """Replace each gradient by its mean over the ranks (one all-reduce of a flat buffer)."""
    grads = [p.grad for p in params if p.grad is not None]
    if ranks.world == 1 or not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= ranks.world
    for g, part in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
        g.copy_(part.view_as(g))


class StartFailed(RuntimeError):
    """A start of a fit spread over processes failed: raised on every process (none waits
    for a start that will not come), naming the start, the rank and the error."""


def gather_starts(
    fit: Callable[[int, int | None], Posterior], starts: int, seed: int | None, ranks: Ranks
) -> list[Posterior]:
    """Every start's posterior on every rank: start ``k`` is fitted on rank ``k mod world``
    (``fit(k, seed + k)``), each saved posterior is sent to every other rank (one
    ``all_gather_object``) and loaded there into a copy of the local model. A start that
    raises makes every rank raise ``StartFailed``."""
    if starts < ranks.world:
        raise ValueError(
            f"{starts} start(s) cannot be spread over {ranks.world} processes: give at least "
            "as many starts as processes"
        )
    mine: dict[int, Posterior] = {}
    failure = None
    for k in range(ranks.rank, starts, ranks.world):
        try:
            mine[k] = fit(k, None if seed is None else seed + k)
        except Exception as err:  # every rank must reach the gather, failed or not
            failure = f"start {k} on rank {ranks.rank}: {type(err).__name__}: {err}"
            break
    sent = {
        "failure": failure,
        "starts": {} if failure else {k: _bytes(p) for k, p in mine.items()},
    }
    shared: list[dict] = [{} for _ in range(ranks.world)]
    dist.all_gather_object(shared, sent)
    failures = [s["failure"] for s in shared if s["failure"]]
    if failures:
        raise StartFailed("; ".join(failures))
    received = {k: data for s in shared for k, data in s["starts"].items()}
    template = next(iter(mine.values())).model
    return [mine[k] if k in mine else _load(received[k], template) for k in range(starts)]


def _bytes(post: Posterior) -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        return post.save(Path(scratch) / "start.pt").read_bytes()


def _load(data: bytes, template: nn.Module) -> Posterior:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "start.pt"
        path.write_bytes(data)
        return Posterior.load(path, copy.deepcopy(template))
