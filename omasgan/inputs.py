"""Your own data for `omasgan train --input` and `omasgan score --input`.

    read_input("photos/")          # a folder of png/jpg/bmp images, any size, grey or colour
    read_input("x.npy")            # a numeric array [N, ...] (.npy, or a tensor saved in a .pt file)
    read_input("table.csv")        # numeric features, one sample per row (an optional header row)

Images are resized to a square `image_size` (bilinear, antialiased), given `channels` (1: grey,
3: RGB; "auto": grey when every image is) and scaled from 0-255 to [-1, 1] like the built-in
datasets. The returned `preprocessing` dict is what a model records, so that scoring a folder
later applies exactly the same steps (`read_input(path, preprocessing=model.preprocessing_)`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
ARRAY_SUFFIXES = (".npy", ".pt", ".csv")
IMAGE_SCALING = "uint8 / 127.5 - 1"
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


@dataclass
class Inputs:
    """x: [N, ...] float32 samples; ids: N names (file names, or row numbers); preprocessing: the
    steps applied (kind "images", "array" or "table", and their parameters); source: the path."""

    x: torch.Tensor
    ids: list[str]
    preprocessing: dict = field(default_factory=dict)
    source: str = ""


def read_input(path: str | Path, *, preprocessing: dict | None = None, image_size: int = 32,
               channels: int | str = "auto") -> Inputs:
    """Reads a folder of images, a .npy / .pt array or a CSV table (see the module docstring).

    preprocessing: a model's record; when given, images get its size and channels, and the kind of
    input must match the kind the model was trained on.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"--input {path} does not exist")
    if path.is_dir():
        if preprocessing and preprocessing.get("kind") not in (None, "images"):
            raise ValueError(f"this model was trained on a {preprocessing['kind']}, not images; give it the same kind of input")
        if preprocessing and preprocessing.get("kind") == "images":
            if preprocessing.get("scaling") != IMAGE_SCALING:
                raise ValueError(f"this model's images were scaled by {preprocessing.get('scaling')!r}, not read from "
                                 "image files; give it an array prepared the same way")
            image_size, channels = preprocessing["size"][0], preprocessing["channels"]
        return _read_images(path, image_size, channels)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in (".npy", ".pt"):
        x = _read_array(path)
        return Inputs(x, [str(i) for i in range(len(x))], {"kind": "array"}, str(path))
    raise ValueError(f"--input must be a folder of images, or a {', '.join(ARRAY_SUFFIXES)} file; got {path.name}")


def _read_images(folder: Path, image_size: int, channels: int | str) -> Inputs:
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms.functional import InterpolationMode, resize

    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image size must be a positive int, got {image_size!r}")
    if channels not in ("auto", 1, 3):
        raise ValueError(f"channels must be 'auto', 1 or 3, got {channels!r}")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"--input {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    images = []
    for f in files:
        try:
            with Image.open(f) as img:
                img.load()
                images.append(img.copy())
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"{f} is not a readable image: {err}") from None
    if channels == "auto":
        channels = 1 if all(img.mode in GREY_MODES for img in images) else 3
    mode = "L" if channels == 1 else "RGB"
    tensors = []
    for img in images:
        array = np.asarray(img.convert(mode), dtype=np.uint8)
        t = torch.from_numpy(array.copy()).reshape(array.shape[0], array.shape[1], channels).permute(2, 0, 1)
        t = resize(t.float(), [image_size, image_size], interpolation=InterpolationMode.BILINEAR, antialias=True)
        tensors.append(t.clamp(0, 255) / 127.5 - 1)
    preprocessing = {"kind": "images", "size": [image_size, image_size], "channels": channels,
                     "scaling": IMAGE_SCALING, "resize": "bilinear, antialiased"}
    return Inputs(torch.stack(tensors), [str(f.relative_to(folder)) for f in files], preprocessing, str(folder))


def _read_array(path: Path) -> torch.Tensor:
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as err:  # object arrays need pickle, which never runs here
            raise ValueError(f"{path} is not a numeric .npy array: {err}") from None
        except (OSError, EOFError) as err:
            raise ValueError(f"{path} is not a readable .npy file (truncated or corrupt): {err}") from None
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("="))
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise ValueError(f"{path} holds {array.dtype} values, not numbers")
        x = torch.from_numpy(np.ascontiguousarray(array))
    else:
        from omasgan.checkpoint import UnsafeLoadError, safe_load

        try:
            x = safe_load(path)
        except UnsafeLoadError as err:
            if err.unsafe:
                raise ValueError(f"{path} is refused: {err}") from None
            raise ValueError(f"{path} is not a readable tensor file (truncated, corrupt or not a saved tensor): "
                             f"{err}") from None
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{path} holds a {type(x).__name__}, not a tensor [N, ...]")
    if x.dim() < 2:
        raise ValueError(f"{path} must hold an array [N, features...], got shape {tuple(x.shape)}")
    if len(x) == 0:
        raise ValueError(f"{path} holds 0 samples")
    return x.float()


def _read_csv(path: Path) -> Inputs:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{path} is empty")
    header = None
    try:
        [float(v) for v in lines[0].split(",")]
    except ValueError:
        header, lines = [v.strip() for v in lines[0].split(",")], lines[1:]
    if not lines:
        raise ValueError(f"{path} holds a header but no rows")
    try:
        rows = [[float(v) for v in line.split(",")] for line in lines]
    except ValueError as err:
        raise ValueError(f"{path} must hold numeric features, one sample per row: {err}") from None
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise ValueError(f"{path}: every row must have the same number of values, found {sorted(widths)}")
    preprocessing = {"kind": "table", "columns": header or [f"x{i}" for i in range(widths.pop())]}
    return Inputs(torch.tensor(rows, dtype=torch.float32), [str(i) for i in range(len(rows))], preprocessing, str(path))
