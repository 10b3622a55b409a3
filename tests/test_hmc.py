"""HMC / NUTS: exact posteriors, chains, potentials, interruption, bad input."""

import arviz as az
import numpy as np
import pytest
import torch
from conftest import conjugate_model
from pyro.infer.mcmc.util import initialize_model
from torch import nn

import bayesnet as bn
from bayesnet.infer import FunctionalPotential
from bayesnet.infer.mcmc import start as hmc_start


@pytest.mark.parametrize(
    ("kernel", "potential"),
    [
        ("nuts", "functional"),
        pytest.param("hmc", "functional", marks=pytest.mark.slow),  # 11 s
        pytest.param("nuts", "pyro", marks=pytest.mark.slow),  # 9 s
    ],
)
def test_conjugate_regression_within_monte_carlo_error(conjugate, kernel, potential):
    c = conjugate
    post = bn.fit_hmc(
        conjugate_model(c),
        (c["x"], c["y"]),
        num_samples=300,
        warmup=200,
        num_chains=2,
        kernel=kernel,
        potential=potential,
        progress=False,
        seed=1,
    )
    assert post.info["potential"] == potential
    draws = post.sample_params(None)["weight"].reshape(2, 300, -1).numpy()
    ess = az.ess(az.convert_to_dataset(draws))["x"].values
    sd = c["cov"].diag().sqrt().numpy()
    mcse_mean = sd / np.sqrt(ess)
    assert (np.abs(draws.reshape(600, -1).mean(0) - c["mean"].numpy()) < 4 * mcse_mean).all()
    var = draws.reshape(600, -1).var(0)
    mcse_var = c["cov"].diag().numpy() * np.sqrt(2 / ess)
    assert (np.abs(var - c["cov"].diag().numpy()) < 4 * mcse_var).all()
    cov = np.cov(draws.reshape(600, -1).T)
    assert np.allclose(cov, c["cov"].numpy(), atol=4 * mcse_var.max())


def test_functional_potential_equals_pyros(conjugate, digits):
    train, _ = digits
    x, y = train.tensors[0][:64], train.tensors[1][:64]
    model = bn.Classifier(
        bn.bayesianize(bn.zoo.digits_cnn(channels=(4, 8), hidden=16)), num_data=64
    )
    params, pyro_potential, _, _ = initialize_model(model, model_args=(x, y), max_plate_nesting=1)
    ours = FunctionalPotential(model, x, y)
    assert torch.allclose(ours(params), pyro_potential(params), rtol=1e-5)


@pytest.mark.slow
def test_small_cnn_chains_agree_in_function_space_and_beat_the_softmax(digits, two_threads):
    """Two NUTS chains on a small CNN (690 weights, 500 images) agree on its predictions
    (function-space R-hat) and give a better test NLL than the softmax of the same
    architecture, at accuracy within a point; far from the data they are less confident.

    With 200 images the untempered posterior underfits instead (benchmarks/RESULTS.md).
    """
    train, test = digits
    x, y = train.tensors[0][:500], train.tensors[1][:500]
    xt, yt = test.tensors
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 16, 10),
    )
    loader = bn.data.to_loader(torch.utils.data.TensorDataset(x, y), 32, seed=0)
    softmax = bn.baselines.point_estimate(net, loader, epochs=100, lr=3e-3, progress=False, seed=0)
    model = bn.Classifier(
        bn.bayesianize(softmax.net, prior=bn.priors.Normal(1.0), stochastic="all"), num_data=500
    )
    post = bn.fit_hmc(
        model,
        (x, y),
        num_samples=200,
        warmup=200,
        num_chains=2,
        max_tree_depth=6,
        progress=False,
        seed=0,
    )
    diag = bn.diagnostics.summary(post, xt[:100], yt[:100])
    assert diag.function_space.loc["lpd", "r_hat_max"] < 1.1
    assert diag.function_space.loc["probs", "r_hat_median"] < 1.1
    assert (diag.chains["divergences"] == 0).all()
    p_hmc, p_softmax = post.predict(xt, num_samples=None), softmax.predict(xt)
    metrics = bn.evaluate.metrics
    assert metrics.nll(p_hmc, yt) < metrics.nll(p_softmax, yt)
    assert metrics.accuracy(p_hmc, yt) > metrics.accuracy(p_softmax, yt) - 0.01
    noise = bn.evaluate.shift.noise_like(xt)
    conf_hmc = metrics.max_probability(post.predict(noise, num_samples=None)).mean()
    assert conf_hmc < metrics.max_probability(softmax.predict(noise)).mean() - 0.05


def test_hierarchical_scale_is_sampled_jointly(conjugate):
    c = conjugate
    net = bn.nn.BayesLinear(3, 1, bias=False, prior=bn.priors.Hierarchical())
    model = bn.Regressor(net, num_data=40, noise=c["sigma"])
    post = bn.fit_hmc(model, (c["x"], c["y"]), num_samples=50, warmup=50, progress=False, seed=0)
    assert post.info["potential"] == "pyro"  # the scale is a latent site: Pyro's potential
    idata = post.to_arviz()
    assert idata.posterior["scale"].shape == (1, 50) and (idata.posterior["scale"] > 0).all()


