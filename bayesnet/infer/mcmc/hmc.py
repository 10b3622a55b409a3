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
import multiprocessing
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..._checks import check_choice, check_finite
from ..._state import keeps_caller_state
from ...checkpoint import check_run_dir
from ...data.loaders import as_tensors, record_input_shape
from ...device import chain_devices, resolve
from ...models import BayesianModel
from ...nn.normalization import normalization_layers
from ...posterior import Posterior
from ...run import Run, run_settings
from .chains import Chains, Keeping, make_kernel
from .logjoint import expressible, warn_fixed_point_layers
from .start import Counted, FunctionalPotential, check_memory, initial_points

#: the file ``fit_hmc`` keeps its draws in, under ``Run(checkpoint_dir=...)``
DRAWS_NAME = "draws.pt"

__all__ = ["SamplingDiverged", "fit_hmc", "KERNELS", "POTENTIALS"]

KERNELS = ("nuts", "hmc")
CHAIN_METHODS = ("auto", "sequential", "parallel")
POTENTIALS = ("auto", "pyro", "functional")


@run_settings(supports=("callbacks", "checkpoint_dir", "overwrite"))
@keeps_caller_state
def fit_hmc(
    model: BayesianModel,
    data: Any,
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
    checkpoint_every: int = 50,
    keep_on_interrupt: bool = False,
    chain_method: str = "auto",
    initial_params: dict[str, torch.Tensor] | None = None,
    run: Run | None = None,
) -> Posterior:
    """Sample the posterior of ``model`` given all of ``data`` (an ``(x, y)`` pair, a Dataset or
    a loader: every example it yields, in one batch) with HMC or NUTS.

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
    - ``run`` (``bn.Run``): ``callbacks``: ``f(chain, draw, stats)`` after each kept draw;
      ``checkpoint_dir``: the draws so far are written to ``<checkpoint_dir>/draws.pt``
      (atomically) every ``checkpoint_every`` kept draws, and the final ones at the end, as
      a posterior file (``bn.Posterior.load(path, model)`` reads it, as it reads
      ``post.save``'s); a directory that holds one already needs ``overwrite=True``;
      ``keep_on_interrupt=True`` turns Ctrl-C into a Posterior holding the draws already
      made.
    """
    _check_settings(kernel, potential, chain_method, num_samples, warmup, num_chains, thinning)
    x, y = _checked_data(model, data)
    device = resolve(device)
    checkpoint_path = _checkpoint_path(run)
    watched = bool(run.callbacks) or checkpoint_path is not None or keep_on_interrupt
    devices, parallel = _placement(device, num_chains, chain_method, watched)
    x, y = x.to(device), y.to(device)
    net = _placed(model, x, y, device)

    inits, pyro_potential, transforms, latent = initial_points(
        model, x, y, init, num_chains, init_jitter, seed
    )
    if initial_params is not None:
        inits = _single_start(initial_params, num_chains, device)
    use_functional = _functional_potential(model, latent, potential)
    potential_fn = Counted(
        FunctionalPotential(model, x, y, net) if use_functional else pyro_potential
    )
    for start in inits:
        if not torch.isfinite(potential_fn(start)):
            raise ValueError(f"the log density is not finite at the initial point ({init!r})")

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
    keeping = Keeping(
        store=torch.device(draws_device) if draws_device is not None else device,
        thinning=thinning,
        callbacks=run.callbacks,
        checkpoint_path=checkpoint_path,
        checkpoint_every=checkpoint_every,
    )
    chains = Chains(model, x, info, transforms, potential_fn, keeping)
    kernel_options = {
        "step_size": step_size,
        "target_accept": target_accept,
        "max_tree_depth": max_tree_depth,
        "num_steps": num_steps,
        "trajectory_length": trajectory_length,
    }
    if parallel:
        options = {"kernel": kernel, "thinning": thinning, "potential": potential}
        options |= {"num_samples": num_samples, "warmup": warmup, **kernel_options}
        for chain_draws, chain_stats in _run_parallel(model, (x, y), inits, devices, options, seed):
            chains.add(chain_draws, chain_stats)
    else:
        _run_here(
            chains,
            inits,
            (kernel, kernel_options),
            (warmup, num_samples),
            progress,
            keep_on_interrupt,
        )
    posterior = chains.posterior()
    record_input_shape(posterior, x)
    if checkpoint_path is not None:
        posterior.save(checkpoint_path)
    _check_divergent_chains(posterior, posterior.sampler.stats["diverging"])
    return posterior


