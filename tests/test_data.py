"""Datasets and splits: shapes, ranges, protocols, and clear errors for missing or corrupt data."""
import gzip
import hashlib
import struct
from pathlib import Path

import pytest
import torch
import torchvision

from omasgan import data
from tests.conftest import DATA_ROOT

MNIST_ROOT = DATA_ROOT  # $OMASGAN_DATA, else ../shared/data beside the checkout (tests/conftest.py)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_digits_loo_split_leaves_the_class_out():
    split = data.make_split("digits", 3)
    assert split.train.shape[1:] == (1, 8, 8)
    assert split.train.min() >= -1 and split.train.max() <= 1
    # The test set is the fixed held-out 30%, label 1 exactly where the digit is 3.
    _, test_labels = data.load_digits(train=False)
    assert torch.equal(split.test_y, (test_labels == 3).long())
    # No training or validation image is a 3: every normal image is one of the training images != 3.
    train_x, train_labels = data.load_digits(train=True)
    normal = train_x[train_labels != 3].reshape(-1, 64)
    for part in (split.train, split.val):
        flat = part.reshape(len(part), -1)
        assert torch.cdist(flat, normal).min(dim=1).values.max() == 0
    assert len(split.train) + len(split.val) == len(normal)
    assert len(split.val) == round(0.05 * len(normal))


def test_dev_protocol_never_reads_the_test_split(monkeypatch):
    original = data.load_digits

    def training_split_only(train, *args, **kwargs):
        assert train, "the development protocol read the test split"
        return original(train, *args, **kwargs)

    monkeypatch.setattr(data, "load_digits", training_split_only)
    split = data.make_split("digits", 3, dev=True)
    train_x, train_labels = original(train=True)
    flat = lambda t: t.reshape(len(t), -1)  # noqa: E731
    # The dev test set is a held-out DEV_FRACTION of the training split, every class, label 1 = 3.
    assert len(split.test_x) == round(data.DEV_FRACTION * len(train_x))
    assert torch.cdist(flat(split.test_x), flat(train_x)).min(dim=1).values.max() == 0
    held_labels = train_labels[torch.cdist(flat(split.test_x), flat(train_x)).argmin(dim=1)]
    assert torch.equal(split.test_y, (held_labels == 3).long()) and len(held_labels.unique()) == 10
    # Training and validation images are neither 3s nor held-out images.
    for part in (split.train, split.val):
        assert torch.cdist(flat(part), flat(split.test_x)).min() > 0
    assert (split.train_labels != 3).all() and len(split.train_labels) == len(split.train)
    # One fixed draw: the same dev set for every seed.
    assert torch.equal(data.make_split("digits", 3, dev=True, seed=1).test_x, split.test_x)


def test_one_class_protocol_keeps_only_the_normal_class():
    split = data.make_split("digits", 5, protocol="one_class")
    _, test_labels = data.load_digits(train=False)
    assert torch.equal(split.test_y, (test_labels != 5).long())
    assert len(split.train) + len(split.val) == int((data.load_digits(train=True)[1] == 5).sum())


def test_synthetic_anomalies_lie_off_the_support():
    x, y = data.make_synthetic(500, 300, seed=1)
    assert x.shape == (800, 2) and int(y.sum()) == 300
    centres = data.synthetic_modes()
    nearest = torch.cdist(x, centres).min(dim=1).values
    assert nearest[y == 1].min() > 5 * 0.06
    assert nearest[y == 0].median() < 2 * 0.06
    split = data.make_split("synthetic")
    assert split.target_class is None and split.test_y.float().mean() == 0.5


def test_pad_to_32_pads_with_background():
    images = torch.ones(2, 1, 28, 28)
    padded = data.pad_to_32(images)
    assert padded.shape == (2, 1, 32, 32)
    assert torch.equal(padded[:, :, 2:30, 2:30], images)
    assert padded[:, :, :2].eq(-1).all() and padded[:, :, :, 30:].eq(-1).all()
    assert data.to_unit_range(torch.tensor([0, 255], dtype=torch.uint8)).tolist() == [-1.0, 1.0]


