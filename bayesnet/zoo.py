"""Reference architectures, as plain torch networks (``bayesianize`` makes them Bayesian)."""

from __future__ import annotations

from torch import nn

__all__ = ["digits_cnn", "mlp", "fcn"]


def digits_cnn(
    num_classes: int = 10, channels: tuple[int, int] = (16, 32), hidden: int = 64
) -> nn.Sequential:
    """Two 3x3 conv layers and two linear layers for 8x8 single-channel images."""
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(c1, c2, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * 16, hidden),
        nn.ReLU(),
        nn.Linear(hidden, num_classes),
    )


def mlp(in_features: int, out_features: int, hidden: tuple[int, ...] = (64,)) -> nn.Sequential:
    """A fully connected ReLU network (toy problems and regression)."""
    sizes = (in_features, *hidden)
    layers: list[nn.Module] = [nn.Flatten()]
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(sizes[-1], out_features))
    return nn.Sequential(*layers)


def fcn(in_channels: int = 1, num_classes: int = 11, width: int = 32) -> nn.Sequential:
    """A fully-convolutional segmenter: 3x3 convs with dilations 1, 2, 4 (receptive field
    15 pixels, enough to see a whole 8x8 digit) and a 1x1 classifier; output
    ``[N, num_classes, H, W]`` at the input's resolution."""
    layers: list[nn.Module] = []
    channels = in_channels
    for dilation in (1, 2, 4):
        layers += [nn.Conv2d(channels, width, 3, padding=dilation, dilation=dilation), nn.ReLU()]
        channels = width
    layers.append(nn.Conv2d(width, num_classes, 1))
    return nn.Sequential(*layers)
