"""Stochastic variational inference over a Pyro model: ``fit_svi`` (``fit``) and what it
is made of: the guides and their typed families, the ELBO (traced and functional), the
local reparameterizations, the MAP warm start, the training loop, its step and its
checkpoints, and the sampler of a fitted guide.

May import: ``bayesnet``'s data, nn, priors, models, posterior, run, checkpoint, and
``infer.shared``; nothing from the other engines or the wrappers."""
