"""HMC's sampling loop as an object: ``Chains`` runs Pyro's kernels chain after chain and
keeps every kept draw (in the constrained space) with its statistics, calls the callbacks
and writes mid-run checkpoints; ``posterior()`` is what it holds so far."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pyro.infer.mcmc import HMC, MCMC, NUTS
from tqdm.auto import tqdm

from ..._compat import HamiltonianAtStart, kernel_stats
from ...models import BayesianModel
from ...nn.normalization import normalization_inputs
from ...posterior import DrawsSampler, Posterior

__all__ = ["Chains", "Keeping", "STATS", "make_kernel"]

#: what every kept draw records (``Posterior.to_arviz``'s ``sample_stats``)
STATS = ("step_size", "diverging", "acceptance_rate", "n_steps", "lp", "energy")
#: leapfrog steps of ``kernel="hmc"`` without ``num_steps`` or ``trajectory_length``
DEFAULT_STEPS = 20

Callback = Callable[[int, int, dict[str, float]], None]


class _NUTS(HamiltonianAtStart, NUTS):
    """NUTS recording the Hamiltonian at the start of each transition."""


class _HMC(HamiltonianAtStart, HMC):
    """HMC recording the Hamiltonian at the start of each transition. Pyro's HMC fixes the
    trajectory length; with ``fixed_steps`` the number of leapfrog steps stays fixed
    instead while the step size adapts."""

    fixed_steps: int | None = None

    @property
    def num_steps(self) -> int:
        return self.fixed_steps or max(1, int(self.trajectory_length / self.step_size))


def make_kernel(
    kernel: str,
    potential_fn: Callable,
    *,
    step_size: float | None,
    target_accept: float,
    max_tree_depth: int,
    num_steps: int | None,
    trajectory_length: float | None,
):
    """A NUTS or HMC kernel over ``potential_fn`` adapting its step size and a diagonal
    mass matrix during warm-up."""
    options = (
        {"max_tree_depth": max_tree_depth}
        if kernel == "nuts"
        else {"trajectory_length": trajectory_length}
    )
    kern = (_NUTS if kernel == "nuts" else _HMC)(
        potential_fn=potential_fn,
        transforms=None,
        step_size=step_size or 1e-3,
        adapt_step_size=True,
        adapt_mass_matrix=True,
        target_accept_prob=target_accept,
        **options,
    )
    if kernel == "hmc" and trajectory_length is None:
        kern.fixed_steps = num_steps or DEFAULT_STEPS
    return kern


@dataclass
class _Progress:
    """Where a chain's kernel stood after the previous iteration: gradient evaluations,
    divergences and Pyro's running mean acceptance probability."""

    calls: int
    divergences: int = 0
    mean_accept: float = 0.0


@dataclass(frozen=True)
class Keeping:
    """Which draws a run keeps and who hears of them: every ``thinning``-th draw, kept on
    ``store``; ``callbacks`` get ``(chain, draw, stats)``; every ``checkpoint_every`` kept
    draws of a chain, the draws so far are saved to ``checkpoint_path``."""

    store: torch.device
    thinning: int = 1
    callbacks: Sequence[Callback] = ()
    checkpoint_path: Path | None = None
    checkpoint_every: int = 50


