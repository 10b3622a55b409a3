"""The private Pyro and torch APIs bayesnet needs, each with no public equivalent, in one
place. ``tests/test_compat.py`` exercises every one against the installed versions, so an
upgrade that moves or renames one fails there, by name, rather than somewhere downstream;
``pyproject.toml`` bounds ``pyro-ppl`` to the major version they were tested with.

- A PyroModule learns its site-name prefix only from a PyroModule parent; in a user's plain
  ``nn.Module`` it stays anonymous. Pyro has no public way to name it or to share one scope
  (``_Context``) between sibling PyroModules.
- Pyro's HMC and NUTS kernels keep their per-iteration statistics (potential energy,
  divergences, acceptance) in private attributes; its public diagnostics only summarise
  them after the run, and the progress bar and ArviZ's ``sample_stats`` need them per draw.
  The Hamiltonian at the start of a transition (for the energy plot and BFMI) is the
  kinetic energy of the momentum the kernel draws, which only its private
  ``_kinetic_energy`` sees, plus the potential where it starts.
- torch's convolutions apply their padding mode inside ``_conv_forward``; calling the
  functional op instead would drop the non-zero padding modes.
- Pyro's autoguides build their parameters in ``_setup_prototype`` once the model is
  traced, the hook its own guides extend; ``GuideSetup`` turns it into public names.
- laplace-torch's last-layer approximation keeps the layer it found in its state under
  ``_last_layer_name`` (with the batch it found it from), and takes it back from there.
- A tensor's ``_version`` counter is the only cheap way to know a buffer changed in place.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from pyro.nn.module import _Context
from torch import nn

from ._pyro import local_params

__all__ = [
    "Scope",
    "new_scope",
    "name_module",
    "module_name",
    "conv_forward",
    "version",
    "KernelStats",
    "kernel_stats",
    "HamiltonianAtStart",
    "GuideSetup",
    "laplace_state",
]

Scope = _Context


def new_scope() -> Scope:
    """A PyroModule scope to be shared by several top-level PyroModules."""
    with local_params():
        return _Context()


def name_module(module: nn.Module, path: str, scope: Scope) -> None:
    """Give a PyroModule the site-name prefix ``path`` and the shared ``scope``."""
    module._pyro_set_supermodule(path, scope)


def module_name(module: nn.Module) -> str:
    """A PyroModule's site-name prefix ("" when it is anonymous)."""
    return getattr(module, "_pyro_name", "")


def conv_forward(layer: nn.Module, x: torch.Tensor, weight: torch.Tensor, bias) -> torch.Tensor:
    """A torch convolution's map with explicit weights, its padding mode included."""
    return layer._conv_forward(x, weight, bias)


def version(t: torch.Tensor) -> int:
    """How many in-place changes ``t`` has seen."""
    return t._version


class KernelStats(NamedTuple):
    """One iteration of a Pyro HMC/NUTS kernel."""

    potential_energy: float
    divergences: int  # so far, warm-up included
    mean_accept_prob: float


def kernel_stats(kernel) -> KernelStats:
    """The statistics a Pyro HMC or NUTS kernel keeps after its last ``sample`` call."""
    return KernelStats(
        float(kernel._potential_energy_last),
        len(kernel._divergences),
        float(kernel._mean_accept_prob),
    )


class HamiltonianAtStart:
    """A mixin for Pyro's ``HMC`` and ``NUTS`` kernels (``class K(HamiltonianAtStart,
    NUTS)``) that keeps the Hamiltonian at the start of each transition: the potential
    energy where it starts plus the kinetic energy of the momentum it draws (the first
    kinetic energy a transition computes). Along the trajectory the integrator keeps it
    up to its error, so it is the energy Stan and ArviZ's BFMI read per draw."""

    _start_kinetic = None
    _start_potential = None

    def sample(self, params):
        self._start_kinetic = None
        cached = self._potential_energy_last
        potential = cached if cached is not None else self.potential_fn(params)
        self._start_potential = float(potential)
        return super().sample(params)

    def _kinetic_energy(self, r_unscaled):
        energy = super()._kinetic_energy(r_unscaled)
        if self._start_kinetic is None:
            self._start_kinetic = energy
        return energy

    def start_hamiltonian(self) -> float:
        """The last transition's starting Hamiltonian (NaN before any transition)."""
        if self._start_kinetic is None or self._start_potential is None:
            return float("nan")
        return float(self._start_kinetic) + self._start_potential


class GuideSetup:
    """A mixin for a Pyro ``AutoGuide`` (``class G(GuideSetup, AutoGuide)``): Pyro traces
    the model once, on the guide's first call, in its private ``_setup_prototype``; this
    calls ``self.setup_sites(self.prototype_trace)`` right after, and ``setup(*args)``
    runs the whole step on demand."""

    def _setup_prototype(self, *args, **kwargs):
        super()._setup_prototype(*args, **kwargs)
        self.setup_sites(self.prototype_trace)

    def setup(self, *args, **kwargs) -> None:
        """Trace the model on ``args`` and build the guide's parameters."""
        self._setup_prototype(*args, **kwargs)

    def setup_sites(self, trace) -> None:
        """Build the guide's parameters from the model's traced sites."""
        raise NotImplementedError


def laplace_state(approximation, last_layer: str | None) -> dict:
    """A laplace-torch approximation's ``state_dict`` in plain values: its likelihood enum
    as text and, for a last-layer approximation, the layer by name instead of the batch it
    was found from (so a loaded posterior needs no data)."""
    saved = approximation.state_dict()
    saved["likelihood"] = str(saved["likelihood"])
    if "_last_layer_name" in saved:
        saved.update(_last_layer_name=last_layer, data=None)
    return saved
