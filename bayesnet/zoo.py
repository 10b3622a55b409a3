"""Reference architectures, as plain torch networks (``bayesianize`` makes them Bayesian),
and ``build``: a network from a zoo name or a user's ``package.module:factory``."""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable

import torch
from torch import nn

__all__ = [
    "digits_cnn",
    "cnn",
    "mlp",
    "fcn",
    "lenet5",
    "resnet",
    "resnet8",
    "resnet20",
    "BasicBlock",
    "build",
    "NAMES",
]


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


def cnn(
    num_classes: int = 10,
    in_channels: int = 1,
    image_size: int = 28,
    channels: tuple[int, int] = (16, 32),
    hidden: int = 128,
    batch_norm: bool = False,
) -> nn.Sequential:
    """Two 3x3 conv stages (each ``[BatchNorm], ReLU, 2x2 max-pool``) and two linear
    layers, for square images of any ``image_size`` divisible by 4 (8x8 digits, 28x28
    MNIST, 32x32 CIFAR); ``batch_norm=True`` adds BatchNorm after each convolution."""
    if image_size % 4:
        raise ValueError(f"cnn needs an image size divisible by 4, got {image_size}")
    layers: list[nn.Module] = []
    width = in_channels
    for c in channels:
        layers += [nn.Conv2d(width, c, 3, padding=1)]
        layers += [nn.BatchNorm2d(c)] if batch_norm else []
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
        width = c
    side = image_size // 4
    layers += [nn.Flatten(), nn.Linear(width * side * side, hidden), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(hidden, num_classes))


def lenet5(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Sequential:
    """LeNet-5: two 5x5 conv + pool stages (6 and 16 channels, the first padded to keep
    the image size), then 120-84-classes linear layers. At 28x28 (MNIST) it is the
    classic network; smaller images (the 8x8 digits) pad the second stage too."""
    small = image_size < 20
    side = (image_size // 2 - (0 if small else 4)) // 2
    if side < 1:
        raise ValueError(f"lenet5 needs images of at least 4x4, got {image_size}")
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, padding=2 if small else 0),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * side * side, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, num_classes),
    )


class BasicBlock(nn.Module):
    """Two 3x3 conv-BatchNorm stages with an identity shortcut (a 1x1 conv + BatchNorm
    where the block changes width or stride)."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x):
        out = self.bn1(self.conv1(x)).relu()
        return (self.bn2(self.conv2(out)) + self.shortcut(x)).relu()


def resnet(
    depth: int = 20,
    num_classes: int = 10,
    in_channels: int = 3,
    widths: tuple[int, int, int] = (16, 32, 64),
) -> nn.Sequential:
    """The CIFAR ResNet of He et al. (2016) of ``depth = 6n + 2`` layers: a 3x3 conv
    (BatchNorm, ReLU), three stages of ``n`` basic blocks at ``widths`` channels (stride 2
    between stages), global average pooling and a linear classifier. ``bayesianize``
    makes its classifier Bayesian (everything before its last BatchNorm keeps point
    values; with ``stochastic="all"`` the convolutions too) and keeps BatchNorm
    deterministic."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"a CIFAR ResNet has depth 6n + 2 >= 8, got {depth}")
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(),
    ]
    width = widths[0]
    for stage, channels in enumerate(widths):
        for block in range((depth - 2) // 6):
            stride = 2 if stage and not block else 1
            layers.append(BasicBlock(width, channels, stride))
            width = channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)]
    return nn.Sequential(*layers)


def resnet20(num_classes: int = 10, in_channels: int = 3) -> nn.Sequential:
    """ResNet-20 (three blocks per stage at 16, 32, 64 channels): about 0.27M weights."""
    return resnet(20, num_classes, in_channels)


def resnet8(
    num_classes: int = 10, in_channels: int = 3, widths: tuple[int, int, int] = (8, 16, 32)
) -> nn.Sequential:
    """A small ResNet: one basic block per stage at 8, 16 and 32 channels (about 20k
    weights), cheap enough to train several times on 28x28 images on two CPU cores."""
    return resnet(8, num_classes, in_channels, widths)


#: zoo name -> factory(num_classes, input_shape) for classifiers of ``[C, H, W]`` inputs
NAMES: dict[str, Callable[[int, tuple[int, ...]], nn.Module]] = {
    "digits_cnn": lambda k, shape: digits_cnn(k),
    "cnn": lambda k, shape: cnn(k, shape[0], shape[-1]),
    "bn_cnn": lambda k, shape: cnn(k, shape[0], shape[-1], batch_norm=True),
    "lenet5": lambda k, shape: lenet5(k, shape[0], shape[-1]),
    "resnet8": lambda k, shape: resnet8(k, in_channels=shape[0]),
    "resnet20": lambda k, shape: resnet20(k, in_channels=shape[0]),
    "mlp": lambda k, shape: mlp(math.prod(shape), k, hidden=(128, 128)),
}


def build(spec: str, num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    """The network ``spec`` names — a zoo name (``NAMES``) or ``package.module:factory``, a
    function returning an ``nn.Module`` (called with whichever of ``num_classes``,
    ``in_channels`` and ``input_shape`` it takes) — checked on one input of
    ``input_shape``: its output must be ``[1, num_classes]``."""
    if spec in NAMES:
        net = NAMES[spec](num_classes, tuple(input_shape))
    else:
        module_name, _, factory_name = spec.partition(":")
        if not factory_name:
            raise ValueError(
                f"unknown model {spec!r}: a zoo name ({', '.join(NAMES)}) or package.module:factory"
            )
        try:
            factory = getattr(importlib.import_module(module_name), factory_name)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"cannot load model {spec!r}: {err}") from err
        offered = {
            "num_classes": num_classes,
            "in_channels": input_shape[0],
            "input_shape": tuple(input_shape),
        }
        takes = inspect.signature(factory).parameters
        net = factory(**{k: v for k, v in offered.items() if k in takes})
        if not isinstance(net, nn.Module):
            raise ValueError(f"{spec} returned {type(net).__name__}, not an nn.Module")
    try:
        with torch.no_grad():
            out = net.eval()(torch.zeros(1, *input_shape))
    except RuntimeError as err:
        raise ValueError(
            f"model {spec!r} cannot take inputs of shape {tuple(input_shape)}: "
            f"{str(err).splitlines()[0]}"
        ) from err
    if tuple(out.shape) != (1, num_classes):
        raise ValueError(
            f"model {spec!r} outputs {tuple(out.shape[1:])} per input; the data have "
            f"{num_classes} classes"
        )
    return net.train()
