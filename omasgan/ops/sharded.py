"""min_distance over a bank sharded across torch.distributed ranks: the collective half of
`omasgan.ops.sharded_min_distance` (omasgan.ops.nearest), which runs it for a group of several ranks.

Every rank holds the same queries x and one shard of the bank (a tensor, a .npy path, a memmap or
an iterable of chunks: anything `omasgan.ops.min_distance` accepts), finds its local (min, argmin)
with omasgan.ops.streaming's `scan_bank` and the ranks combine them with an all-reduce, never
gathering the N x Q matrix nor the bank.

How (value, index) pairs are combined, lowest global index on ties:
  - float32 (also float16 / bfloat16 queries, computed in float32): ONE all_reduce(MIN) over int64
    keys (bits(value) << 32) | global_index. For non-negative IEEE floats the bit pattern, read as
    an integer, orders like the value, so the smallest key holds the smallest value and, among
    equal values, the lowest index. Needs Q < 2^32 - 1.
  - float64: 64 value bits and an index do not fit in one int64, so TWO all_reduce(MIN): first the
    values themselves (exact), then the indices, each rank offering its index only where its value
    equals the global minimum (and 2^63 - 1 elsewhere).
Shard offsets come from an all_gather of each rank's shard size (three int64 per rank).

If x requires grad, one more all_reduce(SUM) brings the winning bank row of each query to every
rank so that the values are differentiable w.r.t. x (through the in-memory op's gradient,
`attach_gradient`); every rank must then call with x requiring grad (as in any collective, all
ranks must make the same calls).
"""
from __future__ import annotations

import contextlib

import torch
import torch.distributed as dist

from omasgan.distributed import comm_device
from omasgan.ops import _common as C
from omasgan.ops.min_distance import attach_gradient
from omasgan.ops.streaming import scan_bank

_NO_INDEX = (1 << 32) - 1  # index of an empty shard's "minimum": loses every tie
_INT64_MAX = (1 << 63) - 1


def collective_min_distance(x: torch.Tensor, local_bank, p: float, q: float, group, *, backend: str):
    """Nearest-sample distance of each query over the union of all ranks' bank shards, for a group
    of more than one rank (`omasgan.ops.sharded_min_distance` checks that and is the public entry).

    Args:
        x: [N, ...] queries, identical on every rank.
        local_bank: this rank's shard, [Q_r, ...] (may be empty on some ranks, not on all).
        p, q: as in `omasgan.ops.min_distance`.
        group: a torch.distributed process group; None for the default group.
        backend: the kernel backend for the local search.
    Returns:
        values: [N] in x's dtype, the global minimum, on every rank.
        indices: [N] int64 into the concatenation of the shards in group-rank order.
    """
    p, q = C.check_p_q(p, q)
    scan = scan_bank(x, local_bank, p, q, backend=backend, allow_empty=True)
    with _collectives_named(group):
        offset, total = _shard_offset(scan.count, x, group)
        local_index = scan.indices + offset if scan.count else torch.full_like(scan.indices, _NO_INDEX)
        if scan.values.dtype == torch.float64:
            values, indices = _combine_two_reductions(scan.values, local_index, group)
        else:
            if total >= _NO_INDEX:
                raise ValueError(f"the sharded bank holds {total} rows; at most {_NO_INDEX - 1} are supported")
            values, indices = _combine_packed(scan.values, local_index, group)
        values = values.to(scan.values.device)
        indices = indices.to(scan.indices.device)
        if torch.is_grad_enabled() and x.requires_grad:
            rows = torch.where((indices == local_index)[:, None], scan.rows, torch.zeros_like(scan.rows))
            _all_reduce(rows, dist.ReduceOp.SUM, group)
            return attach_gradient(x, values, rows, p, q), indices
    return values.to(x.dtype), indices


def _shard_offset(count: int, x: torch.Tensor, group) -> tuple[int, int]:
    """(this rank's first global index, total bank rows); checks every rank has the same queries."""
    shape = C.rows(x, "x").shape
    mine = torch.tensor([count, shape[0], shape[1]], dtype=torch.long, device=comm_device(group))
    everyone = [torch.empty_like(mine) for _ in range(dist.get_world_size(group))]
    dist.all_gather(everyone, mine, group=group)
    table = torch.stack(everyone).cpu()
    if not bool((table[:, 1:] == table[0, 1:]).all()):
        raise ValueError(
            "every rank must pass the same queries x; got (N, D) per rank: "
            f"{[tuple(r) for r in table[:, 1:].tolist()]}"
        )
    total = int(table[:, 0].sum())
    if total == 0:
        raise ValueError("the sharded bank is empty on every rank (Q = 0)")
    return int(table[: dist.get_rank(group), 0].sum()), total


def _combine_packed(values: torch.Tensor, index: torch.Tensor, group):
    """float32 values >= 0 and indices < 2^32 -> the global (min, lowest argmin) in one all_reduce."""
    bits = values.float().abs().view(torch.int32).to(torch.long)  # abs: a -0.0 would sort last
    key = ((bits << 32) | index).to(comm_device(group))
    _all_reduce(key, dist.ReduceOp.MIN, group)
    key = key.to(values.device)
    return (key >> 32).to(torch.int32).view(torch.float32), key & _NO_INDEX


def _combine_two_reductions(values: torch.Tensor, index: torch.Tensor, group):
    """float64: all_reduce(MIN) of the values, then of the indices that attain them."""
    device = comm_device(group)
    best = values.to(device, copy=True)  # reduced in place; values is compared with it below
    _all_reduce(best, dist.ReduceOp.MIN, group)
    offer = torch.where(values.to(device) == best, index.to(device), torch.full_like(best, _INT64_MAX, dtype=torch.long))
    _all_reduce(offer, dist.ReduceOp.MIN, group)
    return best, offer


def _all_reduce(tensor: torch.Tensor, op, group) -> None:
    device = comm_device(group)
    if tensor.device == device:
        dist.all_reduce(tensor, op=op, group=group)
    else:
        moved = tensor.to(device)
        dist.all_reduce(moved, op=op, group=group)
        tensor.copy_(moved)


@contextlib.contextmanager
def _collectives_named(group):
    """Turns a failed collective (a rank died, or never arrived within the group's timeout) into
    an error that says so, instead of the backend's bare message."""
    try:
        yield
    except RuntimeError as err:
        raise RuntimeError(
            f"omasgan.ops.sharded_min_distance: a collective failed on rank {dist.get_rank(group)} of "
            f"{dist.get_world_size(group)}: another rank died or did not reach the same call within "
            f"the process group's timeout ({err})"
        ) from err
