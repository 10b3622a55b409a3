"""Every private Pyro and torch API bayesnet relies on (``bayesnet._compat``), exercised on
the installed versions: an upgrade that breaks one fails here, by name."""

import math

import pyro
import pytest
import torch
import torch.nn.functional as F
from pyro.infer.mcmc import NUTS
from pyro.nn import PyroModule, PyroSample
from torch import nn

from bayesnet import _compat


def test_pyro_modules_take_a_name_and_a_shared_scope():
    a, b = PyroModule[nn.Linear](2, 2), PyroModule[nn.Linear](2, 2)
    a.weight = PyroSample(pyro.distributions.Normal(0.0, 1.0).expand([2, 2]).to_event(2))
    scope = _compat.new_scope()
    _compat.name_module(a, "encoder.0", scope)
    _compat.name_module(b, "head", scope)
    assert _compat.module_name(a) == "encoder.0" and _compat.module_name(b) == "head"
    with scope:  # one scope: the draw is made once and reused
        trace = pyro.poutine.trace(lambda: (a.weight, a.weight)).get_trace()
        first, second = trace.nodes["_RETURN"]["value"]
    assert "encoder.0.weight" in trace.nodes and torch.equal(first, second)
    assert _compat.module_name(nn.Linear(1, 1)) == ""


def test_conv_forward_applies_the_padding_mode():
    conv = nn.Conv2d(1, 2, 3, padding=1, padding_mode="circular")
    x, w = torch.randn(1, 1, 5, 5), torch.randn(2, 1, 3, 3)
    expected = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="circular"), w)
    assert torch.allclose(_compat.conv_forward(conv, x, w, None), expected, atol=1e-6)


def test_version_counts_in_place_changes():
    t = torch.zeros(3)
    before = _compat.version(t)
    t.add_(1)
    assert _compat.version(t) == before + 1


def test_nuts_kernel_statistics_after_a_step():
    def model():
        pyro.sample("z", pyro.distributions.Normal(0.0, 1.0))

    kernel = NUTS(model)
    kernel.setup(warmup_steps=5)
    params = kernel.initial_params
    for _ in range(3):
        params = kernel.sample(params)
    stats = _compat.kernel_stats(kernel)
    assert 0.0 <= stats.mean_accept_prob <= 1.0 and stats.divergences == 0
    # the potential -log N(z; 0, 1) = z^2 / 2 + log sqrt(2 pi) is never below log sqrt(2 pi)
    assert stats.potential_energy >= math.log(math.sqrt(2 * math.pi)) - 1e-6


def test_the_hamiltonian_at_the_start_of_a_transition():
    """``HamiltonianAtStart`` overrides NUTS's private ``_kinetic_energy`` and reads its
    cached potential: the recorded energy is the start's potential plus a kinetic energy."""

    def model():
        pyro.sample("z", pyro.distributions.Normal(0.0, 1.0))

    class Kernel(_compat.HamiltonianAtStart, NUTS):
        pass

    kernel = Kernel(model)
    kernel.setup(warmup_steps=5)
    params = kernel.initial_params
    assert math.isnan(kernel.start_hamiltonian())
    for _ in range(4):
        before = kernel.potential_fn(params).item()
        params = kernel.sample(params)
        energy = kernel.start_hamiltonian()
        assert energy > before  # a positive kinetic energy on top of the start's potential
        assert energy - before == pytest.approx(float(kernel._start_kinetic))


def test_guide_setup_hands_the_traced_model_to_setup_sites():
    """``GuideSetup`` rides on Pyro's private ``AutoGuide._setup_prototype``."""
    from pyro.infer.autoguide import AutoGuide

    def model():
        pyro.sample("a", pyro.distributions.Normal(0.0, 1.0))
        pyro.sample("b", pyro.distributions.Normal(torch.zeros(2), 1.0).to_event(1))

    class Guide(_compat.GuideSetup, AutoGuide):
        def setup_sites(self, trace):
            self.seen = [name for name, _ in trace.iter_stochastic_nodes()]

        def forward(self, *args, **kwargs):
            if self.prototype_trace is None:
                self.setup(*args, **kwargs)
            return {}

    guide = Guide(model)
    guide()
    assert guide.seen == ["a", "b"]


def test_laplace_state_names_the_last_layer():
    """laplace-torch keeps the last layer it found under ``_last_layer_name``."""
    laplace = pytest.importorskip("laplace")
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    approximation = laplace.Laplace(net, "classification", subset_of_weights="last_layer")
    approximation.fit(loader)
    saved = _compat.laplace_state(approximation, "2")
    assert saved["_last_layer_name"] == "2" and saved["data"] is None
    assert saved["likelihood"] == str(approximation.likelihood)
    rebuilt = laplace.Laplace(
        net, "classification", subset_of_weights="last_layer", last_layer_name="2"
    )
    rebuilt.load_state_dict(saved)
    torch.testing.assert_close(rebuilt.mean, approximation.mean)
