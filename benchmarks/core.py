"""Core speed benchmarks: ratios against a plain-torch floor run in the same process.

    python benchmarks/core.py [--device auto] [--repeats 5] [--skip-compare]

1. SVI epoch time / plain torch training epoch (same zoo CNN, loader, batch, Adam),
   for plain reparameterization, local reparameterization and flipout, each with the
   functional step (the default) and the traced one, and the MAP warm start's point-mass
   epoch, all with every layer Bayesian; the functional step with ``bayesianize``'s
   default (the head Bayesian, the convolutions point estimates); and a hand-written flat
   mean-field step in plain torch (the arithmetic no library can avoid) against the same
   floor.
   The functional rows and the hand-written one again for a wider CNN (channels 32/64).
   The same for an SG-MCMC epoch (SGHMC and SGLD, constant step).
2. Posterior predictive with S=100 / S plain forward passes of the same network,
   for the Python loop and for torch.func.vmap.
3. One model step at a small and an ImageNet-sized ``num_data`` (the plate's scale).
4. ``bayesnet compare`` wall time and peak memory (a subprocess, defaults).

Each timing is the median of ``--repeats`` runs after a warm-up; ratios compare runs
made in the same process, one after the other, on the same device.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import pyro
import torch
import torch.nn.functional as F
from timing import interleaved, machine, median_ratio, seconds, sync

import bayesnet as bn
from bayesnet.device import resolve


def wide_cnn():
    """The zoo CNN with channels 32/64 and 128 hidden units (quality.py's ``wide_cnn``)."""
    return bn.zoo.digits_cnn(channels=(32, 64), hidden=128)


def plain_epoch(net, loader, device):
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def run():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return run


def bench_svi(
    device,
    repeats,
    make_net=bn.zoo.digits_cnn,
    train=None,
    batch=64,
    steps=("functional", "traced"),
    reparams=(None, "local", "flipout"),
):
    """SVI epoch / plain epoch, interleaved: after each SVI epoch a callback runs one plain
    epoch, so each ratio compares neighbours in time (this machine's speed drifts). The
    zoo digits CNN on the digits unless ``make_net`` and ``train`` say otherwise."""
    train = bn.data.digits()[0] if train is None else train
    loader = bn.data.to_loader(train, batch, seed=0)
    floor = plain_epoch(make_net().to(device), loader, device)
    floor()  # warm-up
    rows = {}
    # every layer Bayesian: the mean-field guide with each reparameterization and the MAP
    # warm start's point mass; then bayesianize's default (the head only), as users run it
    cases = [
        (step, reparam, "mean_field", "all") for step, reparam in itertools.product(steps, reparams)
    ]
    cases += [(step, None, "delta", "all") for step in steps]
    cases += [(steps[0], None, "mean_field", "head")]
    for step, reparam, guide, stochastic in cases:
        model = bn.Classifier(bn.bayesianize(make_net(), stochastic=stochastic), len(train))
        svi, floors = interleaved_fit(
            lambda callback, model=model, step=step, reparam=reparam, guide=guide: bn.fit_svi(
                model,
                loader,
                epochs=repeats + 1,
                guide=bn.infer.MeanField(reparam=reparam) if guide == "mean_field" else guide,
                step=step,
                init="point_estimate",
                temperature=1.0 if guide == "delta" else None,
                run=bn.Run(device=device, progress=False, callbacks=[callback]),
            ),
            floor,
            device,
        )
        key = f"{step}_{reparam or 'reparam'}" if guide == "mean_field" else f"{step}_map"
        key += "_head" if stochastic == "head" else ""
        rows[f"plain_torch_epoch_s[{key}]"] = statistics.median(floors)
        rows[f"svi_{key}_epoch_s"] = statistics.median(svi)
        rows[f"svi_{key}_ratio"] = median_ratio(svi, floors)
    return rows


def flat_mean_field_epoch(net, loader, device, num_data, temperature=0.01):
    """The arithmetic a mean-field step cannot avoid, in plain torch with no library: means
    and raw scales as two flat tensors, one noise draw, the weights as views through
    ``functional_call``, the N(0, 1) KL and the entropy in closed form, tempered, Adam."""
    names, shapes = zip(*[(n, p.shape) for n, p in net.named_parameters()], strict=True)
    for p in net.parameters():
        p.requires_grad_(False)
    loc = torch.cat([p.reshape(-1) for p in net.parameters()]).requires_grad_()
    raw = torch.full_like(loc, math.log(math.expm1(1e-2))).requires_grad_()
    opt = torch.optim.Adam([loc, raw], lr=1e-3, foreach=True)
    sizes = [s.numel() for s in shapes]

    def run():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            scale = F.softplus(raw)
            w = loc + torch.randn_like(loc) * scale
            params = {n: t.view(s) for n, t, s in zip(names, w.split(sizes), shapes, strict=True)}
            out = torch.func.functional_call(net, params, (x,))
            data = -F.cross_entropy(out, y, reduction="sum") * (num_data / len(y))
            log_scale = scale.log()
            kl = 0.5 * (scale.square() + loc.square() - 1).sum() - log_scale.sum()
            loss = (kl - data) / temperature + (1 - 1 / temperature) * log_scale.sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return run


def bench_flat_floor(device, repeats, make_net=bn.zoo.digits_cnn):
    """The hand-written flat mean-field epoch against the plain epoch, interleaved: how much
    of the SVI step's ratio is a mean-field posterior's own arithmetic."""
    train = bn.data.digits()[0]
    loader = bn.data.to_loader(train, 64, seed=0)
    runs = {
        "plain": plain_epoch(make_net().to(device), loader, device),
        "flat": flat_mean_field_epoch(make_net().to(device), loader, device, len(train)),
    }
    times = interleaved(runs, device, repeats)
    return {"flat_mean_field_ratio": median_ratio(times["flat"], times["plain"])}


def bench_sgmcmc(device, repeats):
    """SG-MCMC epoch / plain epoch of the zoo CNN on the digits, interleaved as for SVI."""
    train = bn.data.digits()[0]
    loader = bn.data.to_loader(train, 64, seed=0)
    floor = plain_epoch(bn.zoo.digits_cnn().to(device), loader, device)
    floor()  # warm-up
    rows = {}
    for method in ("sghmc", "sgld"):
        model = bn.Classifier(
            bn.bayesianize(bn.zoo.digits_cnn(), stochastic="all"), num_data=len(train)
        )
        epochs, floors = interleaved_fit(
            lambda callback, model=model, method=method: bn.fit_sgmcmc(
                model,
                loader,
                method=method,
                schedule="constant",
                epochs=repeats + 1,
                run=bn.Run(device=device, progress=False, callbacks=[callback]),
            ),
            floor,
            device,
        )
        rows[f"plain_torch_epoch_s[{method}]"] = statistics.median(floors)
        rows[f"{method}_epoch_s"] = statistics.median(epochs)
        rows[f"{method}_ratio"] = median_ratio(epochs, floors)
    return rows


def interleaved_fit(fit, floor, device) -> tuple[list[float], list[float]]:
    """Epoch seconds of ``fit(callback)`` (a fit calling ``callback`` after every epoch)
    and of the plain epoch ``floor`` that the callback runs, so each pair neighbours in
    time (this machine's speed drifts); the first epoch is dropped as a warm-up."""
    marks, floors = [], []

    def interleave(*_):
        sync(device)
        marks.append(time.perf_counter())
        floors.append(seconds(floor, device))
        marks[-1] += floors[-1]  # the next fitted epoch starts after the plain one

    fit(interleave)
    fitted = [b - f - a for a, b, f in zip(marks[:-1], marks[1:], floors[1:], strict=True)]
    return fitted, floors[1:]


def bench_predict(device, repeats, num_samples=100):
    """predict(S=100) / S plain forward passes, interleaved, for the loop and vmap."""
    train, test = bn.data.digits()
    x = test.tensors[0].to(device)
    model = bn.Classifier(
        bn.bayesianize(bn.zoo.digits_cnn(), stochastic="all"), num_data=len(train)
    )
    post = bn.fit_svi(model, bn.data.to_loader(train, 256), epochs=1, device=device, progress=False)
    net = post.net

    @torch.no_grad()
    def floor():
        for _ in range(num_samples):
            net(x).softmax(-1)

    runs = {
        "floor": floor,
        "sample_params": lambda: post.sample_params(num_samples),
        "loop": lambda: post.predict(x, num_samples=num_samples, strategy="loop"),
        "vmap": lambda: post.predict(x, num_samples=num_samples, strategy="vmap"),
    }
    times = interleaved(runs, device, repeats)
    rows = {
        "plain_forward_x100_s": statistics.median(times["floor"]),
        "sample_params_s": statistics.median(times["sample_params"]),
    }
    for k in ("loop", "vmap"):
        rows[f"predict_{k}_s"] = statistics.median(times[k])
        rows[f"predict_{k}_ratio"] = median_ratio(times[k], times["floor"])
    return rows


def bench_plate(device, repeats, big=1_281_167):
    """One model step (trace) at ``num_data`` = 1,437 digits vs ImageNet's 1,281,167: the
    likelihood's ``num_data / B`` scale costs nothing per step (it once drew and discarded
    ``randperm(num_data)``, 63 ms at the larger size)."""
    train, _ = bn.data.digits()
    x, y = (t[:64].to(device) for t in train.tensors)
    net = bn.bayesianize(bn.zoo.digits_cnn(), stochastic="all").to(device)
    models = {"small": bn.Classifier(net, len(train)), "large": bn.Classifier(net, big)}
    runs = {k: (lambda m=m: pyro.poutine.trace(m).get_trace(x, y)) for k, m in models.items()}
    times = interleaved(runs, device, max(repeats, 20))
    return {
        "model_step_small_num_data_s": statistics.median(times["small"]),
        "model_step_imagenet_num_data_ratio": median_ratio(times["large"], times["small"]),
    }


def bench_compare():
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "bayesnet.cli", "compare", "--out", out, "--no-progress"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"compare_wall_s": wall, "compare_peak_rss_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-compare", action="store_true")
    args = parser.parse_args()
    device = resolve(args.device)
    result = machine(device)
    result.update(bench_svi(device, args.repeats))
    result.update(bench_flat_floor(device, args.repeats))
    # a wider CNN, where the layers' arithmetic weighs more against the step's overhead
    wide = {
        **bench_svi(device, args.repeats, wide_cnn, steps=("functional",)),
        **bench_flat_floor(device, args.repeats, wide_cnn),
    }
    result.update({f"wide_cnn_{k}": v for k, v in wide.items()})
    result.update(bench_sgmcmc(device, args.repeats))
    result.update(bench_predict(device, args.repeats))
    result.update(bench_plate(device, args.repeats))
    if not args.skip_compare:
        result.update(bench_compare())
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