def _check_settings(
    kernel: str,
    potential: str,
    chain_method: str,
    num_samples: int,
    warmup: int,
    num_chains: int,
    thinning: int,
) -> None:
    check_choice(kernel, KERNELS, "kernel")
    check_choice(potential, POTENTIALS, "potential")
    check_choice(chain_method, CHAIN_METHODS, "chain_method")
    if num_samples < 1 or warmup < 0 or num_chains < 1 or thinning < 1:
        raise ValueError(
            f"need num_samples >= 1, warmup >= 0, num_chains >= 1, thinning >= 1; got "
            f"{num_samples}, {warmup}, {num_chains}, {thinning}"
        )


def _checked_data(model: BayesianModel, data: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """All of ``data`` as one ``(x, y)`` pair that full-batch HMC can use with ``model``."""
    if not model.weight_sites:
        raise ValueError("the model has no Bayesian layers: use bn.nn layers or bn.bayesianize")
    warn_fixed_point_layers(model, "fit_hmc")
    x, y = as_tensors(data)
    if x.device != y.device:
        raise ValueError(f"inputs are on {x.device} but targets on {y.device}")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need as many targets as inputs, and some: got {len(x)} and {len(y)}")
    if model.num_data != len(x):
        raise ValueError(
            f"full-batch HMC needs num_data == len(x); the model has num_data={model.num_data}, the data {len(x)}"
        )
    return x, y


def _checkpoint_path(run: Run) -> Path | None:
    if run.checkpoint_dir is None:
        return None
    check_run_dir(Path(run.checkpoint_dir), (DRAWS_NAME,), False, run.overwrite)
    return Path(run.checkpoint_dir) / DRAWS_NAME


def _placement(
    device: torch.device, num_chains: int, chain_method: str, watched: bool
) -> tuple[list[torch.device], bool]:
    """Each chain's device, and whether they run in parallel processes: asked for, or
    ``"auto"`` with several devices and nothing (callbacks, checkpoints, keeping draws on
    Ctrl-C) that needs the chains in this process."""
    devices = chain_devices(device, num_chains)
    parallel = num_chains > 1 and (
        chain_method == "parallel"
        or (chain_method == "auto" and len(set(devices)) > 1 and not watched)
    )
    if parallel and watched:
        raise ValueError("parallel chains take no callbacks, checkpoint_dir or keep_on_interrupt")
    return (devices if parallel else [device] * num_chains), parallel


def _placed(
    model: BayesianModel, x: torch.Tensor, y: torch.Tensor, device: torch.device
) -> torch.nn.Module:
    """``model`` on ``device`` (where ``x`` and ``y`` are) and its plain-torch network,
    checked against the data and its memory, normalisation layers in training mode: the
    potential normalises with all of ``x``, as each draw will."""
    model.to(device)
    check_finite(x, "inputs")
    net = model.deterministic_net().to(device)
    model.check_targets(y, model.first_output(x, net))
    check_memory(net, x)
    for _, layer in normalization_layers(net) + normalization_layers(model):
        layer.train()
    return net


def _single_start(
    initial_params: dict[str, torch.Tensor], num_chains: int, device: torch.device
) -> list[dict[str, torch.Tensor]]:
    if num_chains != 1:
        raise ValueError("initial_params sets the start of a single chain")
    return [{k: v.to(device) for k, v in initial_params.items()}]


def _functional_potential(model: BayesianModel, latent: dict, potential: str) -> bool:
    """Whether the potential is the functional one: asked for or ``"auto"``, and the model
    allows it (fixed priors, no latent sites besides the weights)."""
    allowed = set(latent) == set(model.weight_sites) and expressible(model)
    if potential == "functional" and not allowed:
        raise ValueError(
            "the functional potential needs fixed priors and no latent sites besides the weights"
        )
    return allowed and potential != "pyro"


def _run_here(
    chains: Chains,
    inits: list[dict[str, torch.Tensor]],
    kernel: tuple[str, dict[str, Any]],
    lengths: tuple[int, int],
    progress: bool,
    keep_on_interrupt: bool,
) -> None:
    """The chains one after another in this process: ``kernel`` is its name and options,
    ``lengths`` the warm-up and kept draws per chain; Ctrl-C keeps the draws made when
    ``keep_on_interrupt`` says so."""
    (name, options), (warmup, num_samples) = kernel, lengths
    bar = tqdm(total=len(inits) * (warmup + num_samples), desc=name, disable=not progress)
    try:
        for start in inits:
            kern = make_kernel(name, chains.potential_fn, **options)
            chains.run(kern, start, warmup, num_samples, bar)
    except KeyboardInterrupt:
        if not keep_on_interrupt or not chains.any_kept:
            raise
        chains.info["interrupted"] = True
    finally:
        bar.close()


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
