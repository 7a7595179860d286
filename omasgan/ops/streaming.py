"""min_distance against a bank that does not live in x's device memory.

A bank can be far larger than device memory (millions of generator samples or training images).
Here it is streamed in chunks of rows, each chunk goes through the in-memory op (x and the settings
checked once for the whole pass, each chunk only for its own shape and values), and a running
(value, index) per query is kept by `omasgan.ops._common.merge_min`, so an earlier chunk wins
ties and the result is the in-memory one: the same values, the lowest index on exact ties. (The one
case where the index can differ: two different distances whose q-th powers round to the same
number; the values are then equal.)

Accepted banks:
    - a path to a `.npy` file, opened with numpy's `mmap_mode="r"` (the file may exceed RAM);
    - an `np.ndarray` or `np.memmap` of shape [Q, ...];
    - a torch.Tensor on another device than x (typically a CPU bank for CUDA queries);
    - an iterable of chunks, each a [rows, ...] torch.Tensor or np.ndarray (read once, in order).

Memory beyond x and the output: a few chunks of rows and the N selected bank rows (kept so the
values stay differentiable with respect to x, with the in-memory op's gradient: `attach_gradient`).
For CUDA queries and a host bank, chunks are copied into two pinned staging buffers and onto the
device on a side stream, so reading chunk k+1 from disk and copying it overlaps the kernel on chunk k.
"""
from __future__ import annotations

import math
import mmap
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from omasgan.ops import _common as C
from omasgan.ops.min_distance import _unchecked_min_distance, attach_gradient, check_bank_chunk

CHUNK_BYTES = 128 << 20  # one staging buffer: small next to the bank, large enough that per-call costs vanish


