"""Pyro settings bayesnet runs under, applied once on import.

PyroModule parameters (the guides' means and scales) live in Pyro's global parameter
store by default, keyed by name: two guides over networks with the same layer names
would then share, and silently overwrite, each other's parameters. bayesnet keeps them
local to each module, as plain torch modules do (Pyro's ``module_local_params`` mode,
which has to be on before PyroModules are created).
"""

import pyro

pyro.settings.set(module_local_params=True)
