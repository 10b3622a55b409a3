"""Your own data: arrays in an .npz file, or a folder of images per class.

    python examples/your_data.py [--quick]

Writes the digits as the files a user would have (an .npz of arrays and a folder of PNGs
per class), reads them back with bn.data.arrays and bn.data.image_folder, and fits the
softmax and the recommended posterior (bn.fit) with their defaults on what was read, each
given the data set as read (any Dataset of (x, y) works as it is). The same calls read
MNIST, Fashion-MNIST, KMNIST, CIFAR-10/100 and SVHN from their standard files.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

import bayesnet as bn
from bayesnet.evaluate import metrics

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()
epochs = 2 if args.quick else 30

train, test = bn.data.digits()
with tempfile.TemporaryDirectory() as scratch:
    root = Path(scratch)
    # the arrays a user exported from elsewhere: uint8, channels last
    as_bytes = {
        name: (t.tensors[0] * 255).round().byte().permute(0, 2, 3, 1).numpy()
        for name, t in (("train", train), ("test", test))
    }
    np.savez(
        root / "digits.npz",
        x_train=as_bytes["train"],
        y_train=train.tensors[1].numpy(),
        x_test=as_bytes["test"],
        y_test=test.tensors[1].numpy(),
    )
    # and a folder of PNGs per class
    for split, data in (("train", train), ("test", test)):
        for i, (image, label) in enumerate(zip(as_bytes[split], data.tensors[1], strict=True)):
            folder = root / "images" / split / str(int(label))
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image[..., 0]).save(folder / f"{i}.png")

    from_npz = bn.data.arrays(root / "digits.npz")
    from_folder = bn.data.image_folder(root / "images")

for name, (tr, te) in {"npz": from_npz, "image folder": from_folder}.items():
    softmax = bn.baselines.point_estimate(
        bn.zoo.digits_cnn(), tr, epochs=epochs, progress=False, seed=0
    )
    post = bn.fit(bn.zoo.digits_cnn(), tr, epochs=epochs, progress=False, seed=0)
    x, y = te.tensors
    print(
        f"{name}: {len(tr)} training images {tuple(x.shape[1:])}; test NLL softmax "
        f"{metrics.nll(softmax.predict(x), y):.3f}, posterior "
        f"{metrics.nll(post.predict(x, num_samples=50), y):.3f}"
    )
