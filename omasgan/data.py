"""Datasets and anomaly-detection splits (docs/method.md in the repository, section 4).

Every loader returns float32 tensors: images `[N, C, 32, 32]` in [-1, 1] (MNIST and Fashion-MNIST
28x28 are padded with background -1 to 32x32), the 8x8 scikit-learn digits as `[N, 1, 8, 8]` in
[-1, 1], the procedural shapes (omasgan.shapes) like MNIST, and the synthetic set as `[N, 2]`
points. Labels are int64 `[N]`.

`make_split` builds the protocol's split:

- ``protocol="loo"`` (leave-one-out, the paper's): normal = every class except `target_class`,
  which is the anomaly;
- ``protocol="one_class"``: normal = `target_class` alone, every other class is the anomaly;

the normal training images are split into train / validation (`val_fraction`, default 5%), and
the test set is the dataset's official test split with label 1 = anomaly. Nothing in a split is
ever chosen with test data.
"""
from __future__ import annotations

import gzip
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

IMAGE_DATASETS = ("mnist", "fashion_mnist", "cifar10")
EMBEDDED_DATASETS = ("digits", "shapes", "synthetic")
DATASETS = IMAGE_DATASETS + EMBEDDED_DATASETS
PROTOCOLS = ("loo", "one_class")
DEV_FRACTION, DEV_SEED = 0.1, 20261203  # the development protocol's held-out share of the training split
# What a model trained on each built-in dataset records as its preprocessing (omasgan.inputs reads
# your own images with the same record, so a saved model can score an image folder).
_IMAGE_RECORD = {"kind": "images", "size": [32, 32], "scaling": "uint8 / 127.5 - 1"}
PREPROCESSING = {
    "mnist": {**_IMAGE_RECORD, "channels": 1, "resize": "28x28 padded to 32x32 with the background -1"},
    "fashion_mnist": {**_IMAGE_RECORD, "channels": 1, "resize": "28x28 padded to 32x32 with the background -1"},
    "cifar10": {**_IMAGE_RECORD, "channels": 3},
    "digits": {"kind": "images", "size": [8, 8], "channels": 1, "scaling": "0-16 / 8 - 1"},
    "shapes": {**_IMAGE_RECORD, "channels": 1, "resize": "28x28 padded to 32x32 with the background -1",
               "scaling": "[0, 1] * 2 - 1"},
    "synthetic": {"kind": "array"},
}
NUM_CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "digits": 10, "shapes": 10}

_TORCHVISION_CLASS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}
_TORCHVISION_FOLDER = {"mnist": "MNIST/raw", "fashion_mnist": "FashionMNIST/raw", "cifar10": "cifar-10-batches-py"}


class DatasetNotFoundError(FileNotFoundError):
    """A dataset folder is missing or corrupt; the message says where we looked and how to fix it."""


@dataclass
class ADSplit:
    """One anomaly-detection task.

    train: [Nt, ...] normal training samples; val: [Nv, ...] held-out normal samples (thresholds
    and score standardisation come from here); test_x: [Ns, ...]; test_y: [Ns] int64, 1 = anomaly.
    """

    dataset: str
    protocol: str
    target_class: int | None  # the left-out class ("loo") or the normal class ("one_class")
    train: torch.Tensor
    val: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    train_labels: torch.Tensor | None = None  # [Nt] class of each training sample (diagnostics only)

    def describe(self) -> str:
        return (
            f"{self.dataset} ({self.protocol}, class {self.target_class}): train {len(self.train)}, "
            f"val {len(self.val)}, test {len(self.test_x)} ({int(self.test_y.sum())} anomalies)"
        )


# ------------------------------------------------------------------------------------- loaders
def _check_name(dataset: str) -> str:
    if not isinstance(dataset, str) or dataset.lower().replace("-", "_") not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")
    return dataset.lower().replace("-", "_")


