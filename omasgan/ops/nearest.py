"""The public nearest-sample ops, and the one place that chooses how a bank is searched.

    min_distance(x, bank, p, q)                   bank a tensor on x's device -> omasgan.ops.min_distance
                                                  (the in-memory op); any other bank -> omasgan.ops.streaming
    sharded_min_distance(x, local_bank, p, q, group)
                                                  several ranks -> omasgan.ops.sharded; else min_distance
    leave_self_out_min_distance(bank, p, q)       each bank row to its nearest OTHER bank row

Layering (no import circles, tests/test_imports.py): min_distance <- streaming <- sharded <- nearest.
The running (min, argmin) merge is `_common.merge_min` and the gradient through the selected bank
rows `_common.selected_pair_grad`, for every path.
"""
from __future__ import annotations

import itertools

import torch
import torch.distributed as dist

from omasgan.distributed import is_distributed
from omasgan.ops import _common as C
from omasgan.ops._common import merge_min
from omasgan.ops.min_distance import _in_memory_min_distance, _unchecked_min_distance
from omasgan.ops.pairwise_distance import unchecked_pairwise_distance
from omasgan.ops.sharded import collective_min_distance
from omasgan.ops.streaming import streamed_min_distance


def min_distance(x: torch.Tensor, bank: torch.Tensor, p: float = 2.0, q: float = 1.0, *, backend: str = "auto"):
    """Distance from each query to its nearest bank sample.

    Args:
        x: [N, ...] queries, flattened to [N, D].
        bank: [Q, ...] samples, flattened to [Q, D]; Q >= 1.
        p: norm order in [1, inf]; q: power > 0.
        backend: "auto" | "torch" | "cpu" | "cuda" | "triton".
    Returns:
        values: [N] in x's dtype, min_j ||x_i - bank_j||_p^q, differentiable w.r.t. x and bank.
        indices: [N] int64, the argmin (lowest index on ties).

    Values are right wherever they are representable in the dtype, at any magnitude (e.g. rows
    ~1e20 in float32, whose squared norms overflow); the search then runs on x and bank scaled by
    one power of two (see omasgan.ops._common, "Numerics", for the one limit of that).

    A bank that is not a tensor on x's device (a CPU tensor for CUDA queries, an np.ndarray or
    np.memmap, a path to a .npy file, an iterable of chunks) is streamed: see omasgan.ops.streaming.
    """
    host_bank = isinstance(bank, torch.Tensor) and bank.device.type == "cpu"
    if not isinstance(bank, torch.Tensor) or (host_bank and isinstance(x, torch.Tensor) and x.device.type != "cpu"):
        return streamed_min_distance(x, bank, p, q, backend=backend)
    return _in_memory_min_distance(x, bank, p, q, backend=backend)


def sharded_min_distance(x: torch.Tensor, local_bank, p: float = 2.0, q: float = 1.0, group=None, *, backend: str = "auto"):
    """Nearest-sample distance of each query over the union of all ranks' bank shards.

    Args:
        x: [N, ...] queries, identical on every rank.
        local_bank: this rank's shard, [Q_r, ...] (may be empty on some ranks, not on all): a tensor,
            an np.ndarray / np.memmap, a .npy path or an iterable of chunks, as for min_distance.
        p, q: as in `min_distance`.
        group: a torch.distributed process group; None for the default group.
        backend: the kernel backend for the local search.
    Returns:
        values: [N] in x's dtype, the global minimum, on every rank.
        indices: [N] int64 into the concatenation of the shards in group-rank order.

    Without an initialised process group (or with one rank) this is `min_distance`. See
    omasgan.ops.sharded for how the ranks combine their minima.
    """
    if group is not None and not (dist.is_available() and dist.is_initialized()):
        raise ValueError("group was given but torch.distributed is not initialised")
    if not is_distributed(group):
        return min_distance(x, local_bank, p, q, backend=backend)
    return collective_min_distance(x, local_bank, p, q, group, backend=backend)


@torch.no_grad()
def leave_self_out_min_distance(bank: torch.Tensor, p: float = 2.0, q: float = 1.0, *, chunk_size: int = 1024,
                                backend: str = "auto"):
    """Distance from each bank row to its nearest OTHER bank row (leave-self-out, as PyOD's KNN
    scores its training data): the training scores of a detector whose bank is its training data.

    Args:
        bank: [Q, ...] samples (a tensor), flattened to [Q, D]; Q >= 1.
        p: norm order in [1, inf]; q: power > 0.
        chunk_size: bank rows per chunk; memory grows with chunk_size^2, not Q^2.
        backend: the kernels' backend, as for min_distance.
    Returns:
        values: [Q] in bank's dtype, min_{j != i} ||bank_i - bank_j||_p^q (no gradient: a score).
        indices: [Q] int64, that j (lowest on ties). An exact duplicate elsewhere in the bank gives
        0; a bank of one row has no other row: its value is inf and its index -1.

    Chunk [a, b) is searched with min_distance over bank[:a] and bank[b:] (streamed, no [Q, Q]
    matrix) and pairwise_distance within the chunk, whose diagonal (each row itself) is masked.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    flat = C.rows(C.check_tensor(bank, "bank"), "bank")
    if len(flat) == 1:
        return flat.new_full((1,), float("inf")), torch.full((1,), -1, dtype=torch.long, device=flat.device)
    # Checked once for the whole bank, not again in each chunk's searches (which then run unchecked):
    # p, q, D, no NaN/inf (one pass, chunk by chunk, which also gives each search's max |.|), backend.
    p, q = C.check_p_q(p, q)
    if flat.shape[1] == 0:
        raise ValueError("bank must have at least one feature, got D = 0")
    out_dtype = flat.dtype
    flat = C.prepare(flat, C.compute_dtype(flat))
    bounds = [(a, min(a + chunk_size, len(flat))) for a in range(0, len(flat), chunk_size)]
    amax = [C.check_finite(flat[a:b], "bank") for a, b in bounds]
    backend = C.resolve_backend(backend, flat.device)
    before = list(itertools.accumulate([-1.0] + amax[:-1], max))  # max |.| of the rows before chunk k
    after = list(itertools.accumulate([-1.0] + amax[:0:-1], max))[::-1]  # and of the rows after it
    parts = [_chunk_nearest_other(flat, a, b, p, q, backend, (amax[k], before[k], after[k]), out_dtype)
             for k, (a, b) in enumerate(bounds)]
    return torch.cat([v for v, _ in parts]), torch.cat([i for _, i in parts])


def _chunk_nearest_other(flat: torch.Tensor, a: int, b: int, p: float, q: float, backend: str,
                         amax: tuple[float, float, float], out_dtype: torch.dtype):
    """Rows [a, b) of flat [Q, D] (checked, in the compute dtype) -> (values [b - a] in out_dtype,
    indices [b - a]) over every other row; amax: max |.| of the chunk, of the rows before it, after it."""
    chunk = flat[a:b]
    within = unchecked_pairwise_distance(chunk, chunk, p, q, backend).to(out_dtype)
    within.fill_diagonal_(float("inf"))
    values, indices = within.min(dim=1)
    best = (values, indices + a)
    if a > 0:
        values, indices = _unchecked_min_distance(chunk, flat[:a], p, q, backend, max(amax[0], amax[1]))
        best = merge_min(best, (values.to(out_dtype), indices))
    if b < len(flat):
        values, indices = _unchecked_min_distance(chunk, flat[b:], p, q, backend, max(amax[0], amax[2]))
        best = merge_min(best, (values.to(out_dtype), indices + b))
    return best[0], best[1]
