"""``python -m bayesnet.cli``: the command line."""

from . import main

raise SystemExit(main())
