"""``bayesnet diagnose RUN_DIR``: convergence of a run's exported posterior."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from .. import diagnostics

__all__ = ["run_diagnose"]


def run_diagnose(run_dir: str | Path, weights: bool = False) -> str:
    """Function-space summary of a run's ``posterior.nc`` (with ``weights``, the
    weight-space table too), with trace, rank and energy plots written beside it; says
    what it does as it goes (stderr)."""
    import arviz as az
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    path = run_dir / "posterior.nc"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run `bayesnet compare` first")
    say = functools.partial(print, file=sys.stderr, flush=True)
    say(f"reading {path}")
    idata = az.from_netcdf(path)
    engine = idata.posterior.attrs.get("engine", "unknown engine")
    say(f"function-space R-hat and ESS ({engine})" + (", weight space" if weights else ""))
    text = f"posterior: {engine}\n" + str(diagnostics.summary(idata, weights=weights))
    say("plots: trace, rank" + (", energy" if "sample_stats" in idata.groups() else ""))
    last = min(
        idata.posterior.data_vars, key=lambda v: idata.posterior[v].size
    )  # a bias: few scalars
    plots = {"trace": az.plot_trace, "rank": az.plot_rank}
    for name, plot in plots.items():
        plot(idata, var_names=[last])
        plt.gcf().savefig(run_dir / f"{name}.png", dpi=90)
        plt.close("all")
    if "sample_stats" in idata.groups() and "energy" in idata.sample_stats:  # HMC's
        az.plot_energy(idata)
        plt.gcf().savefig(run_dir / "energy.png", dpi=90)
        plt.close("all")
    written = [n for n in ("trace", "rank", "energy") if (run_dir / f"{n}.png").exists()]
    return f"{text}\n\nplots: {', '.join(f'{run_dir}/{n}.png' for n in written)}"
