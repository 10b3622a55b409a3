"""ArviZ export: groups, dims, shapes, LOO, plots, NetCDF round trip."""

import arviz as az
import matplotlib
import numpy as np
import pytest
import torch
from conftest import loader_of

import bayesnet as bn

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def posts(digits):
    train, test = digits
    x, y = train.tensors[0][:120], train.tensors[1][:120]

    def model():
        torch.manual_seed(0)
        return bn.Classifier(
            bn.bayesianize(bn.zoo.mlp(64, 10, hidden=(6,)), prior=bn.priors.Normal(1.0)), 120
        )

    hmc = bn.fit_hmc(
        model(),
        (x, y),
        num_samples=40,
        warmup=40,
        num_chains=2,
        max_tree_depth=4,
        progress=False,
        seed=0,
    )
    svi = bn.fit_svi(model(), loader_of(x, y, 60), epochs=3, progress=False, seed=0)
    return {"hmc": hmc, "svi": svi}, test.tensors[0][:30], test.tensors[1][:30]


def test_groups_dims_and_shapes(posts):
    (p, x, y) = posts
    hmc = p["hmc"].to_arviz(x, y)
    assert set(hmc.groups()) == {
        "posterior",
        "sample_stats",
        "posterior_predictive",
        "log_likelihood",
        "observed_data",
    }
    assert hmc.posterior["1.weight"].dims == ("chain", "draw", "1.weight_dim_0", "1.weight_dim_1")
    assert hmc.posterior["1.weight"].shape == (2, 40, 6, 64)
    assert hmc.posterior["3.bias"].shape == (2, 40, 10)
    for stat in (
        "diverging",
        "step_size",
        "tree_depth",
        "n_steps",
        "acceptance_rate",
        "lp",
        "energy",
    ):
        assert hmc.sample_stats[stat].shape == (2, 40), stat
    assert hmc.log_likelihood["obs"].shape == (2, 40, 30)
    assert hmc.posterior_predictive["probs"].shape == (2, 40, 30, 10)
    assert np.array_equal(hmc.observed_data["obs"].values, y.numpy())
    svi = p["svi"].to_arviz(x, y, num_samples=25)
    assert svi.posterior["1.weight"].shape == (1, 25, 6, 64) and "sample_stats" not in svi.groups()
    # the log-likelihood is the model's own, draw by draw
    draw = {
        k: torch.as_tensor(hmc.posterior[k].values[1, 7])
        for k in ("1.weight", "1.bias", "3.weight", "3.bias")
    }
    probs = p["hmc"].forward(x, {k: v[None] for k, v in draw.items()})[0]
    expected = probs[torch.arange(30), y].log()
    assert np.allclose(hmc.log_likelihood["obs"].values[1, 7], expected.numpy(), atol=1e-5)


def test_arviz_tools_run_and_netcdf_is_lossless(posts, tmp_path):
    (p, x, y) = posts
    idata = p["hmc"].to_arviz(x, y)
    assert "r_hat" in az.summary(idata, var_names=["3.bias"]).columns
    assert np.isfinite(az.loo(idata).elpd_loo)
    az.plot_trace(idata, var_names=["3.bias"], coords={"3.bias_dim_0": [0, 1]})
    az.plot_rank(idata, var_names=["3.bias"], coords={"3.bias_dim_0": [0]})
    az.plot_energy(idata)
    idata.to_netcdf(tmp_path / "p.nc")
    back = az.from_netcdf(tmp_path / "p.nc")
    for group in idata.groups():
        for name, var in getattr(idata, group).data_vars.items():
            assert np.array_equal(getattr(back, group)[name].values, var.values), (group, name)


def test_saved_hmc_posterior_exports_the_same(posts, tmp_path, digits):
    (p, x, y) = posts
    p["hmc"].save(tmp_path / "hmc.pt")
    fresh = bn.Classifier(
        bn.bayesianize(bn.zoo.mlp(64, 10, hidden=(6,)), prior=bn.priors.Normal(1.0)), 120
    )
    loaded = bn.Posterior.load(tmp_path / "hmc.pt", fresh).to_arviz(x, y)
    original = p["hmc"].to_arviz(x, y)
    assert np.array_equal(
        loaded.posterior["1.weight"].values, original.posterior["1.weight"].values
    )
    assert np.array_equal(loaded.sample_stats["lp"].values, original.sample_stats["lp"].values)


def test_function_space_summary_and_loo_compare(posts):
    (p, x, y) = posts
    diag = bn.diagnostics.summary(p["hmc"], x, y)
    assert set(diag.function_space.index) == {"probs", "log_lik", "lpd"}
    assert list(diag.chains["chain"]) == [0, 1]
    assert "function space" in str(diag)
    table = bn.diagnostics.compare({"hmc": p["hmc"], "svi": p["svi"]}, x, y)
    assert set(table.index) == {"hmc", "svi"} and "elpd_loo" in table.columns
    with pytest.raises(ValueError, match="need evaluation inputs"):
        bn.diagnostics.summary(p["hmc"])
