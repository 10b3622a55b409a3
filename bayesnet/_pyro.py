"""The Pyro setting bayesnet's PyroModules are created and run under, scoped to them.

PyroModule parameters (the guides' means and scales) live in Pyro's global parameter
store by default, keyed by name: two guides over networks with the same layer names
would then share, and silently overwrite, each other's parameters. bayesnet keeps them
local to each module, as plain torch modules do: Pyro's ``module_local_params`` mode.
The mode is switched on only while bayesnet creates or runs its own PyroModules, never
globally, so a user's Pyro code in the same process keeps Pyro's defaults.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pyro

__all__ = ["local_params", "LocalParams"]


def local_params() -> contextlib.AbstractContextManager:
    """Pyro's module-local parameter mode, for the duration of a ``with`` block.

    A PyroModule's scope made under it keeps its own parameter state; the same mode has
    to be on whenever that module runs.
    """
    return pyro.settings.context(module_local_params=True)


class LocalParams:
    """Mixin for a PyroModule class: built and called in the module-local mode."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with local_params():
            super().__init__(*args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with local_params():
            return super().__call__(*args, **kwargs)