def streamed_min_distance(
    x: torch.Tensor, bank, p: float = 2.0, q: float = 1.0, *, backend: str = "auto", chunk_rows: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest-bank-sample distance with the bank streamed in chunks.

    Args:
        x: [N, ...] queries (flattened to [N, D]) on any device.
        bank: see the module docstring; Q >= 1 rows of D features in total.
        p, q, backend: as in `omasgan.ops.min_distance` (backend is the one used for x's device).
        chunk_rows: bank rows per chunk; default: CHUNK_BYTES worth of rows.
    Returns:
        values: [N] in x's dtype, differentiable w.r.t. x (the bank is a constant).
        indices: [N] int64 into the concatenated bank, lowest index on ties.
    """
    scan = scan_bank(x, bank, p, q, backend=backend, chunk_rows=chunk_rows)
    return attach_gradient(x, scan.values, scan.rows, p, q), scan.indices


@dataclass
class Scan:
    """What a pass over a bank leaves: per query the best value ([N], compute dtype), its index
    ([N] int64), the selected bank row ([N, D]); and the number of bank rows seen."""

    values: torch.Tensor
    indices: torch.Tensor
    rows: torch.Tensor
    count: int


def scan_bank(x, bank, p=2.0, q=1.0, *, backend="auto", chunk_rows=None, allow_empty=False) -> Scan:
    """One pass over `bank` (any accepted kind, or an in-memory tensor), without autograd.

    allow_empty: an empty bank gives values +inf and indices 0 instead of a ValueError (a rank's
    shard may be empty when the bank does not divide evenly).
    """
    C.check_tensor(x, "x")
    p, q = C.check_p_q(p, q)
    if chunk_rows is not None and (isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1):
        raise ValueError(f"chunk_rows must be a positive int or None, got {chunk_rows!r}")
    x2 = C.rows(x, "x").detach()
    if isinstance(bank, torch.Tensor) and bank.requires_grad and torch.is_grad_enabled():
        raise ValueError(
            "bank.requires_grad is True, but a streamed or sharded bank is a constant: pass bank.detach() "
            "(only an in-memory bank on x's device is differentiable)"
        )
    if isinstance(bank, torch.Tensor) and bank.device == x.device and chunk_rows is None and bank.dim():
        chunk_rows = max(1, bank.shape[0])  # already in place: one call of the in-memory op
    chunks = _host_chunks(bank, chunk_rows)
    first = next(chunks, None)
    if first is None:
        if not allow_empty:
            raise ValueError("bank must hold at least one sample, got Q = 0")
        n = x2.shape[0]
        dtype = C.compute_dtype(x2)
        return Scan(x2.new_full((n,), float("inf"), dtype=dtype), x2.new_zeros(n, dtype=torch.long),
                    x2.new_zeros((n, x2.shape[1]), dtype=dtype), 0)
    dtype = C.compute_dtype(x2, _as_probe(first))
    # x and the settings are checked once here, not again for every chunk: each chunk is checked only
    # for what is new about it (its shape, its values), then searched without the public op's checks.
    x_work = C.prepare(x2, dtype)
    x_amax = C.check_finite(x_work, "x")
    backend = C.resolve_backend(backend, x.device)
    best = None
    count = 0
    with torch.no_grad():
        for chunk in _to_device(_chain(first, chunks), x.device, dtype, chunk_rows):
            chunk = chunk.contiguous()
            amax = max(x_amax, check_bank_chunk(x_work, chunk))
            values, indices = _unchecked_min_distance(x_work, chunk, p, q, backend, amax)
            best = C.merge_min(best, (values, indices + count, chunk[indices]))  # lowest index on ties
            count += chunk.shape[0]
    return Scan(*best, count)


# ------------------------------------------------------------------------------ chunk sources
def _host_chunks(bank, chunk_rows: int | None) -> Iterator[np.ndarray | torch.Tensor]:
    """The bank as a stream of [rows, D] numpy arrays or tensors, wherever they live."""
    if isinstance(bank, (str, os.PathLike)):
        bank = _open_npy(bank)
    if isinstance(bank, np.ndarray):
        yield from _array_chunks(bank, chunk_rows)
    elif isinstance(bank, torch.Tensor):
        C.check_tensor(bank, "bank")
        bank = C.rows(bank, "bank")
        step = chunk_rows or _default_rows(bank.shape[1], bank.element_size())
        for s in range(0, bank.shape[0], step):
            yield bank[s : s + step]
    elif isinstance(bank, Iterable) and not isinstance(bank, (bytes, dict)):
        for k, chunk in enumerate(bank):
            if isinstance(chunk, np.ndarray):
                yield from _array_chunks(chunk, chunk_rows, name=f"bank chunk {k}")
            elif isinstance(chunk, torch.Tensor):
                C.check_tensor(chunk, f"bank chunk {k}")
                if chunk.requires_grad and torch.is_grad_enabled():
                    raise ValueError(f"bank chunk {k} requires grad; a streamed bank is a constant, detach it")
                yield C.rows(chunk, f"bank chunk {k}")
            else:
                raise TypeError(f"bank chunk {k} must be a torch.Tensor or np.ndarray, got {type(chunk).__name__}")
    else:
        raise TypeError(
            "bank must be a torch.Tensor, an np.ndarray / np.memmap, a path to a .npy file, or an "
            f"iterable of [rows, D] chunks; got {type(bank).__name__}"
        )


def _open_npy(path) -> np.ndarray:
    if not os.path.isfile(path):
        raise ValueError(f"bank path {os.fspath(path)!r} is not a file")
    try:
        array = np.load(path, mmap_mode="r")
    except ValueError as err:
        raise ValueError(f"bank path {os.fspath(path)!r} is not a readable .npy array: {err}") from err
    if not isinstance(array, np.ndarray):  # an .npz archive
        raise ValueError(f"bank path {os.fspath(path)!r} must be a .npy array, not an archive")
    return array


def _array_chunks(array: np.ndarray, chunk_rows: int | None, name: str = "bank") -> Iterator[np.ndarray]:
    if array.dtype.kind != "f" or array.dtype.itemsize not in (2, 4, 8):
        raise TypeError(f"{name} must hold float16, float32 or float64 values, got {array.dtype}")
    if array.ndim == 0:
        raise ValueError(f"{name} must have a leading sample dimension, got a 0-d array")
    # not reshape(Q, -1): numpy cannot infer the -1 of an array of size 0 (Q = 0 is refused later,
    # with the same message as an empty in-memory bank)
    array = array.reshape(array.shape[0], math.prod(array.shape[1:]))
    native = array.dtype.newbyteorder("=")  # a big-endian file is read chunk by chunk in native order
    step = chunk_rows or _default_rows(array.shape[1], array.itemsize)
    for s in range(0, array.shape[0], step):
        chunk = array[s : s + step]
        _advise(array[s + step : s + 2 * step], "MADV_WILLNEED")  # the disk reads ahead while we compute
        yield chunk if chunk.dtype.isnative else chunk.astype(native)
        _advise(chunk, "MADV_DONTNEED")


def _advise(chunk: np.ndarray, advice: str) -> None:
    """madvise on the pages of a memory-mapped chunk (a no-op for other arrays).

    MADV_DONTNEED once a chunk has been copied out: pages of a file mapping that were read count in
    the process's resident set until the kernel needs the memory back, so without it a pass over a
    31 GB file shows ~all of RAM as "used". The pages stay in the page cache; only this process's
    mapping of them goes. MADV_WILLNEED on the next chunk starts its read in the background.
    """
    mapping = getattr(chunk, "_mmap", None)  # numpy keeps its mmap.mmap here for np.memmap views
    if not isinstance(mapping, mmap.mmap) or not hasattr(mmap, advice) or chunk.size == 0:
        return
    base = np.frombuffer(mapping, dtype=np.uint8).ctypes.data
    start = chunk.ctypes.data - base
    aligned = start - start % mmap.PAGESIZE
    mapping.madvise(getattr(mmap, advice), aligned, start + chunk.nbytes - aligned)


def _default_rows(features: int, itemsize: int) -> int:
    return max(1, CHUNK_BYTES // max(1, features * itemsize))


def _chain(first, rest):
    yield first
    yield from rest


def _as_probe(chunk) -> torch.Tensor:
    """A 0-element tensor of the chunk's dtype, for choosing the compute dtype."""
    if isinstance(chunk, np.ndarray):
        return torch.empty(0, dtype=torch.from_numpy(np.empty(0, dtype=chunk.dtype.newbyteorder("="))).dtype)
    return chunk.new_empty(0)


# --------------------------------------------------------------------------- getting to device
def _to_device(chunks, device: torch.device, dtype: torch.dtype, chunk_rows: int | None) -> Iterator[torch.Tensor]:
    """[rows, D] chunks from anywhere -> [rows, D] tensors of `dtype` on `device`.

    A yielded tensor may be a reused buffer: it is valid until the next one is requested.
    """
    if device.type == "cuda":
        yield from _double_buffered_to_cuda(chunks, device, dtype, chunk_rows)
        return
    staging = None
    for chunk in chunks:
        if isinstance(chunk, torch.Tensor):
            yield chunk.to(device=device, dtype=dtype)
            continue
        if staging is None or staging.shape[0] < chunk.shape[0] or staging.shape[1] != chunk.shape[1]:
            staging = torch.empty(chunk.shape, dtype=dtype, device=device)
        view = staging[: chunk.shape[0]]
        np.copyto(view.numpy(), chunk, casting="same_kind")
        yield view


def _double_buffered_to_cuda(chunks, device, dtype, chunk_rows) -> Iterator[torch.Tensor]:
    """Host (or other-device) chunks onto `device`, copy of chunk k+1 overlapping compute on k.

    Two slots, each a pinned host buffer and a device buffer. For slot s:
      - the host refills pinned[s] only after the copy that last read it has finished;
      - the side stream overwrites device[s] only after the compute that last read it has finished;
      - the compute stream reads device[s] only after its copy has finished.
    Chunks already on `device` pass straight through.
    """
    compute = torch.cuda.current_stream(device)
    copier = torch.cuda.Stream(device)
    pinned, on_device = [None, None], [None, None]
    copied = [torch.cuda.Event(), torch.cuda.Event()]
    consumed = [torch.cuda.Event(), torch.cuda.Event()]
    for k, chunk in enumerate(_split(chunks, chunk_rows)):
        if isinstance(chunk, torch.Tensor) and chunk.device == device:
            yield chunk.to(dtype)
            continue
        slot = k % 2
        rows, features = chunk.shape
        if on_device[slot] is None or on_device[slot].shape[0] < rows or on_device[slot].shape[1] != features:
            copied[slot].synchronize()
            pinned[slot] = torch.empty((rows, features), dtype=dtype, pin_memory=True)
            on_device[slot] = torch.empty((rows, features), dtype=dtype, device=device)
        host, dev = pinned[slot][:rows], on_device[slot][:rows]
        copied[slot].synchronize()  # an event never recorded returns at once
        if isinstance(chunk, np.ndarray):
            np.copyto(host.numpy(), chunk, casting="same_kind")
        else:
            host.copy_(chunk)
        with torch.cuda.stream(copier):
            copier.wait_event(consumed[slot])
            dev.copy_(host, non_blocking=True)
            copied[slot].record(copier)
        compute.wait_event(copied[slot])
        yield dev
        consumed[slot].record(compute)  # everything the caller queued on this chunk is before here


def _split(chunks, chunk_rows: int | None):
    """Cut chunks larger than the staging buffers (user-supplied iterables may yield any size)."""
    for chunk in chunks:
        step = chunk_rows or _default_rows(chunk.shape[1], chunk.dtype.itemsize)
        if chunk.shape[0] <= step:
            yield chunk
        else:
            for s in range(0, chunk.shape[0], step):
                yield chunk[s : s + step]

