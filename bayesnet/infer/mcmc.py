"""Hamiltonian Monte Carlo: ``fit_hmc(model, (x, y), ...) -> Posterior``.

Pyro's ``MCMC`` runs Pyro's ``HMC`` / ``NUTS`` kernels (step-size and diagonal
mass-matrix adaptation during warm-up) on the full-batch log joint. Two potentials are
available, both handed to the kernel as ``potential_fn``:

- ``"pyro"``: Pyro's own, from ``initialize_model``: the model is traced at every
  gradient (any model, hierarchical priors and learned noise included);
- ``"functional"``: ``-log p(w) - log p(y | x, w)`` written once over the plain-torch
  network with ``torch.func.functional_call``: no tracing in the leapfrog loop (models
  whose only latent sites are the layers' weights, with fixed priors).

``potential="auto"`` takes the functional one where the model allows it: it is the
faster on CPU (``benchmarks/hmc.py``). Chains run one after another, or in parallel
processes: chain ``i`` on ``cuda:i`` when several GPUs are visible (``device.chain_devices``).
Every kept draw is recorded with its statistics (step size, divergence, acceptance,
number of gradient evaluations, log density, energy) for ``Posterior.to_arviz``.
"""

from __future__ import annotations

import copy
import math
import multiprocessing
import os
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pyro
import torch
from pyro import poutine
from pyro.infer.autoguide.initialization import InitMessenger
from pyro.infer.mcmc import HMC, MCMC, NUTS
from pyro.infer.mcmc.util import initialize_model
from pyro.poutine.util import site_is_subsample
from torch import nn
from tqdm.auto import tqdm

from .._checks import check_choice, check_finite
from .._compat import HamiltonianAtStart, kernel_stats
from .._state import keeps_caller_state
from ..device import chain_devices, resolve
from ..models import BayesianModel
from ..nn.normalization import normalization_inputs, normalization_layers
from ..posterior import DrawsSampler, Posterior
from .initial import init_strategy
from .logjoint import LogJoint, expressible, warn_fixed_point_layers

__all__ = ["SamplingDiverged", "fit_hmc", "FunctionalPotential", "KERNELS", "POTENTIALS"]

KERNELS = ("nuts", "hmc")
CHAIN_METHODS = ("auto", "sequential", "parallel")
POTENTIALS = ("auto", "pyro", "functional")
STATS = ("step_size", "diverging", "acceptance_rate", "n_steps", "lp", "energy")


