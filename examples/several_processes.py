"""The recommended fit across processes: bn.fit's starts spread over two processes
(gloo on the CPU, NCCL on GPUs), every process holding the whole posterior.

    python examples/several_processes.py [--quick]

Run as a plain script it starts itself under torchrun with two processes; under
``torchrun --nproc-per-node=K examples/several_processes.py`` it is one of the K. Start k
of bn.fit runs on process k mod K; the mixture every process returns equals the one a
single process fits with the same seed.
"""

import argparse
import os
import subprocess
import sys

import torch
import torch.distributed as dist

import bayesnet as bn
from bayesnet.evaluate import metrics

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()

if "RANK" not in os.environ:  # a plain script: start two processes of it under torchrun
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node=2", __file__, *sys.argv[1:]]
    raise SystemExit(subprocess.run(command, check=False).returncode)

torch.set_num_threads(1)  # two processes on two cores
train, test = bn.data.digits()
torch.manual_seed(0)
net = bn.zoo.cnn(image_size=8, batch_norm=True)
epochs = 2 if args.quick else 20
run = bn.Run(distributed=True, seed=0, progress=False)
post = bn.fit(net, train, epochs=epochs, run=run)  # its 2 starts over the processes
x, y = test.tensors
probs = post.predict(x, num_samples=30)
rank = dist.get_rank()
print(
    f"process {rank} of {dist.get_world_size()}: {len(post.info['starts'])} starts mixed; "
    f"test NLL {metrics.nll(probs, y):.3f}, accuracy {metrics.accuracy(probs, y):.3f}",
    flush=True,
)
dist.barrier()
dist.destroy_process_group()