def to_unit_range(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 [N, C, H, W] in [0, 255] -> float32 in [-1, 1]."""
    return images_uint8.float().div_(127.5).sub_(1.0)


def pad_to_32(images: torch.Tensor) -> torch.Tensor:
    """[N, C, 28, 28] in [-1, 1] -> [N, C, 32, 32], padded with the background value -1."""
    if images.shape[-1] == 32:
        return images
    pad = (32 - images.shape[-1]) // 2
    return F.pad(images, (pad, pad, pad, pad), value=-1.0)


def _read_idx_archive(path: Path) -> torch.Tensor:
    """A gzip-compressed unsigned-byte idx file (MNIST's format) -> uint8 [n, ...].

    Read in memory so that a read-only data folder holding only the official archives works:
    torchvision itself wants to extract them next to the archives first.
    """
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[:3] != b"\0\0\x08":
        raise DatasetNotFoundError(f"{path} is not an unsigned-byte idx file (MNIST format)")
    header = 4 + 4 * raw[3]
    shape = struct.unpack(f">{raw[3]}I", raw[4:header])
    if len(raw) != header + math.prod(shape):
        raise DatasetNotFoundError(f"{path} is truncated: its header says {shape}")
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8, offset=header).view(shape)


def _from_archives(cls, where: Path, train: bool):
    """(images uint8 [N, 28, 28], labels) from the official .gz archives in `where`, or None when
    they are not there. An archive that fails its md5 is an error, not a silent reload."""
    from torchvision.datasets.utils import check_integrity

    prefix = "train" if train else "t10k"
    wanted = {
        kind: (where / Path(url).name, md5)
        for url, md5 in getattr(cls, "resources", ())
        for kind in ("images", "labels")
        if Path(url).name.startswith(f"{prefix}-{kind}")
    }
    if len(wanted) != 2 or not all(path.is_file() for path, _ in wanted.values()):
        return None
    for path, md5 in wanted.values():
        if not check_integrity(str(path), md5):
            raise DatasetNotFoundError(
                f"{path} fails its md5 check (expected {md5}): the file is corrupt or not the official one. "
                "Replace it with the official archive, or delete it and run online so that torchvision "
                "downloads it again."
            )
    return _read_idx_archive(wanted["images"][0]), _read_idx_archive(wanted["labels"][0])


def _torchvision(dataset: str, root: str | Path, train: bool, download: bool):
    """(images uint8 [N, 28, 28] or [N, 32, 32, 3], labels) of a torchvision dataset.

    Order: torchvision's extracted files; else the official archives read in place; else (with
    `download`) torchvision's download.
    """
    import torchvision.datasets as tvd

    cls = getattr(tvd, _TORCHVISION_CLASS[dataset])
    root = Path(root).expanduser()
    where = root / _TORCHVISION_FOLDER[dataset]
    try:
        try:
            ds = cls(root=str(root), train=train, download=False)
        except RuntimeError:
            arrays = _from_archives(cls, where, train)
            if arrays is not None:
                return arrays
            if not download:
                raise
            ds = cls(root=str(root), train=train, download=True)
        return ds.data, ds.targets
    except DatasetNotFoundError:
        raise
    except Exception as err:  # torchvision raises RuntimeError, URLError, OSError, ... by case
        raise DatasetNotFoundError(
            f"could not load {dataset} ({'train' if train else 'test'} split) from {where} (torchvision said: {err}). "
            f"Put the official files there in torchvision's layout (data root {root} must contain "
            f"{_TORCHVISION_FOLDER[dataset]}/), pass --data-root (or set OMASGAN_DATA) pointing at such a folder, or run "
            "online so that torchvision can download them."
        ) from None


def load_torchvision(dataset: str, root: str | Path, train: bool, download: bool = True):
    """MNIST / Fashion-MNIST / CIFAR-10 -> (images [N, C, 32, 32] in [-1, 1], labels [N])."""
    data, targets = _torchvision(dataset, root, train, download)
    data = data if isinstance(data, torch.Tensor) else torch.from_numpy(data)
    if data.dim() == 3:  # MNIST-style [N, 28, 28]
        data = data.unsqueeze(1)
    else:  # CIFAR-style [N, 32, 32, 3]
        data = data.permute(0, 3, 1, 2)
    return pad_to_32(to_unit_range(data.contiguous())), torch.as_tensor(targets, dtype=torch.long)


def load_shapes(train: bool):
    """The procedural shapes set (omasgan.shapes; generated, no download) -> ([N, 1, 32, 32] in
    [-1, 1], [N]): 2,500 images per class drawn with seed 0 for the training split, 500 per class
    with seed 1 for the test split."""
    from omasgan.shapes import make_shapes

    images, labels = make_shapes(2500, 0) if train else make_shapes(500, 1)
    return pad_to_32(images * 2 - 1), labels


def load_digits(train: bool, test_fraction: float = 0.3, seed: int = 0):
    """scikit-learn's bundled 8x8 digits (1,797 images, no download) -> ([N, 1, 8, 8], [N]).

    The set has no official test split, so a fixed stratified split (seed 0, 30% test) stands in.
    """
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_digits()
    idx_train, idx_test = train_test_split(
        range(len(bunch.target)), test_size=test_fraction, stratify=bunch.target, random_state=seed
    )
    idx = idx_train if train else idx_test
    images = torch.as_tensor(bunch.images[idx], dtype=torch.float32).unsqueeze(1) / 8.0 - 1.0
    return images, torch.as_tensor(bunch.target[idx], dtype=torch.long)


SYNTHETIC_STD = 0.06  # the synthetic set's std per mode


def synthetic_modes(n_modes: int = 6, radius: float = 1.0) -> torch.Tensor:
    """Centres [n_modes, 2] of the synthetic set: evenly spaced on a circle of `radius`."""
    angle = torch.arange(n_modes, dtype=torch.float32) * (2 * math.pi / n_modes)
    return radius * torch.stack([angle.cos(), angle.sin()], dim=1)


def make_synthetic(
    n_normal: int, n_anomalies: int = 0, *, n_modes: int = 6, std: float = SYNTHETIC_STD, seed: int = 0
):
    """Disconnected Gaussian modes on a ring, plus off-support anomalies.

    Returns (x [n_normal + n_anomalies, 2], y [same] with 1 = anomaly). Anomalies are uniform in
    the box [-1.6, 1.6]^2 but at least 5 std from every mode, i.e. clearly outside the support.
    """
    gen = torch.Generator().manual_seed(seed)
    centres = synthetic_modes(n_modes)
    which = torch.randint(n_modes, (n_normal,), generator=gen)
    normal = centres[which] + std * torch.randn(n_normal, 2, generator=gen)
    anomalies = torch.empty(0, 2)
    while len(anomalies) < n_anomalies:
        cand = (torch.rand(4 * n_anomalies + 16, 2, generator=gen) * 2 - 1) * 1.6
        far = torch.cdist(cand, centres).min(dim=1).values > 5 * std
        anomalies = torch.cat([anomalies, cand[far]])[:n_anomalies]
    x = torch.cat([normal, anomalies])
    y = torch.cat([torch.zeros(n_normal, dtype=torch.long), torch.ones(n_anomalies, dtype=torch.long)])
    return x, y


def load(dataset: str, root: str | Path | None = None, train: bool = True, download: bool = True):
    """Any class-labelled dataset by name -> (x [N, ...], labels [N]).

    `root` is the torchvision data folder (ignored by the embedded "digits").
    """
    dataset = _check_name(dataset)
    if dataset == "synthetic":
        raise ValueError("the synthetic set has no classes; use make_split('synthetic') or make_synthetic")
    if dataset == "digits":
        return load_digits(train)
    if dataset == "shapes":
        return load_shapes(train)
    if root is None:
        raise ValueError(f"dataset {dataset!r} needs a data root (--data-root), e.g. ./data in torchvision's layout")
    return load_torchvision(dataset, root, train, download)


# -------------------------------------------------------------------------------------- splits
def _check_class(dataset: str, cls) -> int:
    n = NUM_CLASSES[dataset]
    if isinstance(cls, bool) or not isinstance(cls, int) or not 0 <= cls < n:
        raise ValueError(f"target_class for {dataset} must be an int in [0, {n - 1}], got {cls!r}")
    return cls


def split_validation(x: torch.Tensor, val_fraction: float, seed: int = 0):
    """[N, ...] -> (train [N - Nv, ...], val [Nv, ...]) with Nv = max(1, round(N * val_fraction))."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    if len(x) < 2:
        raise ValueError(f"need at least 2 normal samples to hold out a validation split, got {len(x)}")
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_val = min(len(x) - 1, max(1, round(len(x) * val_fraction)))
    return x[perm[n_val:]], x[perm[:n_val]]


def make_split(
    dataset: str,
    target_class: int | None = None,
    *,
    root: str | Path | None = None,
    protocol: str = "loo",
    val_fraction: float = 0.05,
    seed: int = 0,
    download: bool = True,
    dev: bool = False,
) -> ADSplit:
    """The anomaly-detection split of docs/method.md (in the repository), section 4.

    For "loo", `target_class` is the left-out (anomalous) class; for "one_class" it is the single
    normal class. The synthetic set ignores both: its normal data are the ring's modes and its
    test anomalies lie off the support.

    dev=True is the development protocol, for tuning: the official test split is never read.
    `DEV_FRACTION` of every class of the official training split is held out (one fixed draw,
    the same for every seed and class) and stands in for the test split; the left-out class's
    held-out training images are the dev anomalies. Training and validation data come from the
    rest, exactly as in the official protocol.
    """
    dataset = _check_name(dataset)
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}; got {protocol!r}")
    if dataset == "synthetic":
        train_x, _ = make_synthetic(2000, seed=seed)
        test_x, test_y = make_synthetic(1000, 1000, seed=seed + 1)
        train, val = split_validation(train_x, val_fraction, seed)
        return ADSplit(dataset, protocol, None, train, val, test_x, test_y)

    cls = _check_class(dataset, target_class)
    train_x, train_labels = load(dataset, root, train=True, download=download)
    if dev:
        held = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(DEV_SEED))
        held, kept = held[: round(len(train_x) * DEV_FRACTION)], held[round(len(train_x) * DEV_FRACTION):]
        test_x, test_labels = train_x[held], train_labels[held]
        train_x, train_labels = train_x[kept], train_labels[kept]
    else:
        test_x, test_labels = load(dataset, root, train=False, download=download)
    if protocol == "loo":
        keep = train_labels != cls
        test_y = (test_labels == cls).long()
    else:
        keep = train_labels == cls
        test_y = (test_labels != cls).long()
    normal, labels = train_x[keep], train_labels[keep]
    train_idx, val_idx = split_validation(torch.arange(len(normal)), val_fraction, seed)
    return ADSplit(dataset, protocol, cls, normal[train_idx], normal[val_idx], test_x, test_y, labels[train_idx])


def batches(x: torch.Tensor, batch_size: int, *, shuffle: bool = False, drop_last: bool = False):
    """Yields [<= batch_size, ...] slices of x; the shuffle draws from torch's global RNG."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = torch.randperm(len(x)) if shuffle else None
    stop = len(x) - (len(x) % batch_size if drop_last else 0)
    for start in range(0, stop, batch_size):
        yield x[order[start : start + batch_size]] if shuffle else x[start : start + batch_size]
