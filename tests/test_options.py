"""Options that belong together are typed objects: the variational family (a user's own
included) and the run settings; combinations that mean nothing cannot be made."""

import dataclasses

import pytest
import torch
from conftest import assert_same_predictions, loader_of
from pyro.infer.autoguide import AutoNormal

import bayesnet as bn
from bayesnet.infer.svi.families import family_from_spec


@dataclasses.dataclass(frozen=True)
class PyroNormal(bn.infer.GuideFamily):
    """A user's family: Pyro's own AutoNormal, which bayesnet does not ship."""

    name = "test_pyro_normal"
    init_scale: float = 0.02

    def build(self, model, init_loc_fn):
        return AutoNormal(model, init_loc_fn=init_loc_fn, init_scale=self.init_scale)


def _data(digits, n=256):
    return (t[:n] for t in digits[0].tensors)


def _model(n):
    torch.manual_seed(0)
    return bn.Classifier(bn.bayesianize(bn.zoo.mlp(64, 10, hidden=(16,))), num_data=n)


def test_a_user_written_guide_fits_predicts_saves_and_loads(digits, tmp_path):
    x, y = _data(digits)
    post = bn.fit_svi(
        _model(256), loader_of(x, y, 64), epochs=30, guide=PyroNormal(), progress=False, seed=0
    )
    guide = post.sampler.guide
    assert isinstance(guide, AutoNormal) and post.info["guide"] == "test_pyro_normal"
    assert post.info["step"] == "traced"  # the functional step is for bayesnet's own guides
    probs = post.predict(x, num_samples=20)
    # it learned (the input-free guess is 0.1; the mean-field default reaches 0.98 here)
    # and its draws differ: a distribution, not a point
    assert bn.evaluate.metrics.accuracy(probs, y) > 0.9 and not post.info["collapsed"]
    draws = post.sample_params(2)
    site = next(iter(draws))
    assert not torch.equal(draws[site][0], draws[site][1])
    post.save(tmp_path / "post.pt")
    loaded = bn.Posterior.load(tmp_path / "post.pt", _model(256))
    assert isinstance(loaded.sampler.guide, AutoNormal)
    assert_same_predictions(post, loaded, x[:16], 8)


def test_a_family_takes_only_its_own_options():
    assert bn.infer.LowRank(rank=3).spec() == {"name": "low_rank", "rank": 3, "init_scale": 1e-2}
    with pytest.raises(TypeError, match="reparam"):
        bn.infer.LowRank(reparam="local")
    with pytest.raises(TypeError, match="rank"):
        bn.infer.MeanField(rank=2)
    with pytest.raises(ValueError, match="reparam must be None or one of"):
        bn.infer.MeanField(reparam="magic")
    with pytest.raises(ValueError, match="init_scale"):
        bn.infer.FullRank(init_scale=0)
    with pytest.raises(ValueError, match="rank must be"):
        bn.infer.LowRank(rank=0)
    with pytest.raises(ValueError, match="unknown guide 'gaussian_process'"):
        bn.infer.svi.families.guide_family("gaussian_process")
    with pytest.raises(TypeError, match="needs a class attribute name"):

        class Nameless(bn.infer.GuideFamily):
            pass


def test_saved_specs_of_earlier_versions_and_unknown_families():
    # 0.1 stored init_scale and rank for every family
    old = {"name": "mean_field", "init": "point_estimate", "init_scale": 0.3, "rank": None}
    assert family_from_spec(old) == bn.infer.MeanField(init_scale=0.3)
    assert family_from_spec({"name": "delta", "init_scale": 1.0, "rank": None}) == bn.infer.Delta()
    with pytest.raises(ValueError, match="'nobody' is not defined: import the module"):
        family_from_spec({"name": "nobody"})


def test_run_settings_that_mean_nothing_together_cannot_be_made():
    with pytest.raises(ValueError, match="need a checkpoint_dir"):
        bn.Run(resume=True)
    with pytest.raises(ValueError, match="need a checkpoint_dir"):
        bn.Run(overwrite=True)
    with pytest.raises(ValueError, match="pick one"):
        bn.Run(checkpoint_dir="x", resume=True, overwrite=True)
    with pytest.raises(ValueError, match="log_every needs a log file"):
        bn.Run(log_every=5)
    with pytest.raises(TypeError, match="seed must be an int"):
        bn.Run(seed=1.5)
    with pytest.raises(TypeError, match="callables"):
        bn.Run(callbacks=[3])
    assert bn.Run(seed=1, progress=False).given() == ["seed", "progress"]


def test_an_engine_refuses_a_run_setting_it_cannot_honour(digits, tmp_path):
    x, y = _data(digits, 64)
    net = bn.zoo.mlp(64, 10, hidden=(8,))
    with pytest.raises(TypeError, match=r"deep_ensemble does not take Run\(checkpoint_dir"):
        bn.baselines.deep_ensemble(net, loader_of(x, y, 32), run=bn.Run(checkpoint_dir=tmp_path))
    with pytest.raises(TypeError, match=r"fit_sgmcmc does not take Run\(log"):
        bn.fit_sgmcmc(_model(64), loader_of(x, y, 32), run=bn.Run(log=tmp_path / "l.jsonl"))
    with pytest.raises(TypeError, match="got seed=1 and run=Run\\(seed=2\\)"):
        bn.fit_swag(net, loader_of(x, y, 32), seed=1, run=bn.Run(seed=2))
    assert not list(tmp_path.iterdir())  # refused before any work


def test_a_run_object_and_the_keywords_are_the_same_fit(digits):
    x, y = _data(digits, 128)
    net = bn.zoo.mlp(64, 10, hidden=(8,))
    by_keyword = bn.baselines.point_estimate(
        net, loader_of(x, y, 32), epochs=2, seed=4, progress=False
    )
    by_run = bn.baselines.point_estimate(
        net, loader_of(x, y, 32), epochs=2, run=bn.Run(seed=4, progress=False)
    )
    # the same setting given both ways alike is no conflict
    both = bn.baselines.point_estimate(
        net, loader_of(x, y, 32), epochs=2, seed=4, run=bn.Run(seed=4, progress=False)
    )
    for other in (by_run, both):
        torch.testing.assert_close(other.predict(x), by_keyword.predict(x))