class FunctionalPotential:
    """``U(w) = -log p(w) - log p(y | x, w)`` as a pure function of the weight dict."""

    def __init__(
        self, model: BayesianModel, x: torch.Tensor, y: torch.Tensor, net: nn.Module | None = None
    ) -> None:
        net = net if net is not None else model.deterministic_net()
        self.log_joint = LogJoint(model, net.to(x.device))
        self.net, self.x, self.y = self.log_joint.net, x, y
        self.calls = 0

    def __call__(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        self.calls += 1
        return -self.log_joint(params, self.x, self.y)


class _Counted:
    """Wraps Pyro's potential to count gradient evaluations (leapfrog steps)."""

    def __init__(self, fn: Callable) -> None:
        self.fn, self.calls = fn, 0

    def __call__(self, params):
        self.calls += 1
        return self.fn(params)


class _NUTS(HamiltonianAtStart, NUTS):
    pass


class _HMC(HamiltonianAtStart, HMC):
    """Pyro's HMC fixes the trajectory length; with ``fixed_steps`` the number of leapfrog
    steps stays fixed instead while the step size adapts."""

    fixed_steps: int | None = None

    @property
    def num_steps(self) -> int:
        return self.fixed_steps or max(1, int(self.trajectory_length / self.step_size))


def free_memory(device: torch.device) -> int | None:
    """Free bytes on ``device``, or None where the platform does not say (CPU memory is read
    from POSIX ``sysconf``, which macOS and Windows lack: the check is then skipped)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _check_memory(net: nn.Module, x: torch.Tensor) -> None:
    """Full-batch HMC holds every activation of the whole data set: refuse what cannot fit."""
    sizes: list[int] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: sizes.append(_numel(out)))
        for m in net.modules()
    ]
    with torch.no_grad():
        net(x[:1])
    for h in hooks:
        h.remove()
    need = 3 * sum(sizes) * x.shape[0] * x.element_size()  # activations, their gradients, slack
    free = free_memory(x.device)
    if free is not None and need > free:
        raise MemoryError(
            f"full-batch HMC on {x.shape[0]} inputs needs about {need / 2**30:.1f} GiB for "
            f"activations, {free / 2**30:.1f} GiB is free on {x.device}: use fit_svi "
            "(minibatches) or run HMC on a subset of the data"
        )


def _numel(output) -> int:
    """Elements of every tensor in a module's output: a tensor, or the tuples, lists and
    dicts of tensors that LSTM, MultiheadAttention and users' modules return."""
    if isinstance(output, torch.Tensor):
        return output.numel()
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return sum(_numel(o) for o in output)
    return 0


def _initial(model, x, y, init, chains: int, jitter: float, seed: int | None):
    """Pyro's initial unconstrained params, potential and transforms, one init per chain."""
    strategy = init_strategy(model, init)
    # The log density at the starting point, checked first: Pyro's initialize_model would
    # try a hundred times and raise a RuntimeError indistinguishable from any other (an
    # out-of-memory error among them), which must go on saying what it is.
    with pyro.validation_enabled(False), InitMessenger(strategy):
        start = poutine.trace(model).get_trace(x, y)  # NaN weights give a NaN density
    log_density = start.log_prob_sum()
    if not torch.isfinite(log_density):
        raise ValueError(
            f"the log density is not finite at the initial point ({init!r}): {log_density.item()}"
        )
    params, potential, transforms, trace = initialize_model(
        model, model_args=(x, y), init_strategy=strategy, max_plate_nesting=1
    )
    latent = [n for n, site in trace.iter_stochastic_nodes() if not site_is_subsample(site)]
    generator = torch.Generator(device="cpu").manual_seed(0 if seed is None else seed)
    inits = []
    for chain in range(chains):
        start = {}
        for name, value in params.items():
            noise = (
                torch.randn(value.shape, generator=generator).to(value) if chain and jitter else 0
            )
            start[name] = (value + jitter * noise).detach()
        inits.append(start)
    return inits, potential, transforms, latent


@keeps_caller_state
def fit_hmc(
    model: BayesianModel,
    data: tuple[torch.Tensor, torch.Tensor],
    *,
    num_samples: int = 500,
    warmup: int = 300,
    kernel: str = "nuts",
    num_chains: int = 1,
    step_size: float | None = None,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    num_steps: int | None = None,
    trajectory_length: float | None = None,
    init: str | Posterior = "point_estimate",
    init_jitter: float = 1e-2,
    thinning: int = 1,
    potential: str = "auto",
    device: str | torch.device = "auto",
    draws_device: str | torch.device | None = "cpu",
    progress: bool = True,
    seed: int | None = None,
    callbacks: Iterable[Callable[[int, int, dict[str, float]], None]] = (),
    checkpoint_path: str | Path | None = None,
    checkpoint_every: int = 50,
    keep_on_interrupt: bool = False,
    chain_method: str = "auto",
    initial_params: dict[str, torch.Tensor] | None = None,
) -> Posterior:
    """Sample the posterior of ``model`` given all of ``data = (x, y)`` with HMC or NUTS.

    - ``kernel="nuts"`` (``max_tree_depth``) or ``"hmc"``: a fixed ``num_steps`` leapfrog
      steps (default 20) or a fixed ``trajectory_length``; ``step_size`` is the starting
      step size, adapted during ``warmup`` to ``target_accept``, with a diagonal mass
      matrix;
    - ``num_chains`` chains start from ``init`` (the network's point values, a prior draw,
      or a draw of a ``Posterior``), chains after the first jittered by ``init_jitter``
      (or from ``initial_params``, unconstrained, for a single chain); they run one after
      another on ``device`` (``chain_method="sequential"``) or in parallel processes
      (``"parallel"``: no progress bar, callbacks or checkpoints), chain ``i`` on ``cuda:i``
      when ``device`` is CUDA without an index and several GPUs are visible. ``"auto"``
      (default) runs them in parallel exactly then (unless callbacks, checkpoints or
      ``keep_on_interrupt`` need them in this process), one after another otherwise;
      ``info["chain_devices"]`` says where each ran;
    - ``thinning`` keeps every k-th draw; draws are kept on ``draws_device`` (CPU by
      default, sparing GPU memory; None keeps them where they were made);
    - ``callbacks``: ``f(chain, draw, stats)`` after each kept draw;
    - ``checkpoint_path``: the draws so far are written there (atomically) every
      ``checkpoint_every`` kept draws, and the final ones at the end, as a posterior file
      (``bn.Posterior.load(path, model)`` reads it, as it reads ``post.save``'s);
      ``keep_on_interrupt=True`` turns Ctrl-C into a Posterior holding the draws already
      made.
    """
    check_choice(kernel, KERNELS, "kernel")
    check_choice(potential, POTENTIALS, "potential")
    check_choice(chain_method, CHAIN_METHODS, "chain_method")
    if num_samples < 1 or warmup < 0 or num_chains < 1 or thinning < 1:
        raise ValueError(
            f"need num_samples >= 1, warmup >= 0, num_chains >= 1, thinning >= 1; got "
            f"{num_samples}, {warmup}, {num_chains}, {thinning}"
        )
    if not model.weight_sites:
        raise ValueError("the model has no Bayesian layers: use bn.nn layers or bn.bayesianize")
    warn_fixed_point_layers(model, "fit_hmc")
    x, y = data
    if x.device != y.device:
        raise ValueError(f"inputs are on {x.device} but targets on {y.device}")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need as many targets as inputs, and some: got {len(x)} and {len(y)}")
    if model.num_data != len(x):
        raise ValueError(
            f"full-batch HMC needs num_data == len(x); the model has num_data={model.num_data}, the data {len(x)}"
        )
    device = resolve(device)
    callbacks = list(callbacks)
    watched = bool(callbacks) or checkpoint_path is not None or keep_on_interrupt
    devices = chain_devices(device, num_chains)
    parallel = num_chains > 1 and (
        chain_method == "parallel"
        or (chain_method == "auto" and len(set(devices)) > 1 and not watched)
    )
    if not parallel:
        devices = [device] * num_chains
    if parallel and watched:
        raise ValueError("parallel chains take no callbacks, checkpoint_path or keep_on_interrupt")
    model.to(device)
    x, y = x.to(device), y.to(device)
    check_finite(x, "inputs")
    net = model.deterministic_net().to(device)
    with torch.no_grad():
        model.check_targets(y, net.eval()(x[:1]))
    _check_memory(net, x)
    for _, layer in normalization_layers(net) + normalization_layers(model):
        layer.train()  # the potential normalises with all of x, as each draw will

    inits, pyro_potential, transforms, latent = _initial(
        model, x, y, init, num_chains, init_jitter, seed
    )
    if initial_params is not None:
        if num_chains != 1:
            raise ValueError("initial_params sets the start of a single chain")
        inits = [{k: v.to(device) for k, v in initial_params.items()}]
    functional_ok = set(latent) == set(model.weight_sites) and expressible(model)
    if potential == "functional" and not functional_ok:
        raise ValueError(
            "the functional potential needs fixed priors and no latent sites besides the weights"
        )
    use_functional = functional_ok and potential != "pyro"
    potential_fn = (
        FunctionalPotential(model, x, y, net) if use_functional else _Counted(pyro_potential)
    )
    for start in inits:
        if not torch.isfinite(potential_fn(start)):
            raise ValueError(f"the log density is not finite at the initial point ({init!r})")

    draws: list[dict[str, list[torch.Tensor]]] = []  # per chain: site -> kept draws
    stats: dict[str, list[list[float]]] = {k: [] for k in STATS}
    store = torch.device(draws_device) if draws_device is not None else device
    info: dict[str, Any] = {
        "engine": "hmc",
        "kernel": kernel,
        "potential": "functional" if use_functional else "pyro",
        "num_chains": num_chains,
        "chain_devices": [str(d) for d in devices],
        "warmup": warmup,
        "thinning": thinning,
        "interrupted": False,
    }

    # Pyro's transforms map each site to the unconstrained space the kernel moves in.
    def record(
        chain: int,
        kern,
        sample: dict[str, torch.Tensor],
        calls_before: int,
        divergences_before: int,
        acceptance: float,
    ) -> None:
        values = {
            k: (transforms[k].inv(v) if k in transforms else v).detach().to(store)
            for k, v in sample.items()
        }
        for k, v in values.items():
            draws[chain].setdefault(k, []).append(v)
        current = kernel_stats(kern)
        lp = -current.potential_energy
        if math.isnan(lp):
            raise ValueError(
                f"chain {chain} produced a NaN log density at draw {len(stats['lp'][chain])}"
            )
        row = {
            "step_size": float(kern.step_size),
            "diverging": float(current.divergences > divergences_before),
            "acceptance_rate": acceptance,
            "n_steps": float(potential_fn.calls - calls_before),
            "lp": lp,
            "energy": kern.start_hamiltonian(),
        }
        for k in STATS:
            stats[k][chain].append(row[k])
        for cb in callbacks:
            cb(chain, len(stats["lp"][chain]) - 1, row)
        if checkpoint_path is not None and len(stats["lp"][chain]) % checkpoint_every == 0:
            _collected(model, draws, stats, info, kernel, x).save(checkpoint_path)

    if parallel:
        worker_options = {
            "num_samples": num_samples,
            "warmup": warmup,
            "kernel": kernel,
            "step_size": step_size,
            "target_accept": target_accept,
            "max_tree_depth": max_tree_depth,
            "num_steps": num_steps,
            "trajectory_length": trajectory_length,
            "thinning": thinning,
            "potential": potential,
        }
        chains = _run_parallel(model, (x, y), inits, devices, worker_options, seed)
        for chain_draws, chain_stats in chains:
            draws.append({k: list(v.to(store)) for k, v in chain_draws.items()})
            for k in STATS:
                stats[k].append(chain_stats[k][0])
        inits = []  # nothing left to run here
    bar = tqdm(
        total=num_chains * (warmup + num_samples),
        desc=f"{kernel}",
        disable=not progress or parallel,
    )
    try:
        for chain, start in enumerate(inits):
            draws.append({})
            for k in STATS:
                stats[k].append([])
            kern_cls = _NUTS if kernel == "nuts" else _HMC
            options = (
                {"max_tree_depth": max_tree_depth}
                if kernel == "nuts"
                else {"trajectory_length": trajectory_length}
            )
            kern = kern_cls(
                potential_fn=potential_fn,
                transforms=None,
                step_size=step_size or 1e-3,
                adapt_step_size=True,
                adapt_mass_matrix=True,
                target_accept_prob=target_accept,
                **options,
            )
            if kernel == "hmc" and trajectory_length is None:
                kern.fixed_steps = num_steps or 20
            state = {"calls": potential_fn.calls, "div": 0, "mean": 0.0}

            def hook(kern, sample, stage, i, chain=chain, state=state):
                current = kernel_stats(kern)
                bar.update()
                bar.set_postfix(
                    chain=chain,
                    step=f"{float(kern.step_size):.2e}",
                    acc=f"{current.mean_accept_prob:.2f}",
                    div=current.divergences,
                )
                if stage == "Sample":
                    # Pyro keeps the running mean over the sampling iterations: draw i's
                    # own acceptance probability is what moved it
                    mean = current.mean_accept_prob
                    acceptance = (i + 1) * mean - i * state["mean"] if i else mean
                    state["mean"] = mean
                    if i % thinning == 0:
                        record(chain, kern, sample, state["calls"], state["div"], acceptance)
                state["calls"], state["div"] = potential_fn.calls, current.divergences

            mcmc = MCMC(
                kern,
                num_samples=num_samples,
                warmup_steps=warmup,
                initial_params=start,
                hook_fn=hook,
                disable_progbar=True,
            )
            mcmc.run()
    except KeyboardInterrupt:
        if not keep_on_interrupt or not any(stats["lp"]):
            raise
        info["interrupted"] = True
    finally:
        bar.close()
    posterior = _collected(model, draws, stats, info, kernel, x)
    if checkpoint_path is not None:
        posterior.save(checkpoint_path)
    _check_divergent_chains(posterior, posterior.sampler.stats["diverging"])
    return posterior


def _collected(model, draws, stats, info, kernel: str, x: torch.Tensor) -> Posterior:
    """The draws so far as a posterior: the chains with draws, cut to a common length (an
    interrupted chain shortens the rest), with their statistics."""
    keep = [c for c, lps in enumerate(stats["lp"]) if lps]
    kept = min(len(stats["lp"][c]) for c in keep)
    chains = [{k: v[:kept] for k, v in draws[c].items()} for c in keep]
    stats = {k: [v[c][:kept] for c in keep] for k, v in stats.items()}
    if kernel == "nuts":
        stats["tree_depth"] = [[round(math.log2(n + 1)) for n in c] for c in stats["n_steps"]]
    info = {
        **info,
        "chains": len(keep),
        "draws_per_chain": kept,
        "divergences": [int(sum(c)) for c in stats["diverging"]],
    }
    sampler = DrawsSampler(_stack(chains), len(keep), stats)
    return Posterior(model, sampler, info, normalization_inputs(model, x))


class SamplingDiverged(RuntimeError):
    """Every draw of every chain diverged; ``posterior`` holds them for inspection."""

    def __init__(self, message: str, posterior: Posterior) -> None:
        super().__init__(message)
        self.posterior = posterior


def _check_divergent_chains(posterior: Posterior, diverging: list[list[float]]) -> None:
    """A chain whose every draw diverged did not move through the posterior (a NaN or Inf
    in the potential, or a step size it could not adapt): say so, by chain."""
    broken = [c for c, flags in enumerate(diverging) if flags and all(flags)]
    posterior.info["all_divergent_chains"] = broken
    if not broken:
        return
    message = (
        f"HMC chain(s) {broken} diverged at every draw: their draws are not samples of the "
        "posterior (a NaN or Inf in the model's log density, or a step size too large). "
        "Check the model on the data, or lower step_size / raise target_accept."
    )
    if len(broken) == len(diverging):
        raise SamplingDiverged(message, posterior)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def _chain_worker(model, data, start, device, options, seed, threads):
    """One chain in a fresh process (spawned: safe with torch's threads and CUDA) on
    ``device``; its draws come back on the CPU."""
    torch.set_num_threads(threads)
    try:
        post = fit_hmc(
            model,
            data,
            num_chains=1,
            initial_params=start,
            progress=False,
            seed=seed,
            device=device,
            chain_method="sequential",
            draws_device="cpu",
            **options,
        )
    except SamplingDiverged as err:  # the parent judges the chains together
        post = err.posterior
    return post.sampler.draws, post.sampler.stats


def _run_parallel(model, data, inits, devices, options, seed):
    """Chain ``i`` from ``inits[i]`` in its own process on ``devices[i]``; the model, data
    and starts travel on the CPU (each worker moves them to its device)."""
    workers = min(len(inits), max(os.cpu_count() or 1, len(set(devices))))
    threads = max(1, torch.get_num_threads() // workers)
    context = multiprocessing.get_context("spawn")
    model = copy.deepcopy(model).cpu()
    data = tuple(t.cpu() for t in data)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [
            pool.submit(
                _chain_worker,
                model,
                data,
                {k: v.cpu() for k, v in start.items()},
                str(devices[chain]),
                options,
                (seed or 0) + chain,
                threads,
            )
            for chain, start in enumerate(inits)
        ]
        return [f.result() for f in futures]


def _stack(draws: list[dict[str, list[torch.Tensor]]]) -> dict[str, torch.Tensor]:
    """Draws of every chain, chain after chain: ``{site: [chains * draws, ...]}``."""
    chains = [c for c in draws if c]
    if not chains:
        return {}
    return {k: torch.cat([torch.stack(c[k]) for c in chains]) for k in chains[0]}