@pytest.mark.skipif(not (MNIST_ROOT / "MNIST" / "raw").is_dir(), reason="real MNIST not on this machine")
def test_real_mnist_loads_offline_as_32x32_in_unit_range():
    x, y = data.load("mnist", MNIST_ROOT, train=False, download=False)
    assert x.shape == (10000, 1, 32, 32) and y.shape == (10000,)
    assert x.min() == -1 and x.max() == 1
    assert x[:, :, :2].eq(-1).all()


def test_mnist_archives_in_a_read_only_folder_load_without_extraction(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    labels = torch.tensor([7, 0, 9], dtype=torch.uint8)
    for name, array, magic in (("t10k-images-idx3-ubyte", images, 3), ("t10k-labels-idx1-ubyte", labels, 1)):
        header = bytes([0, 0, 8, magic]) + struct.pack(f">{array.dim()}I", *array.shape)
        (raw / f"{name}.gz").write_bytes(gzip.compress(header + array.numpy().tobytes()))
    raw.chmod(0o555)
    # Stand-in archives, so their md5s stand in for the official ones.
    resources = [(f"http://x/{path.name}", _md5(path)) for path in raw.iterdir()]
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(torchvision.datasets.MNIST, "resources", resources)
            x, y = data.load("mnist", tmp_path, train=False, download=False)
    finally:
        raw.chmod(0o755)
    assert x.shape == (3, 1, 32, 32) and y.tolist() == [7, 0, 9]
    assert torch.equal(x[:, :, 2:30, 2:30], data.to_unit_range(images.unsqueeze(1)))
    assert len(list(raw.iterdir())) == 2  # nothing was extracted


def test_corrupt_mnist_archive_is_named_with_its_md5(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (raw / name).write_bytes(gzip.compress(b"not an idx file"))
    with pytest.raises(data.DatasetNotFoundError, match="md5"):
        data.load("mnist", tmp_path, train=False, download=False)


def test_idx_archive_that_is_not_unsigned_bytes_is_rejected(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"\0\0\x0d\x01" + struct.pack(">I", 1) + b"abcd"))
    with pytest.raises(data.DatasetNotFoundError, match="unsigned-byte"):
        data._read_idx_archive(path)
    path.write_bytes(gzip.compress(b"\0\0\x08\x01" + struct.pack(">I", 5) + b"abc"))
    with pytest.raises(data.DatasetNotFoundError, match="truncated"):
        data._read_idx_archive(path)


def test_missing_data_folder_says_where_and_how(tmp_path):
    with pytest.raises(data.DatasetNotFoundError, match="--data-root") as err:
        data.make_split("mnist", 0, root=tmp_path, download=False)
    assert str(tmp_path / "MNIST" / "raw") in str(err.value)


def test_corrupt_data_folder_gives_the_same_clear_error(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"not an idx file")
    with pytest.raises(data.DatasetNotFoundError, match="could not load mnist"):
        data.load("mnist", tmp_path, train=False, download=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(dataset="imagenet", target_class=0), "dataset must be one of"),
        (dict(dataset="digits", target_class=10), "target_class for digits must be an int in"),
        (dict(dataset="digits", target_class="3"), "target_class for digits must be an int in"),
        (dict(dataset="digits", target_class=1, protocol="two_class"), "protocol must be one of"),
        (dict(dataset="digits", target_class=1, val_fraction=1.5), "val_fraction must be in"),
        (dict(dataset="mnist", target_class=1), "needs a data root"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.make_split(kwargs.pop("dataset"), kwargs.pop("target_class"), **kwargs)


def test_batches_cover_every_sample_once():
    x = torch.arange(10).float().unsqueeze(1)
    got = torch.cat(list(data.batches(x, 3, shuffle=True)))
    assert sorted(got.squeeze(1).tolist()) == list(range(10))
    assert [len(b) for b in data.batches(x, 3, drop_last=True)] == [3, 3, 3]
