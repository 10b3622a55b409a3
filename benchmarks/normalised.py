"""BatchNorm statistics under a posterior, paired over eight seeds (``paired.py``): the
BatchNorm CNN of ``quality.py``, its softmax, and ``fit_svi`` with its defaults (the
MAP's statistics, fixed, T = 0.003), at T = 0.01, and with ``normalization="per_draw"``
(each draw's own statistics); that per-draw fit is also predicted with the network's
running statistics (what BatchNorm's momentum averaged over the noisy draws of
training).

    python benchmarks/normalised.py [--seeds 0 1 ... 7] [--out benchmarks/normalised]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from paired import cached, run, table

import bayesnet as bn

PER_DRAW = "statistics per draw, T = 0.003"
VARIANTS = {
    "defaults (MAP statistics, T = 0.003)": ({}, {}),
    "MAP statistics, T = 0.01": ({}, {"temperature": 0.01}),
    PER_DRAW: ({}, {"normalization": "per_draw"}),
}


def running_statistics(name: str, post: bn.Posterior, score) -> dict:
    """The per-draw fit's draws predicted without normalization inputs."""
    if name != PER_DRAW:
        return {}
    running = bn.Posterior(post.model, post.sampler, post.info)
    return {"the per-draw fit, running statistics for every draw": score(running)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    parser.add_argument("--out", default="benchmarks/normalised")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    by_seed = [
        cached(out / f"seed{s}.json", lambda s=s: run("bn_cnn", s, VARIANTS, running_statistics))
        for s in args.seeds
    ]
    print(table(by_seed, "BatchNorm CNN: "))


if __name__ == "__main__":
    main()