def test_interrupted_run_keeps_its_draws(conjugate, tmp_path):
    c = conjugate

    def stop(chain, draw, stats):
        if draw == 9:
            raise KeyboardInterrupt

    post = bn.fit_hmc(
        conjugate_model(c),
        (c["x"], c["y"]),
        num_samples=100,
        warmup=50,  # 20 could leave the step size at 6 and every draw divergent (an error)
        keep_on_interrupt=True,
        checkpoint_every=5,
        run=bn.Run(progress=False, seed=0, callbacks=[stop], checkpoint_dir=tmp_path),
    )
    assert post.info["interrupted"] and post.sampler.num_draws == 10
    # the checkpoint is a posterior file like any other: it loads, with its chain statistics
    saved = bn.Posterior.load(tmp_path / "draws.pt", conjugate_model(c))
    assert saved.sampler.num_draws == 10 and saved.info["interrupted"]
    torch.testing.assert_close(saved.sampler.draws["weight"], post.sampler.draws["weight"])
    assert saved.sampler.stats["diverging"] == post.sampler.stats["diverging"]
    with pytest.raises(KeyboardInterrupt):
        bn.fit_hmc(
            conjugate_model(c),
            (c["x"], c["y"]),
            num_samples=100,
            warmup=20,
            run=bn.Run(progress=False, callbacks=[stop]),
        )


def test_bad_input(conjugate, monkeypatch):
    c = conjugate
    data = (c["x"], c["y"])
    with pytest.raises(ValueError, match="unknown kernel"):
        bn.fit_hmc(conjugate_model(c), data, kernel="gibbs")
    with pytest.raises(ValueError, match="num_samples >= 1"):
        bn.fit_hmc(conjugate_model(c), data, num_samples=0)
    with pytest.raises(ValueError, match="inputs are on cpu but targets on meta"):
        bn.fit_hmc(conjugate_model(c), (c["x"], c["y"].to("meta")))
    with pytest.raises(ValueError, match="num_data == len"):
        bn.fit_hmc(conjugate_model(c), (c["x"][:10], c["y"][:10]))
    model = conjugate_model(c)
    model.net.weight_point.fill_(float("nan"))
    with pytest.raises(ValueError, match="not finite at the initial point"):
        bn.fit_hmc(model, data, progress=False)
    monkeypatch.setattr("os.sysconf", lambda name: 1)
    with pytest.raises(MemoryError, match="use fit_svi"):
        bn.fit_hmc(conjugate_model(c), data, progress=False)


def test_memory_check_is_skipped_where_the_platform_cannot_tell(conjugate, monkeypatch):
    """macOS and Windows have no SC_AVPHYS_PAGES: the check steps aside instead of failing."""

    def no_such_name(name):
        raise ValueError(f"unrecognized configuration name {name!r}")

    monkeypatch.setattr("os.sysconf", no_such_name)
    assert bn.infer.mcmc.start.free_memory(torch.device("cpu")) is None
    c = conjugate
    post = bn.fit_hmc(
        conjugate_model(c), (c["x"], c["y"]), num_samples=5, warmup=5, progress=False, seed=0
    )
    assert post.sample_params(None)["weight"].shape[0] == 5


def test_parallel_chains_in_processes(conjugate):
    c = conjugate
    post = bn.fit_hmc(
        conjugate_model(c),
        (c["x"], c["y"]),
        num_samples=200,
        warmup=150,
        num_chains=2,
        chain_method="parallel",
        progress=False,
        seed=3,
    )
    assert post.sampler.chains == 2 and post.info["draws_per_chain"] == 200
    assert post.info["chain_devices"] == ["cpu", "cpu"]
    draws = post.sample_params(None)["weight"].reshape(2, 200, -1)
    sd = c["cov"].diag().sqrt()
    for chain in draws:  # each chain, run in its own process, finds the posterior
        assert ((chain.mean(0) - c["mean"]).abs() / sd).max() < 0.5
    assert not torch.equal(draws[0], draws[1])
    with pytest.raises(ValueError, match="parallel chains take no callbacks"):
        bn.fit_hmc(
            conjugate_model(c),
            (c["x"], c["y"]),
            num_chains=2,
            chain_method="parallel",
            run=bn.Run(callbacks=[print]),
        )


def test_chains_spread_over_every_visible_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    cuda = [torch.device("cuda", i) for i in (0, 1, 2, 0)]
    assert bn.device.chain_devices(torch.device("cuda"), 4) == cuda
    # a GPU the caller named, or the CPU, takes every chain
    assert bn.device.chain_devices(torch.device("cuda", 1), 2) == [torch.device("cuda", 1)] * 2
    assert bn.device.chain_devices(torch.device("cpu"), 2) == [torch.device("cpu")] * 2
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert bn.device.chain_devices(torch.device("cuda"), 2) == [torch.device("cuda")] * 2


