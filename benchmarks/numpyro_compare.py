"""NUTS wall time: bayesnet (Pyro) against NumPyro on the same tiny digits CNN.

    pip install jax numpyro   # for this comparison only; never a bayesnet dependency
    python benchmarks/numpyro_compare.py [--repeats 2]

Model (as in the HMC issue): one 3x3 conv with 8 channels (padding 1), ReLU, one linear
layer to 10 classes; 300 training images; N(0, 1) priors on every weight; NUTS with max
tree depth 6, 100 warm-up + 100 draws, one chain, target acceptance 0.8, diagonal mass
matrix. NumPyro's time includes its JIT compilation (a fresh process compiles once).
Both start from a draw of the prior. Reports wall time, mean leapfrog steps per draw and
the test NLL of each posterior predictive.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
from torch import nn

import bayesnet as bn


def data():
    train, test = bn.data.digits()
    x, y = (t[:300] for t in train.tensors)
    return x, y, *test.tensors


def run_bayesnet(x, y, xt, yt, seed):
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 10)
    )
    model = bn.Classifier(
        bn.bayesianize(net, prior=bn.priors.Normal(1.0), stochastic="all"), num_data=len(x)
    )
    start = time.perf_counter()
    post = bn.fit_hmc(
        model,
        (x, y),
        num_samples=100,
        warmup=100,
        max_tree_depth=6,
        init="prior",
        progress=False,
        seed=seed,
    )
    seconds = time.perf_counter() - start
    nll = bn.evaluate.metrics.nll(post.predict(xt, num_samples=None), yt)
    return seconds, float(np.mean(post.sampler.stats["n_steps"])), nll


def run_numpyro(x, y, xt, yt, seed):
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as ndist
    from numpyro.infer import MCMC, NUTS

    def forward(params, images):
        h = jax.lax.conv_general_dilated(
            images, params["w1"], (1, 1), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW")
        )
        h = jax.nn.relu(h + params["b1"][None, :, None, None])
        return h.reshape(h.shape[0], -1) @ params["w2"].T + params["b2"]

    shapes = {"w1": (8, 1, 3, 3), "b1": (8,), "w2": (10, 8 * 64), "b2": (10,)}

    def model(images, labels):
        params = {
            k: numpyro.sample(k, ndist.Normal(0.0, 1.0).expand(s).to_event(len(s)))
            for k, s in shapes.items()
        }
        numpyro.sample("obs", ndist.Categorical(logits=forward(params, images)), obs=labels)

    images, labels = jnp.asarray(x.numpy()), jnp.asarray(y.numpy())
    kernel = NUTS(model, max_tree_depth=6, target_accept_prob=0.8)
    mcmc = MCMC(kernel, num_warmup=100, num_samples=100, progress_bar=False)
    start = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(seed), images, labels, extra_fields=("num_steps",))
    jax.block_until_ready(mcmc.get_samples())
    seconds = time.perf_counter() - start
    samples = mcmc.get_samples()
    logits = jax.vmap(lambda p: forward(p, jnp.asarray(xt.numpy())))(samples)
    probs = torch.from_numpy(np.asarray(jax.nn.softmax(logits, -1)))
    nll = bn.evaluate.metrics.nll(probs, yt)
    return seconds, float(np.mean(mcmc.get_extra_fields()["num_steps"])), nll


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    x, y, xt, yt = data()
    result = {}
    for name, fn in (("numpyro", run_numpyro), ("bayesnet", run_bayesnet)):
        runs = [fn(x, y, xt, yt, seed) for seed in range(args.repeats)]
        result[f"{name}_seconds"] = [r[0] for r in runs]
        result[f"{name}_mean_steps"] = [r[1] for r in runs]
        result[f"{name}_test_nll"] = [r[2] for r in runs]
    result["ratio_median_seconds"] = statistics.median(
        result["bayesnet_seconds"]
    ) / statistics.median(result["numpyro_seconds"])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
