"""``bayesnet diagnose RUN_DIR``: convergence of a run's exported posterior."""

from __future__ import annotations

from pathlib import Path

from .. import diagnostics

__all__ = ["run_diagnose"]


def run_diagnose(run_dir: str | Path) -> str:
    """Function- and weight-space summary of a run's ``posterior.nc``, with trace, rank
    and energy plots written beside it."""
    import arviz as az
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    path = run_dir / "posterior.nc"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run `bayesnet compare` first")
    idata = az.from_netcdf(path)
    text = str(diagnostics.summary(idata))
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
    return text
