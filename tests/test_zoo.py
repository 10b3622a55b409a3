"""The reference architectures: shapes, what bayesianize makes Bayesian, and that each
engine runs on them."""

import pytest
import torch
from conftest import loader_of
from torch import nn

import bayesnet as bn


def test_forward_shapes_and_size():
    assert bn.zoo.lenet5()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    net = bn.zoo.resnet20(num_classes=100)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 100)
    # He et al.'s CIFAR ResNet-20 has about 0.27M weights
    assert 260_000 < sum(p.numel() for p in bn.zoo.resnet20().parameters()) < 280_000


def test_bayesianize_resnet20_keeps_batchnorm_deterministic():
    # "head" is only what follows the last BatchNorm: the classifier
    head = bn.bayesianize(bn.zoo.resnet20(), stochastic="head")
    assert list(dict(bn.nn.bayesian_layers(head))) == ["14"]
    # a BatchNorm network is Bayesian throughout by default ("auto" is "all" here)
    default = dict(bn.nn.bayesian_layers(bn.bayesianize(bn.zoo.resnet20())))
    net = bn.bayesianize(bn.zoo.resnet20(), stochastic="all")
    assert list(default) == list(dict(bn.nn.bayesian_layers(net)))
    bayes = dict(bn.nn.bayesian_layers(net))
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    # 19 3x3 convolutions, 2 1x1 shortcut convolutions and the classifier
    assert len(bayes) == 22 and len(norms) == 21
    assert all(type(m) is nn.BatchNorm2d and m.weight.requires_grad for m in norms)
    assert "6.shortcut.0" in bayes and "6.shortcut.1" not in bayes and "3.bn1" not in bayes


@pytest.mark.slow
def test_svi_hmc_and_baselines_run_on_the_new_architectures():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(32, 3, 32, 32, generator=g), torch.randint(0, 10, (32,), generator=g)
    model = bn.Classifier(bn.bayesianize(bn.zoo.resnet20()), num_data=32)
    post = bn.fit_svi(model, loader_of(x, y, 16), epochs=1, progress=False, seed=0)
    assert post.info["step"] == "functional" and post.info["temperature"] == 0.003
    assert post.predict(x[:4], num_samples=3).shape == (3, 4, 10)
    xm, ym = torch.rand(16, 1, 28, 28, generator=g), torch.randint(0, 10, (16,), generator=g)
    lenet = bn.Classifier(
        bn.bayesianize(bn.zoo.lenet5(), prior=bn.priors.Normal(1.0), stochastic="all"), 16
    )
    hmc = bn.fit_hmc(
        lenet, (xm, ym), num_samples=3, warmup=3, max_tree_depth=2, progress=False, seed=0
    )
    assert hmc.predict(xm[:2], num_samples=None).shape == (3, 2, 10)
    softmax = bn.baselines.point_estimate(
        bn.zoo.lenet5(), loader_of(xm, ym, 8), epochs=1, progress=False
    )
    assert softmax.predict(xm[:2]).shape == (1, 2, 10)


@pytest.mark.parametrize("size", [8, 28, 32])
def test_the_battery_architectures_take_every_image_size(size):
    x = torch.zeros(3, 1, size, size)
    for name in ("cnn", "bn_cnn", "lenet5", "resnet8"):
        net = bn.zoo.build(name, 7, (1, size, size))
        assert net(x).shape == (3, 7)
    bn_cnn = bn.zoo.cnn(batch_norm=True, image_size=size)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in bn_cnn.modules()) == 2
    assert not any(
        isinstance(m, torch.nn.BatchNorm2d) for m in bn.zoo.cnn(image_size=size).modules()
    )


def test_resnet_depths():
    assert 19_000 < sum(p.numel() for p in bn.zoo.resnet8(in_channels=1).parameters()) < 21_000
    blocks = [m for m in bn.zoo.resnet(14).modules() if isinstance(m, bn.zoo.BasicBlock)]
    assert len(blocks) == 6
    with pytest.raises(ValueError, match="6n \\+ 2"):
        bn.zoo.resnet(10)
    with pytest.raises(ValueError, match="divisible by 4"):
        bn.zoo.cnn(image_size=10)
