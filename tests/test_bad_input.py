"""Bad input gets an error that names the problem."""

import warnings

import numpy as np
import pytest
import torch
from conftest import loader_of
from torch.utils.data import DataLoader, TensorDataset

import bayesnet as bn


def _model(n=100, num_classes=None):
    return bn.Classifier(
        bn.bayesianize(bn.zoo.mlp(64, 10, hidden=(8,))), num_data=n, num_classes=num_classes
    )


def _fit(model, x, y, **kw):
    return bn.fit_svi(model, loader_of(x, y, 32), epochs=1, progress=False, **kw)


X = torch.rand(64, 1, 8, 8)
Y = torch.randint(0, 10, (64,))


def test_labels_out_of_range():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        _fit(_model(), X, torch.full((64,), 10))


def test_float_labels():
    with pytest.raises(ValueError, match="integers"):
        _fit(_model(), X, Y.float())


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_inputs(bad):
    x = X.clone()
    x[3, 0, 2, 2] = bad
    with pytest.raises(ValueError, match="NaN or Inf"):
        _fit(_model(), x, Y)
    post = bn.baselines.point_estimate(
        bn.zoo.mlp(64, 10), loader_of(X, Y, 32), epochs=1, progress=False
    )
    with pytest.raises(ValueError, match="NaN or Inf"):
        post.predict(x)


def test_class_count_mismatch():
    with pytest.raises(ValueError, match="outputs 10 classes, the model expects 9"):
        _fit(_model(num_classes=9), X, Y)


def test_shape_mismatch():
    with pytest.raises(ValueError, match="do not match logits"):
        _fit(_model(), X, Y[:, None].expand(64, 2).contiguous())


def test_num_data_smaller_than_a_batch():
    with pytest.raises(ValueError, match="larger than num_data=16"):
        _fit(_model(n=16), X, Y)


def test_empty_loader():
    empty = DataLoader(TensorDataset(X[:0], Y[:0]), batch_size=8)
    with pytest.raises(ValueError, match="loader is empty"):
        bn.fit_svi(_model(), empty, epochs=1, progress=False)
    with pytest.raises(ValueError, match="loader is empty"):
        bn.baselines.point_estimate(bn.zoo.mlp(64, 10), empty, epochs=1, progress=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"guide": "gaussian_process"}, "unknown guide"),
        ({"init": "zeros"}, "unknown init"),
        ({"optimizer": "lbfgsx"}, "unknown optimizer"),
        ({"device": "cuda:7"} if not torch.cuda.is_available() else {"epochs": 0}, "cuda|epochs"),
    ],
)
def test_unknown_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _fit(_model(), X, Y, **kwargs)


def test_model_without_bayesian_layers_and_bad_num_data():
    with pytest.raises(ValueError, match="no Bayesian layers"):
        _fit(bn.Classifier(bn.zoo.mlp(64, 10), num_data=100), X, Y)
    with pytest.raises(ValueError, match="num_data must be a positive int"):
        bn.Classifier(bn.zoo.mlp(64, 10), num_data=0)


def test_resuming_from_a_checkpoint_of_another_architecture(tmp_path):
    _fit(_model(), X, Y, run=bn.Run(checkpoint_dir=tmp_path))
    other = bn.Classifier(bn.bayesianize(bn.zoo.mlp(64, 10, hidden=(4,))), num_data=100)
    with pytest.raises(ValueError, match="different architecture"):
        _fit(other, X, Y, run=bn.Run(checkpoint_dir=tmp_path, resume=True))


def test_a_network_with_more_outputs_than_classes_is_warned_about(digits):
    """The issue's case: a 12-way network trained on 10 classes trained without a word."""
    train, _ = digits
    with pytest.warns(UserWarning, match="12 outputs but the training labels run 0..9"):
        bn.fit(bn.zoo.digits_cnn(num_classes=12), train, epochs=1, progress=False, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        bn.baselines.point_estimate(bn.zoo.digits_cnn(), train, epochs=1, progress=False)


@pytest.fixture(scope="module")
def fitted_softmax(digits):
    train, _ = digits
    return bn.baselines.point_estimate(bn.zoo.digits_cnn(), train, epochs=1, progress=False)


def test_predict_takes_numpy_and_float64_as_the_network_does(digits, fitted_softmax):
    _, test = digits
    x = test.tensors[0][:20]
    expected = fitted_softmax.predict(x)
    torch.testing.assert_close(fitted_softmax.predict(x.double()), expected)
    torch.testing.assert_close(fitted_softmax.predict(x.numpy().astype(np.float64)), expected)


@pytest.mark.parametrize(
    ("change", "error", "says"),
    [
        (lambda x: x[:, 0], ValueError, r"without the channel dimension: x.unsqueeze\(1\)"),
        (lambda x: x[0], ValueError, r"one input of shape \[1, 8, 8\]: add the batch"),
        (lambda x: (x * 255).byte(), ValueError, r"uint8 inputs.*x.float\(\) / 255"),
        (lambda x: torch.zeros(3, 1, 28, 28), ValueError, r"shape \[N, 1, 8, 8\]; got \[3, 1, 28"),
        (lambda x: bn.data.to_loader(TensorDataset(x, x)), TypeError, "predict_loader"),
        (lambda x: "images", TypeError, "tensor"),
    ],
    ids=["no channel", "no batch", "uint8", "28x28 for 8x8", "a loader", "a string"],
)
def test_inputs_predict_cannot_take_are_named_with_the_fix(
    digits, fitted_softmax, change, error, says
):
    _, test = digits
    with pytest.raises(error, match=says):
        fitted_softmax.predict(change(test.tensors[0][:20]))


def test_a_network_built_for_other_images_names_the_input_shape_at_fit_time(digits):
    train, _ = digits  # 8x8 digits; bn.zoo.cnn is built for 28x28 by default
    says = r"inputs of shape \(1, 8, 8\): .*image_size="
    pair = train.tensors
    model = bn.Classifier(bn.bayesianize(bn.zoo.cnn(), last_layer=True), len(train))
    fits = [
        lambda: bn.fit(bn.zoo.cnn(batch_norm=True), train, epochs=1, progress=False, seed=0),
        lambda: bn.baselines.point_estimate(bn.zoo.cnn(), train, epochs=1, progress=False),
        lambda: bn.fit_svi(model, train, epochs=1, init="prior", progress=False),
        lambda: bn.fit_svi(model, train, epochs=1, step="traced", init="prior", progress=False),
        lambda: bn.fit_sgmcmc(model, train, epochs=4, progress=False),
        lambda: bn.fit_hmc(
            bn.Classifier(bn.bayesianize(bn.zoo.cnn(), last_layer=True), 50),
            (pair[0][:50], pair[1][:50]),
            num_samples=2,
            warmup=2,
            progress=False,
        ),
    ]
    for fit in fits:
        with pytest.raises(ValueError, match=says):
            fit()
