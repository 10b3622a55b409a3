"""The common corruptions: severity 0 is the identity and every corruption grows with its
severity, on real grayscale digits and on colour images."""

import pytest
import torch
import torch.nn.functional as F

import bayesnet as bn
from bayesnet.evaluate.corruptions import CORRUPTIONS, FAMILIES, SEVERITIES, corrupt


@pytest.fixture(scope="module")
def images():
    digits = bn.data.mnist5k()[1].tensors[0][:200]  # real 28x28 grayscale
    g = torch.Generator().manual_seed(0)
    colour = F.interpolate(torch.rand(50, 3, 8, 8, generator=g), size=32, mode="bilinear")
    return {"mnist": digits, "colour": colour}


def _statistic(name, clean, corrupted):
    """How far from the clean images: the mean absolute difference; for pixelate, the
    fraction of neighbouring pixels that differed and now are equal (its blocks' size)."""
    if name == "pixelate":
        differed = clean[..., 1:] != clean[..., :-1]
        return (corrupted[..., 1:] == corrupted[..., :-1])[differed].double().mean().item()
    return (corrupted - clean).abs().mean().item()


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
@pytest.mark.parametrize("kind", ["mnist", "colour"])
def test_severity_zero_is_the_identity_and_the_corruption_grows(images, name, kind):
    x = images[kind]
    assert torch.equal(corrupt(x, name, 0), x)
    values = [_statistic(name, x, corrupt(x, name, s)) for s in (0, *SEVERITIES)]
    assert all(a < b for a, b in zip(values, values[1:], strict=False)), values
    out = corrupt(x, name, 5)
    assert out.shape == x.shape and out.dtype == x.dtype and 0 <= out.min() <= out.max() <= 1


def test_corruptions_are_deterministic_given_a_seed_and_checked(images):
    x = images["mnist"][:10]
    assert torch.equal(corrupt(x, "shot_noise", 3, seed=1), corrupt(x, "shot_noise", 3, seed=1))
    assert not torch.equal(corrupt(x, "shot_noise", 3, seed=1), corrupt(x, "shot_noise", 3))
    assert sorted(n for names in FAMILIES.values() for n in names) == sorted(CORRUPTIONS)
    with pytest.raises(ValueError, match="unknown corruption 'snow'"):
        corrupt(x, "snow", 1)
    with pytest.raises(ValueError, match="severity must be 0-5"):
        corrupt(x, "fog", 6)


def test_a_corruption_is_a_shift_compare_takes(images):
    from bayesnet.evaluate.shift import corruption

    x = images["mnist"][:10]
    fog = corruption("fog")
    assert torch.equal(fog(x, 0.0), x) and torch.equal(fog(x, 3.0), corrupt(x, "fog", 3))
    with pytest.raises(ValueError, match="unknown corruption 'hail'"):
        corruption("hail")
