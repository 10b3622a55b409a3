"""On a GPU: priors, guides, data and draws all live on the CUDA device.

Skipped where there is no GPU (CI has none); run on a lent GPU machine.
"""

import pytest
import torch
from conftest import loader_of

import bayesnet as bn

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("reparam", [None, "local", "flipout"])
def test_svi_and_predict_on_cuda(digits, reparam):
    train, test = digits
    x, y = train.tensors[0][:256], train.tensors[1][:256]
    model = bn.Classifier(bn.bayesianize(bn.zoo.digits_cnn()), num_data=256)
    post = bn.fit_svi(
        model,
        loader_of(x, y, 64),
        epochs=2,
        guide=bn.infer.MeanField(reparam=reparam),
        device="auto",
        progress=False,
    )
    assert post.device.type == "cuda"
    draws = post.sample_params(4)
    assert all(v.device.type == "cuda" for v in draws.values())
    for strategy in ("loop", "vmap"):
        probs = post.predict(test.tensors[0][:16], num_samples=4, strategy=strategy)
        assert probs.device.type == "cuda" and probs.shape == (4, 16, 10)


def test_priors_follow_the_layer_to_cuda():
    layer = bn.nn.BayesConv2d(1, 2, 3, prior=bn.priors.Hierarchical()).cuda()
    assert layer(torch.randn(2, 1, 5, 5, device="cuda")).device.type == "cuda"


def test_save_on_cuda_load_on_cpu(digits, tmp_path):
    train, _ = digits
    x, y = train.tensors[0][:128], train.tensors[1][:128]
    model = bn.Classifier(bn.bayesianize(bn.zoo.mlp(64, 10, hidden=(8,))), num_data=128)
    bn.fit_svi(model, loader_of(x, y, 64), epochs=1, device="cuda", progress=False).save(
        tmp_path / "p.pt"
    )
    cpu_model = bn.Classifier(bn.bayesianize(bn.zoo.mlp(64, 10, hidden=(8,))), num_data=128)
    loaded = bn.Posterior.load(tmp_path / "p.pt", cpu_model, map_location="cpu")
    assert loaded.predict(x[:4], num_samples=3).device.type == "cpu"


def test_baselines_and_attacks_on_cuda(digits):
    train, test = digits
    loader = loader_of(train.tensors[0][:256], train.tensors[1][:256], 64)
    x, y = test.tensors[0][:32], test.tensors[1][:32]
    softmax = bn.baselines.point_estimate(bn.zoo.digits_cnn(), loader, epochs=2, progress=False)
    methods = {
        "temperature": bn.baselines.temperature_scaled(softmax, (x, y)),
        "dropout": bn.baselines.mc_dropout(bn.zoo.digits_cnn(), loader, epochs=1, progress=False),
        "ensemble": bn.baselines.deep_ensemble(
            bn.zoo.digits_cnn(), loader, members=2, epochs=1, progress=False
        ),
    }
    for post in methods.values():
        assert post.device.type == "cuda"
        for strategy in ("loop", "vmap"):
            probs = post.predict(x, num_samples=4, strategy=strategy)
            assert probs.device.type == "cuda" and probs.shape[1:] == (32, 10)
        adv = bn.evaluate.attacks.pgd(post, x, y, 0.1, steps=2, num_samples=2)
        assert adv.device.type == "cuda" and (adv - x.cuda()).abs().max() <= 0.1 + 1e-6


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_hmc_chain_i_on_gpu_i(digits):
    x, y = (t[:64] for t in digits[0].tensors)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    model = bn.Classifier(bn.bayesianize(net), num_data=len(x))
    post = bn.fit_hmc(
        model, (x, y), num_samples=20, warmup=20, num_chains=2, progress=False, seed=0
    )
    assert post.info["chain_devices"] == ["cuda:0", "cuda:1"]
    draws = post.sample_params(None)
    assert all(v.device.type == "cpu" and v.shape[0] == 40 for v in draws.values())
    assert post.predict(x.cuda(), num_samples=4).device.type == "cuda"
