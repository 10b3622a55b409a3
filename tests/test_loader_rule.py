"""A loader is what it yields: everything the library reads from training data (BatchNorm
statistics' inputs, the examples an epoch sees, a validation split) comes from iterating
the loader, so its ``collate_fn``, sampler and ``batch_sampler`` are part of the data."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, SubsetRandomSampler, TensorDataset

import bayesnet as bn
from bayesnet.data.loaders import count_examples, sample_inputs
from bayesnet.infer.shared.tempering import split

N, EXTRA, BATCH = 96, 24, 16


@pytest.fixture(scope="module")
def data():
    """Raw inputs (offset and scaled: far from what a standardised network expects), the
    same inputs standardised, labels; the last ``EXTRA`` examples are never to be used."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(N + EXTRA) % 3
    z = torch.randn(N + EXTRA, 4, generator=g) + 2.0 * nn.functional.one_hot(y, 4).float()
    z = (z * 8).round() / 8  # eighths: standardising the raw inputs gives them back exactly
    return 50.0 + 8.0 * z, z, y


def _standardise(batch):
    x = torch.stack([b[0] for b in batch])
    return (x - 50.0) / 8.0, torch.stack([b[1] for b in batch])


def _loaders(data) -> dict[str, DataLoader]:
    """Four loaders that yield the same batches, in the same order: the standardised
    inputs; the raw ones standardised by a ``collate_fn``; a sampler over the first ``N``
    of a larger set; a ``batch_sampler`` over it."""
    raw, z, y = data
    order = list(range(N))
    raw_all = TensorDataset(raw, y)
    return {
        "plain": DataLoader(TensorDataset(z[:N], y[:N]), batch_size=BATCH),
        "collate_fn": DataLoader(TensorDataset(raw[:N], y[:N]), BATCH, collate_fn=_standardise),
        "sampler": DataLoader(raw_all, BATCH, sampler=order, collate_fn=_standardise),
        "batch_sampler": DataLoader(
            raw_all,
            batch_sampler=[order[i : i + BATCH] for i in range(0, N, BATCH)],
            collate_fn=_standardise,
        ),
    }


def _bn_net() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def _svi(loader, **options):
    model = bn.Classifier(bn.bayesianize(_bn_net(), stochastic="all"), N)
    return bn.fit_svi(model, loader, epochs=2, map_epochs=1, progress=False, seed=0, **options)


QUIET = {"progress": False, "seed": 0}
ENGINES = {
    "fit": lambda loader: bn.fit(_bn_net(), loader, epochs=2, **QUIET),
    "fit_swag": lambda loader: bn.fit_swag(_bn_net(), loader, epochs=2, **QUIET),
    "fit_ivon": lambda loader: bn.fit_ivon(_bn_net(), loader, epochs=2, **QUIET),
    "point_estimate": lambda loader: bn.baselines.point_estimate(
        _bn_net(), loader, epochs=2, **QUIET
    ),
    "deep_ensemble": lambda loader: bn.baselines.deep_ensemble(
        _bn_net(), loader, epochs=1, members=2, **QUIET
    ),
    "mc_dropout": lambda loader: bn.baselines.mc_dropout(_bn_net(), loader, epochs=2, **QUIET),
    "fit_svi per_draw": lambda loader: _svi(loader, normalization="per_draw"),
    "fit_svi temperature=auto": lambda loader: _svi(loader, temperature="auto"),
    "fit_sgmcmc": lambda loader: bn.fit_sgmcmc(
        bn.Classifier(bn.bayesianize(_bn_net(), stochastic="all"), N), loader, epochs=4, **QUIET
    ),
    "fit_laplace": lambda loader: bn.fit_laplace(
        bn.baselines.point_estimate(_bn_net(), loader, epochs=2, **QUIET), loader, progress=False
    ),
}


@pytest.mark.parametrize("engine", list(ENGINES))
def test_loaders_that_yield_the_same_batches_give_the_same_posterior(data, engine):
    _, z, _ = data
    fitted = {name: ENGINES[engine](loader) for name, loader in _loaders(data).items()}
    torch.manual_seed(7)
    expected = fitted.pop("plain").predict(z[:20], num_samples=4)
    for name, post in fitted.items():
        torch.manual_seed(7)
        got = post.predict(z[:20], num_samples=4)
        torch.testing.assert_close(got, expected, msg=f"{engine} with a {name} loader")


def test_batchnorm_inputs_are_what_the_loader_yields(data):
    """The issue's case: a collate_fn that standardises raw inputs. The inputs each draw's
    statistics are estimated on are standardised, and none of them is an excluded one."""
    raw, z, _ = data
    for name, loader in _loaders(data).items():
        inputs = sample_inputs(loader, 40)
        assert len(inputs) == 40, name
        assert inputs.abs().max() < 10, f"{name}: raw inputs were used"
        kept = {tuple(row.tolist()) for row in z[:N]}
        assert all(tuple(row.tolist()) in kept for row in inputs), name
    # a uniform draw, not the first batches: a class-sorted loader gives every class a share
    sorted_loader = DataLoader(TensorDataset(torch.arange(N).float()[:, None], torch.zeros(N)), 8)
    picked = sample_inputs(sorted_loader, 24).squeeze(1)
    assert picked.max() > N / 2 and picked.min() < N / 2
    assert len(picked.unique()) == 24


def test_ivon_counts_the_examples_the_loader_yields(data):
    """The issue's case: a sampler that draws 40 of 400 examples gives ess = 40, not 400."""
    raw, z, y = data
    big = TensorDataset(z.repeat(4, 1)[:400], y.repeat(4)[:400])
    subset = DataLoader(big, 8, sampler=SubsetRandomSampler(range(40)))
    assert count_examples(subset) == 40
    post = bn.fit_ivon(nn.Linear(4, 3), subset, epochs=2, **QUIET)
    assert post.info["ess"] == 40
    same = bn.fit_ivon(nn.Linear(4, 3), DataLoader(TensorDataset(*big[:40]), 8), epochs=2, **QUIET)
    assert same.info["median_std"] == pytest.approx(post.info["median_std"], rel=0.25)


def test_a_validation_split_holds_only_examples_the_loader_yields(data):
    """The issue's case: a sampler over a subset (the caller's training indices); the test
    indices never enter the fitting or the validation part, and a batch_sampler loader
    stays batched."""
    raw, z, y = data
    rows = TensorDataset(torch.arange(N + EXTRA).float()[:, None], y)
    train_indices = list(range(0, N + EXTRA, 2))
    loader = DataLoader(rows, 8, sampler=SubsetRandomSampler(train_indices))
    fitting, (x_val, _) = split(loader, 0.25)
    x_fit = torch.cat([x for x, _ in fitting])
    used = sorted(torch.cat([x_fit, x_val]).squeeze(1).long().tolist())
    assert used == train_indices
    assert len(x_val) == round(0.25 * len(train_indices))
    batched = DataLoader(rows, batch_sampler=[list(range(i, i + 12)) for i in range(0, 48, 12)])
    fitting, _ = split(batched, 0.25)
    assert {len(x) for x, _ in fitting} <= {12, 36 % 12 or 12}
    assert len(next(iter(fitting))[0]) == 12
