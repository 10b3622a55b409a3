"""The common corruptions: severity 0 is the identity and every corruption grows with its
severity, on real grayscale digits and on colour images."""

import pytest
import torch
import torch.nn.functional as F

import bayesnet as bn
from bayesnet.evaluate.corruptions import CORRUPTIONS, FAMILIES, SEVERITIES, corrupt


@pytest.fixture(scope="module")
def images():
    small = bn.data.digits()[1].tensors[0][:200]  # real 8x8 grayscale
    digits = bn.data.mnist5k()[1].tensors[0][:200]  # real 28x28 grayscale
    g = torch.Generator().manual_seed(0)
    colour = F.interpolate(torch.rand(50, 3, 8, 8, generator=g), size=32, mode="bilinear")
    return {"digits": small, "mnist": digits, "colour": colour}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
@pytest.mark.parametrize("kind", ["digits", "mnist", "colour"])
def test_severity_zero_is_the_identity_and_the_corruption_grows(images, name, kind):
    """The mean change of the image grows strictly with severity, on 8x8 and 28x28 digits
    and 32x32 colour images (pixelate at non-integer factors and a motion streak longer
    than an 8x8 image once did not)."""
    x = images[kind]
    assert torch.equal(corrupt(x, name, 0), x)
    values = [(corrupt(x, name, s) - x).abs().mean().item() for s in (0, *SEVERITIES)]
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
    with pytest.raises(ValueError, match="whole number"):
        corrupt(x, "fog", 2.5)
    assert torch.equal(corrupt(x, "fog", 3.0), corrupt(x, "fog", 3))
    standardised = (x - x.mean()) / x.std()
    with pytest.raises(ValueError, match=r"values in \[0, 1\].*before standardising"):
        corrupt(standardised, "brightness", 1)


def test_a_corruption_is_a_shift_compare_takes(images):
    from bayesnet.evaluate.shift import corruption

    x = images["mnist"][:10]
    fog = corruption("fog")
    assert torch.equal(fog(x, 0.0), x) and torch.equal(fog(x, 3.0), corrupt(x, "fog", 3))
    with pytest.raises(ValueError, match="unknown corruption 'hail'"):
        corruption("hail")
    # each batch its own noise, the same for every method: compare passes the batch index
    noise = corruption("gaussian_noise")
    assert not torch.equal(noise(x, 3, 0) - x, noise(x, 3, 1) - x)
    seen = []

    class Spy:
        def predict(self, inputs, num_samples=None, **_):
            seen.append(inputs.clone())
            return torch.full((1, len(inputs), 10), 0.1)

    y = torch.zeros(10, dtype=torch.long)
    bn.evaluate.compare(
        {"a": Spy(), "b": Spy()},
        test=(torch.cat([x, x]), torch.cat([y, y])),
        shifts={"noise": (noise, [3])},
        batch_size=10,
    )
    shifted = [t for t in seen if not torch.equal(t, x)]  # a and b: two batches each
    assert len(shifted) == 4
    assert not torch.equal(shifted[0], shifted[1])  # the two batches differ
    assert torch.equal(shifted[0], shifted[2]) and torch.equal(shifted[1], shifted[3])
