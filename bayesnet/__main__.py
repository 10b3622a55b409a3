"""``python -m bayesnet`` (and ``torchrun -m bayesnet train CONFIG.toml``): the command line."""

from .cli import main

raise SystemExit(main())
