"""Data-parallel SVI on torch.distributed: two gloo processes on loopback, bounded in time,
cleaned up whatever happens."""

import os
import socket
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import loader_of

import bayesnet as bn
from bayesnet.infer import make_guide
from bayesnet.infer.shared.distributed import Ranks, average_gradients
from bayesnet.infer.svi.functional import functional_elbo

pytestmark = pytest.mark.skipif(
    not dist.is_available() or sys.platform == "win32", reason="needs torch.distributed (gloo)"
)
TIMEOUT = 240


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data(n=256):
    train, _ = bn.data.digits()
    return train.tensors[0][:n], train.tensors[1][:n]


def _model(n):
    torch.manual_seed(0)
    return bn.Classifier(bn.bayesianize(bn.zoo.mlp(64, 10, hidden=(16,))), num_data=n)


def _gradients(model, x, y):
    """The ELBO's gradient for one weight draw (seed 7) on ``(x, y)``."""
    guide = make_guide(model, bn.infer.MeanField(init_scale=0.05))
    with torch.no_grad():
        guide(x[:1])
    elbo, _ = functional_elbo(model, guide, None)
    params = list(guide.parameters())
    torch.manual_seed(7)
    elbo(x, y, True).loss(1.0, 0.1).backward()
    return params


def _worker(rank, world, port, task, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank))
    os.environ["WORLD_SIZE"] = str(world)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        x, y = _data()
        if task == "gradient":
            shard = slice(rank * 16, (rank + 1) * 16)  # disjoint halves of the first 32
            params = _gradients(_model(256), x[shard], y[shard])
            average_gradients(params, Ranks(rank, world))
            if rank == 0:
                torch.save([p.grad for p in params], out)
        elif task in ("starts", "failing", "parallel"):
            _fit_task(task, rank, x, y, out)
        elif task == "unseeded":  # every rank builds its own network, nothing seeded
            torch.manual_seed(100 + rank)
            model = bn.Classifier(bn.bayesianize(bn.zoo.mlp(64, 10, hidden=(16,))), 256)
            post = bn.fit_svi(
                model, loader_of(x, y, 32), epochs=2, run=bn.Run(distributed=True, progress=False)
            )
            torch.save(post.sampler.guide.state_dict(), os.path.join(out, f"rank{rank}.pt"))
        else:
            post = bn.fit_svi(
                _model(256),
                loader_of(x, y, 32),
                epochs=20,
                run=bn.Run(distributed=True, checkpoint_dir=out, progress=False, seed=0),
            )
            if rank == 0:
                torch.save(post.info["history"], os.path.join(out, "history.pt"))
        # both ranks done before either tears gloo down: a rank that destroyed its process
        # group while the other still ran made the other abort at exit under load
        dist.barrier()
    finally:
        dist.destroy_process_group()


