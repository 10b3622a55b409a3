"""HMC benchmarks: leapfrog cost against a plain-torch floor, ESS per second, memory.

    python benchmarks/hmc.py [--device auto] [--repeats 30] [--skip-ess] [--skip-memory]

1. One gradient of the potential (the work of one leapfrog step) / one forward+backward
   of the same log joint written in plain torch (the floor), for Pyro's default
   potential (the model traced at every gradient) and bayesnet's functional potential:
   the zoo digits CNN on 1,200 training images, interleaved runs, medians of ratios.
2. Effective samples per second of the test-set log predictive density, NUTS against
   HMC with a fixed trajectory tuned from NUTS's own (step size x mean steps): a tiny
   CNN (one 3x3 conv, 8 channels, ReLU, one linear layer), 300 images, N(0, 1) priors,
   100 warm-up + 100 draws, max tree depth 6.
3. Peak resident memory of a run keeping 1,000 draws of the digits CNN (subprocess).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import arviz as az
import numpy as np
import torch
import torch.nn.functional as F
from pyro.infer.mcmc.util import initialize_model
from pyro.ops.integrator import potential_grad
from timing import interleaved
from torch import nn

import bayesnet as bn
from bayesnet.device import resolve
from bayesnet.infer import FunctionalPotential


def bench_leapfrog(device, repeats):
    train, _ = bn.data.digits()
    x, y = (t[:1200].to(device) for t in train.tensors)
    model = bn.Classifier(
        bn.bayesianize(bn.zoo.digits_cnn(), prior=bn.priors.Normal(1.0), stochastic="all"),
        num_data=1200,
    ).to(device)
    params, pyro_potential, _, _ = initialize_model(model, model_args=(x, y), max_plate_nesting=1)
    functional = FunctionalPotential(model, x, y)

    net = bn.zoo.digits_cnn().to(device)
    prior = torch.distributions.Normal(
        torch.tensor(0.0, device=device), torch.tensor(1.0, device=device)
    )

    def floor():
        net.zero_grad(set_to_none=True)
        log_lik = -F.cross_entropy(net(x), y, reduction="sum")
        log_prior = sum(prior.log_prob(p).sum() for p in net.parameters())
        (-(log_lik + log_prior)).backward()

    runs = {
        "floor": floor,
        "pyro": lambda: potential_grad(pyro_potential, params),
        "functional": lambda: potential_grad(functional, params),
    }
    times = interleaved(runs, device, repeats, warmup=2)
    rows = {"floor_forward_backward_s": statistics.median(times["floor"])}
    for k in ("pyro", "functional"):
        rows[f"leapfrog_{k}_s"] = statistics.median(times[k])
        rows[f"leapfrog_{k}_ratio"] = statistics.median(
            a / b for a, b in zip(times[k], times["floor"], strict=True)
        )
    return rows


def tiny_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 10)
    )


def _lpd_ess(post, x, y):
    idata = post.to_arviz(x, y)
    lpd = idata.log_likelihood["obs"].sum("obs_dim_0")
    return float(az.ess(lpd.to_dataset(name="lpd"))["lpd"])


def bench_ess(device):
    train, test = bn.data.digits()
    x, y = (t[:300] for t in train.tensors)
    xt, yt = test.tensors
    rows = {}
    torch.manual_seed(0)
    net = tiny_cnn()
    runs = {}
    for kernel in ("nuts", "hmc"):
        model = bn.Classifier(
            bn.bayesianize(net, prior=bn.priors.Normal(1.0), stochastic="all"), num_data=300
        )
        options = {"max_tree_depth": 6} if kernel == "nuts" else {"trajectory_length": runs["nuts"]}
        start = time.perf_counter()
        post = bn.fit_hmc(
            model,
            (x, y),
            num_samples=100,
            warmup=100,
            kernel=kernel,
            init="prior",
            device=device,
            progress=False,
            seed=0,
            **options,
        )
        seconds = time.perf_counter() - start
        stats = post.sampler.stats
        if kernel == "nuts":
            runs["nuts"] = float(np.mean(stats["step_size"]) * np.mean(stats["n_steps"]))
        ess = _lpd_ess(post, xt, yt)
        rows[f"{kernel}_seconds"] = seconds
        rows[f"{kernel}_lpd_ess"] = ess
        rows[f"{kernel}_lpd_ess_per_s"] = ess / seconds
        rows[f"{kernel}_mean_leapfrog_steps"] = float(np.mean(stats["n_steps"]))
        rows[f"{kernel}_test_nll"] = bn.evaluate.metrics.nll(post.predict(xt, num_samples=None), yt)
    rows["hmc_trajectory_length"] = runs["nuts"]
    return rows


MEMORY_SCRIPT = """
import resource, torch, bayesnet as bn
train, _ = bn.data.digits()
x, y = (t[:200] for t in train.tensors)
model = bn.Classifier(bn.bayesianize(bn.zoo.digits_cnn(), prior=bn.priors.Normal(1.0), stochastic="all"), num_data=200)
post = bn.fit_hmc(model, (x, y), num_samples=1000, warmup=10, kernel="hmc", num_steps=1, progress=False, seed=0)
draw_bytes = sum(v.numel() * v.element_size() for v in post.sampler.draws.values())
print(draw_bytes, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def bench_memory():
    base = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource, bayesnet; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT], check=True, capture_output=True, text=True
    )
    draw_bytes, peak_kb = (int(v) for v in out.stdout.split())
    return {
        "draws_1000_mb": draw_bytes / 2**20,
        "peak_rss_1000_draws_mb": peak_kb / 1024,
        "peak_rss_import_only_mb": int(base.stdout) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--skip-ess", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    device = resolve(args.device)
    result = {"device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__}
    result.update(bench_leapfrog(device, args.repeats))
    if not args.skip_ess:
        result.update(bench_ess(device))
    if not args.skip_memory:
        result.update(bench_memory())
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
