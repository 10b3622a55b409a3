"""Evaluation at scale: peak memory and time of every metric over S = 100 draws of 60,000
inputs of 28x28 with 10 classes, streamed (``bn.evaluate.summary``) against the same
evaluation in memory (``[S, N, C]`` and the ``metrics`` functions).

    python benchmarks/streaming.py                  # S = 100, N = 60,000, batches of 1,000
    python benchmarks/streaming.py --n 6000 --draws 20   # a quick look

The inputs are the 5,000 real digits of ``bn.data.mnist5k`` repeated to N; the posterior
is SWAG over a softmax regression (784 -> 10) fitted for two epochs, so the networks cost
little and the evaluation is what is measured. Each mode runs in a fresh child process
that builds the same data and posterior; its peak resident memory above what it held
before evaluating (``ru_maxrss``) and its evaluation time are reported. The floor is the
same draws' forward passes alone, in plain torch (``torch.func.functional_call`` per
draw), in the streaming child. Prints a Markdown table and writes JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import time
from pathlib import Path

import torch

import bayesnet as bn
from bayesnet.evaluate import metrics
from bayesnet.evaluate.summary import Summary


def _setup(n: int):
    torch.manual_seed(0)
    train, _ = bn.data.mnist5k(seed=0)
    x, y = train.tensors
    repeats = -(-n // len(x))
    x, y = x.repeat(repeats, 1, 1, 1)[:n], y.repeat(repeats)[:n]
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    post = bn.fit_swag(net, bn.data.to_loader(train, 128, seed=0), epochs=2, progress=False, seed=0)
    return x, y, post


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _in_memory(x, y, post, draws, batch):
    probs = post.predict(x, draws=draws, batch_size=batch).cpu()  # [S, N, C]
    found = {name: getattr(metrics, name)(probs, y) for name in METRICS}
    for name, score in metrics.SCORES.items():
        found[f"aurc_{name}"] = metrics.aurc(probs, y, score(probs))
    return found


def _streamed(x, y, post, draws, batch):
    summary = Summary()
    for xb, yb in zip(x.split(batch), y.split(batch), strict=True):
        summary.update(post.predict(xb, draws=draws), yb)
    found = {name: getattr(summary, name)() for name in METRICS}
    for name in metrics.SCORES:
        found[f"aurc_{name}"] = summary.aurc(name)
    return found


def _floor(x, post, draws, batch):
    """The draws' forward passes alone, in plain torch."""
    net = post.net.eval()
    with torch.no_grad():
        for s in range(len(next(iter(draws.values())))):
            params = {k: v[s] for k, v in draws.items()}
            for xb in x.split(batch):
                torch.func.functional_call(net, params, (xb,)).softmax(-1)


METRICS = ("accuracy", "nll", "brier", "ece", "mce", "adaptive_ece", "classwise_ece")
MODES = {"in_memory": _in_memory, "streamed": _streamed}


def _child(mode: str, n: int, num_draws: int, batch: int, queue) -> None:
    torch.set_num_threads(1)
    x, y, post = _setup(n)
    torch.manual_seed(1)
    draws = post.sample_params(num_draws)
    before = _rss_mb()
    start = time.perf_counter()
    found = MODES[mode](x, y, post, draws, batch)
    seconds = time.perf_counter() - start
    peak = _rss_mb() - before
    floor = None
    if mode == "streamed":
        start = time.perf_counter()
        _floor(x, post, draws, batch)
        floor = time.perf_counter() - start
    queue.put({"mode": mode, "seconds": seconds, "peak_mb": peak, "floor_s": floor, **found})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60_000)
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--out", default="benchmarks/streaming.json")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    rows = []
    for mode in MODES:
        queue = context.Queue()
        child = context.Process(target=_child, args=(mode, args.n, args.draws, args.batch, queue))
        child.start()
        rows.append(queue.get())
        child.join()
    memory, stream = rows
    differences = {
        k: abs(memory[k] - stream[k])
        for k in memory
        if k not in ("mode", "seconds", "peak_mb", "floor_s")
    }
    print(f"S = {args.draws}, N = {args.n}, 28x28, 10 classes, batches of {args.batch}\n")
    print("| evaluation | peak memory above the start (MB) | time (s) | time / floor |")
    print("|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['peak_mb']:.0f} | {r['seconds']:.1f} | "
            f"{r['seconds'] / stream['floor_s']:.2f} |"
        )
    print(
        f"\nfloor (the forward passes alone, plain torch): {stream['floor_s']:.1f} s; "
        f"streamed / in memory: memory {stream['peak_mb'] / memory['peak_mb']:.3f}, "
        f"time {stream['seconds'] / memory['seconds']:.2f}; largest metric difference "
        f"{max(differences.values()):.2e}"
    )
    Path(args.out).write_text(
        json.dumps({"settings": vars(args), "rows": rows, "max_difference": differences}, indent=2)
    )


if __name__ == "__main__":
    main()