def test_auto_chains_run_in_this_process_on_one_device(conjugate):
    c = conjugate
    seen = []
    post = bn.fit_hmc(
        conjugate_model(c),
        (c["x"], c["y"]),
        num_samples=3,
        warmup=3,
        num_chains=2,
        run=bn.Run(
            progress=False, seed=0, callbacks=[lambda chain, draw, stats: seen.append(chain)]
        ),
    )
    assert seen == [0, 0, 0, 1, 1, 1] and post.info["chain_devices"] == ["cpu", "cpu"]


def test_memory_check_counts_modules_that_return_tuples():
    """LSTM and MultiheadAttention return tuples; the activation count took ``.numel()``
    of the tuple and crashed."""

    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(3, 4, batch_first=True)
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            out, (h, c) = self.lstm(x)
            return self.head(out[:, -1])

    net, x = Recurrent(), torch.randn(5, 6, 3)
    hmc_start.check_memory(net, x)  # no TypeError
    assert hmc_start.numel((torch.zeros(2, 3), (torch.zeros(4), {"a": torch.zeros(5)}))) == 15
    assert hmc_start.numel(None) == 0


def test_mid_run_nuts_checkpoints_keep_tree_depth(conjugate, tmp_path):
    """``record`` shadowed the ``kernel`` argument with the kernel's statistics, so the
    checkpoints written during the run lost ``tree_depth``."""
    c, seen = conjugate, []
    path = tmp_path / "draws.pt"

    def look(chain, draw, stats):
        if draw == 10:  # written at draw 10 (the 10th kept draw's checkpoint)
            seen.append(bn.Posterior.load(path, conjugate_model(c)).sampler.stats)

    bn.fit_hmc(
        conjugate_model(c),
        (c["x"], c["y"]),
        num_samples=20,
        warmup=30,
        checkpoint_every=10,
        run=bn.Run(progress=False, seed=0, callbacks=[look], checkpoint_dir=path.parent),
    )
    assert "tree_depth" in seen[0] and len(seen[0]["tree_depth"][0]) == 10


def test_energy_is_the_hamiltonian_and_acceptance_is_per_draw(conjugate):
    """On a Gaussian target ``U(w) = U(mu) + (w - mu)^T P (w - mu) / 2`` and, with the
    momentum ``p ~ N(0, M)``, the Hamiltonian ``U + p^T M^-1 p / 2`` less ``U(mu)`` is half
    a chi-square with ``2d`` degrees of freedom: mean and variance ``d``."""
    c = conjugate
    model = conjugate_model(c)
    post = bn.fit_hmc(model, (c["x"], c["y"]), num_samples=600, warmup=300, progress=False, seed=1)
    potential = FunctionalPotential(model, c["x"], c["y"])
    floor = potential({"weight": c["mean"][None]}).item()
    stats = post.sampler.stats
    energy = np.array(stats["energy"][0]) - floor
    d = c["mean"].numel()
    assert abs(energy.mean() - d) < 0.6
    assert d / 2 < energy.var() < 2 * d
    # each transition starts where the last one ended: its Hamiltonian is that draw's
    # potential plus a kinetic energy, never less (the end's potential plus the start's
    # kinetic energy, recorded before, was not)
    lp = np.array(stats["lp"][0])
    assert (np.array(stats["energy"][0])[1:] >= -lp[:-1] - 1e-6).all()
    accept = np.array(stats["acceptance_rate"][0])
    assert ((accept >= 0) & (accept <= 1 + 1e-9)).all()
    # per draw, not Pyro's running mean: late in the run a running mean barely moves
    assert np.abs(np.diff(accept[300:])).mean() > 0.02


def test_an_error_that_is_not_a_bad_log_density_says_what_it_is(conjugate, monkeypatch):
    """Any RuntimeError at initialisation (an out-of-memory error among them) became "the
    log density is not finite"."""
    c = conjugate

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(hmc_start, "initialize_model", out_of_memory)
    with pytest.raises(torch.OutOfMemoryError, match="out of memory"):
        bn.fit_hmc(conjugate_model(c), (c["x"], c["y"]), progress=False)


def test_fixed_steps_hmc_takes_exactly_that_many_leapfrog_steps(conjugate):
    """``kernel="hmc"`` with ``num_steps`` overrides Pyro's public ``HMC.num_steps``
    property; an upgrade that stopped reading it would change the trajectory silently."""
    c = conjugate
    post = bn.fit_hmc(
        conjugate_model(c),
        (c["x"], c["y"]),
        kernel="hmc",
        num_steps=7,
        num_samples=5,
        warmup=5,
        progress=False,
        seed=0,
    )
    # one gradient per leapfrog step (the potential's gradient is reused between steps)
    assert post.sampler.stats["n_steps"][0] == [7.0] * 5
