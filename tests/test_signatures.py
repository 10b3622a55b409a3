"""One shape for every engine: the network or model and the data positionally, every
option by keyword, the same names for the same things."""

import inspect

import pytest
import torch

import bayesnet as bn

ENGINES = {
    "fit": bn.fit,
    "fit_svi": bn.fit_svi,
    "fit_hmc": bn.fit_hmc,
    "fit_sgmcmc": bn.fit_sgmcmc,
    "fit_laplace": bn.fit_laplace,
    "fit_swag": bn.fit_swag,
    "fit_ivon": bn.fit_ivon,
    "point_estimate": bn.baselines.point_estimate,
    "mc_dropout": bn.baselines.mc_dropout,
    "deep_ensemble": bn.baselines.deep_ensemble,
    "temperature_scaled": bn.baselines.temperature_scaled,
}
#: what every engine that trains calls these settings
SHARED = ("device", "progress", "seed", "run")


@pytest.mark.parametrize("name", list(ENGINES))
def test_two_positional_arguments_then_keywords_only(name):
    params = list(inspect.signature(ENGINES[name]).parameters.values())
    positional = [p for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert len(positional) == 2 and params[:2] == positional
    assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in params[2:])


@pytest.mark.parametrize("name", [n for n in ENGINES if n not in ("fit", "temperature_scaled")])
def test_shared_settings_have_one_name(name):
    params = inspect.signature(ENGINES[name]).parameters
    assert all(params[k].kind is inspect.Parameter.KEYWORD_ONLY for k in SHARED)


def _tiny():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))


def _loader():
    g = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(12, 4, generator=g), torch.arange(12) % 3)
    return torch.utils.data.DataLoader(data, batch_size=6)


@pytest.mark.parametrize(
    ("fit", "wrong"),
    [
        (bn.fit_swag, "guide"),  # an SVI option
        (bn.fit, "members"),  # a deep ensemble's
        (bn.baselines.deep_ensemble, "rank"),  # SWAG's
        (bn.fit_ivon, "starts_from"),  # nobody's
    ],
)
def test_an_option_of_another_engine_is_a_type_error_that_names_it(fit, wrong):
    with pytest.raises(TypeError, match=wrong):
        fit(_tiny(), _loader(), progress=False, **{wrong: 1})


@pytest.mark.parametrize("fit", [bn.fit_swag, bn.baselines.point_estimate, bn.fit])
def test_an_option_passed_by_position_is_a_type_error(fit):
    with pytest.raises(TypeError, match="positional argument"):
        fit(_tiny(), _loader(), 3)


def test_model_engines_refuse_positional_options():
    model = bn.Classifier(bn.bayesianize(_tiny()), num_data=12)
    x, y = next(iter(_loader()))
    with pytest.raises(TypeError, match="positional argument"):
        bn.fit_svi(model, _loader(), 3)
    with pytest.raises(TypeError, match="positional argument"):
        bn.fit_hmc(model, (x, y), 10)
    with pytest.raises(TypeError, match="positional argument"):
        bn.fit_sgmcmc(model, _loader(), "sgld")