class Chains:
    """Every chain's kept draws and statistics.

    ``transforms`` map the kernel's unconstrained values back to each site's support;
    ``potential_fn`` counts its calls (``calls``: gradient evaluations per draw);
    ``keeping`` says which draws are kept, where, and who hears of them."""

    def __init__(
        self,
        model: BayesianModel,
        x: torch.Tensor,
        info: dict[str, Any],
        transforms: dict,
        potential_fn,
        keeping: Keeping,
    ) -> None:
        self.model, self.x, self.info = model, x, info
        self.transforms, self.potential_fn, self.keeping = transforms, potential_fn, keeping
        self.draws: list[dict[str, list[torch.Tensor]]] = []  # per chain: site -> draws
        self.stats: dict[str, list[list[float]]] = {k: [] for k in STATS}

    def add(self, draws: dict[str, torch.Tensor], stats: dict[str, list[list[float]]]) -> None:
        """A chain run elsewhere (a parallel worker): its draws and statistics."""
        self.draws.append({k: list(v.to(self.keeping.store)) for k, v in draws.items()})
        for k in STATS:
            self.stats[k].append(stats[k][0])

    def run(self, kern, start: dict[str, torch.Tensor], warmup: int, num_samples: int, bar: tqdm):
        """One chain of ``kern`` from ``start`` (unconstrained), recorded as it goes."""
        chain = len(self.draws)
        self.draws.append({})
        for k in STATS:
            self.stats[k].append([])
        progress = _Progress(self.potential_fn.calls)

        def hook(kern, sample, stage, i):
            current = kernel_stats(kern)
            bar.update()
            bar.set_postfix(
                chain=chain,
                step=f"{float(kern.step_size):.2e}",
                acc=f"{current.mean_accept_prob:.2f}",
                div=current.divergences,
            )
            if stage == "Sample":
                # Pyro keeps the running mean over the sampling iterations: draw i's own
                # acceptance probability is what moved it
                mean = current.mean_accept_prob
                acceptance = (i + 1) * mean - i * progress.mean_accept if i else mean
                progress.mean_accept = mean
                if i % self.keeping.thinning == 0:
                    self._record(chain, kern, sample, progress, acceptance)
            progress.calls, progress.divergences = self.potential_fn.calls, current.divergences

        MCMC(
            kern,
            num_samples=num_samples,
            warmup_steps=warmup,
            initial_params=start,
            hook_fn=hook,
            disable_progbar=True,
        ).run()

    def _record(self, chain: int, kern, sample, before: _Progress, acceptance: float) -> None:
        for k, v in sample.items():
            value = self.transforms[k].inv(v) if k in self.transforms else v
            self.draws[chain].setdefault(k, []).append(value.detach().to(self.keeping.store))
        current = kernel_stats(kern)
        lp = -current.potential_energy
        if math.isnan(lp):
            raise ValueError(
                f"chain {chain} produced a NaN log density at draw {len(self.stats['lp'][chain])}"
            )
        row = {
            "step_size": float(kern.step_size),
            "diverging": float(current.divergences > before.divergences),
            "acceptance_rate": acceptance,
            "n_steps": float(self.potential_fn.calls - before.calls),
            "lp": lp,
            "energy": kern.start_hamiltonian(),
        }
        for k in STATS:
            self.stats[k][chain].append(row[k])
        kept = len(self.stats["lp"][chain])
        keeping = self.keeping
        for cb in keeping.callbacks:
            cb(chain, kept - 1, row)
        if keeping.checkpoint_path is not None and kept % keeping.checkpoint_every == 0:
            self.posterior().save(keeping.checkpoint_path)

    @property
    def any_kept(self) -> bool:
        return any(self.stats["lp"])

    def posterior(self) -> Posterior:
        """The draws so far as a posterior: the chains with draws, cut to a common length
        (an interrupted chain shortens the rest), with their statistics."""
        keep = [c for c, lps in enumerate(self.stats["lp"]) if lps]
        kept = min(len(self.stats["lp"][c]) for c in keep)
        chains = [{k: v[:kept] for k, v in self.draws[c].items()} for c in keep]
        stats = {k: [v[c][:kept] for c in keep] for k, v in self.stats.items()}
        if self.info["kernel"] == "nuts":
            stats["tree_depth"] = [[round(math.log2(n + 1)) for n in c] for c in stats["n_steps"]]
        info = {
            **self.info,
            "chains": len(keep),
            "draws_per_chain": kept,
            "divergences": [int(sum(c)) for c in stats["diverging"]],
        }
        sampler = DrawsSampler(_stack(chains), len(keep), stats)
        return Posterior(self.model, sampler, info, normalization_inputs(self.model, self.x))


def _stack(draws: list[dict[str, list[torch.Tensor]]]) -> dict[str, torch.Tensor]:
    """Draws of every chain, chain after chain: ``{site: [chains * draws, ...]}``."""
    chains = [c for c in draws if c]
    if not chains:
        return {}
    return {k: torch.cat([torch.stack(c[k]) for c in chains]) for k in chains[0]}
