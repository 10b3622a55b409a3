"""The pieces several engines share: the minibatch loop (``loop``), JSON-lines logs
(``log``), several processes (``distributed``), the collapse check (``collapse``), a
flat Gaussian over a network's weights (``gaussian``), independent starts mixed
(``starts``) and the temperature chosen by validation (``tempering``), the last two the
options through which every engine offers multi-start and tempering.

May import: ``bayesnet``'s data, nn, models, posterior, run, checkpoint; nothing from
``infer``'s engines or wrappers."""