class _FailsOnRank1(torch.nn.Module):
    """A network whose training fails on rank 1 only."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(64, 10)

    def forward(self, x):
        if self.training and dist.is_initialized() and dist.get_rank() == 1:
            raise RuntimeError("out of memory, say")
        return self.layer(x.flatten(1))


def _fit_task(task, rank, x, y, out):
    """bn.fit across two processes: the starts spread (``starts``), a start that fails on
    one rank (``failing``), or one start trained data-parallel (``parallel``)."""
    torch.manual_seed(0)
    net = _FailsOnRank1() if task == "failing" else bn.zoo.mlp(64, 10, hidden=(16,))
    run = bn.Run(distributed=True, progress=False, seed=0)
    try:
        post = bn.fit(net, (x, y), epochs=2, starts=1 if task == "parallel" else 2, run=run)
    except Exception as err:
        torch.save(f"{type(err).__name__}: {err}", os.path.join(out, f"rank{rank}.pt"))
        return
    torch.manual_seed(1)
    probs = post.predict(x[:20], num_samples=4)
    torch.save(probs, os.path.join(out, f"rank{rank}.pt"))


def _run(task, out, world=2):
    context = mp.start_processes(
        _worker,
        args=(world, _free_port(), task, str(out)),
        nprocs=world,
        join=False,
        start_method="spawn",
    )
    try:
        while not context.join(timeout=TIMEOUT):
            pass
    finally:
        for process in context.processes:
            if process.is_alive():
                process.terminate()
            process.join(5)


def test_two_ranks_average_to_the_gradient_of_their_union(tmp_path):
    _run("gradient", tmp_path / "grads.pt")
    averaged = torch.load(tmp_path / "grads.pt", weights_only=True)
    x, y = _data()
    single = _gradients(_model(256), x[:32], y[:32])
    for a, b in zip(averaged, single, strict=True):
        assert torch.allclose(a, b.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_a_two_process_fit_matches_one_process_and_resumes_in_one(tmp_path):
    _run("fit", tmp_path)
    two = torch.load(tmp_path / "history.pt", weights_only=True)
    x, y = _data()
    one = bn.fit_svi(_model(256), loader_of(x, y, 64), epochs=20, progress=False, seed=0)
    # the same global batch (2 x 32 against 64), other examples per step: the training NLL
    # after twenty epochs agrees within 20%, both far from the input-free guess
    assert two[-1]["nll"] == pytest.approx(one.info["history"][-1]["nll"], rel=0.2)
    assert two[-1]["nll"] < 0.5 * one.info["null_nll"] and not one.info["collapsed"]
    resumed = bn.fit_svi(
        _model(256),
        loader_of(x, y, 64),
        epochs=21,
        run=bn.Run(checkpoint_dir=tmp_path, resume=True, progress=False, seed=0),
    )
    assert [h["epoch"] for h in resumed.info["history"]] == list(range(1, 22))


def test_ranks_that_build_their_networks_unseeded_end_alike(tmp_path):
    """Rank 0's weights are broadcast at setup: without it, two replicas seeded apart
    trained two different posteriors."""
    _run("unseeded", tmp_path)
    zero = torch.load(tmp_path / "rank0.pt", weights_only=True)
    one = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert zero.keys() == one.keys()
    for key in zero:
        torch.testing.assert_close(zero[key], one[key])


@pytest.mark.slow
def test_torchrun_trains_from_a_config_with_two_processes(tmp_path):
    """``torchrun --standalone --nproc-per-node=2 -m bayesnet train CONFIG.toml``."""
    import json
    import subprocess

    config = tmp_path / "c.toml"
    config.write_text(
        '[data]\nname = "digits"\nbatch_size = 64\n\n[svi]\nepochs = 2\n\n'
        f'[output]\ndir = "{tmp_path / "run"}"\nlog_every = 1\n'
    )
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node=2", "-m", "bayesnet", "train", str(config)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("trained:") == 1  # rank 0 reports
    records = [json.loads(x) for x in (tmp_path / "run" / "train_log.jsonl").open()]
    assert [(r["phase"], r["epoch"]) for r in records] == [
        ("map", 1),
        ("map", 2),
        ("svi", 1),
        ("svi", 2),
    ]
    post = bn.Posterior.load(tmp_path / "run" / "posterior.pt", _digits_model())
    assert post.predict(_data()[0][:3], num_samples=2).shape == (2, 3, 10)


def _digits_model():
    train, _ = bn.data.digits()
    return bn.Classifier(bn.bayesianize(bn.zoo.digits_cnn()), num_data=len(train))


def test_bn_fit_spreads_its_starts_over_processes_and_equals_one_process(tmp_path):
    """Start k on rank k mod 2, every rank the whole mixture: the single process's
    predictions with the same seeds, on both ranks."""
    _run("starts", tmp_path)
    x, y = _data()
    torch.manual_seed(0)
    net = bn.zoo.mlp(64, 10, hidden=(16,))
    one = bn.fit(net, (x, y), epochs=2, starts=2, progress=False, seed=0)
    torch.manual_seed(1)
    expected = one.predict(x[:20], num_samples=4)
    for rank in (0, 1):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        torch.testing.assert_close(got, expected)


def test_a_start_that_fails_on_one_rank_fails_every_rank_by_name(tmp_path):
    _run("failing", tmp_path)
    for rank in (0, 1):
        said = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert said.startswith("StartFailed: start 1 on rank 1: RuntimeError: out of memory")


def test_one_start_trains_data_parallel_and_the_ranks_agree(tmp_path):
    _run("parallel", tmp_path)
    zero, one = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    torch.testing.assert_close(zero, one)
    assert zero.shape == (4, 20, 10)
