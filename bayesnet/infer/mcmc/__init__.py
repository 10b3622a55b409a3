"""Markov chain Monte Carlo over a Pyro model: full-batch HMC/NUTS (``hmc``: ``fit_hmc``,
its chains and their start) and stochastic-gradient MCMC (``sgmcmc``: cyclical SGHMC and
SGLD), on one log joint written over the plain-torch network (``logjoint``).

May import: ``bayesnet``'s data, nn, priors, models, posterior, run, checkpoint, and
``infer.shared``; nothing from the other engines or the wrappers."""
