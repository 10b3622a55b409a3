"""Engines over a plain network (no Pyro model): SWAG and MultiSWAG (``swag``, from the
iterates a ``collector`` keeps, in bayesnet's loop or yours), IVON (``ivon``, the authors'
optimiser), the Laplace approximation (``laplace``, through laplace-torch) and the
baselines of the same architecture (``baselines``: the point estimate, temperature
scaling, MC dropout, the deep ensemble).

May import: ``bayesnet``'s data, nn, models, posterior, run, and ``infer.shared``;
nothing from the Pyro-model engines or the wrappers."""
