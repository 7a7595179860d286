"""min_distance over a bank sharded across torch.distributed ranks.

Every rank holds the same queries x and one shard of the bank (a tensor, a .npy path, a memmap or
an iterable of chunks: anything `omasgan.ops.min_distance` accepts), finds its local (min, argmin)
and the ranks combine them with an all-reduce, never gathering the N x Q matrix nor the bank.

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
rank so that the values are differentiable w.r.t. x; every rank must then call with x requiring
grad (as in any collective, all ranks must make the same calls).

Without an initialised process group (or with one rank) this is `omasgan.ops.min_distance`.

The second half holds what training and scoring under torchrun need: `init_from_env` (gloo on
CPU, NCCL on GPU, with a timeout) and `shutdown`, rank helpers, `parallel` (DistributedDataParallel),
`shard_batches` (DistributedSampler) and small reductions; all are no-ops in a single process.
"""
from __future__ import annotations

import contextlib
import datetime
import os

import torch
import torch.distributed as dist

from omasgan.ops import _common as C
from omasgan.ops.streaming import attach_gradient, scan_bank

_NO_INDEX = (1 << 32) - 1  # index of an empty shard's "minimum": loses every tie
_INT64_MAX = (1 << 63) - 1


def is_distributed(group=None) -> bool:
    """True when torch.distributed is initialised and `group` has more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size(group) > 1


def min_distance(x: torch.Tensor, local_bank, p: float = 2.0, q: float = 1.0, group=None, *, backend: str = "auto"):
    """Nearest-sample distance of each query over the union of all ranks' bank shards.

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
    if group is not None and not (dist.is_available() and dist.is_initialized()):
        raise ValueError("group was given but torch.distributed is not initialised")
    if not is_distributed(group):
        from omasgan.ops import min_distance as single_process

        return single_process(x, local_bank, p, q, backend=backend)
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
    mine = torch.tensor([count, shape[0], shape[1]], dtype=torch.long, device=_comm_device(group))
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
    key = ((bits << 32) | index).to(_comm_device(group))
    _all_reduce(key, dist.ReduceOp.MIN, group)
    key = key.to(values.device)
    return (key >> 32).to(torch.int32).view(torch.float32), key & _NO_INDEX


def _combine_two_reductions(values: torch.Tensor, index: torch.Tensor, group):
    """float64: all_reduce(MIN) of the values, then of the indices that attain them."""
    device = _comm_device(group)
    best = values.to(device, copy=True)  # reduced in place; values is compared with it below
    _all_reduce(best, dist.ReduceOp.MIN, group)
    offer = torch.where(values.to(device) == best, index.to(device), torch.full_like(best, _INT64_MAX, dtype=torch.long))
    _all_reduce(offer, dist.ReduceOp.MIN, group)
    return best, offer


def _all_reduce(tensor: torch.Tensor, op, group) -> None:
    device = _comm_device(group)
    if tensor.device == device:
        dist.all_reduce(tensor, op=op, group=group)
    else:
        moved = tensor.to(device)
        dist.all_reduce(moved, op=op, group=group)
        tensor.copy_(moved)


def _comm_device(group) -> torch.device:
    """NCCL reduces CUDA tensors; gloo (and the others) CPU tensors."""
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


@contextlib.contextmanager
def _collectives_named(group):
    """Turns a failed collective (a rank died, or never arrived within the group's timeout) into
    an error that says so, instead of the backend's bare message."""
    try:
        yield
    except RuntimeError as err:
        raise RuntimeError(
            f"omasgan.distributed.min_distance: a collective failed on rank {dist.get_rank(group)} of "
            f"{dist.get_world_size(group)}: another rank died or did not reach the same call within "
            f"the process group's timeout ({err})"
        ) from err


# ------------------------------------------------------------------------ training under torchrun
DEFAULT_TIMEOUT_S = 300.0  # a rank that died or stalls turns into an error after this, not a hang
RANK_SEED_STRIDE = 7919  # rank r draws from seed + r * stride: different noise per rank, rank 0 = single process


def init_from_env(timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """Joins the process group that torchrun describes in the environment (WORLD_SIZE > 1).

    NCCL when CUDA is available (each rank on cuda:LOCAL_RANK), gloo otherwise. Returns True when
    this process is one of several ranks; False (and nothing done) for a plain single process.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(seconds=timeout_s))
    return dist.get_world_size() > 1


def shutdown(completed: bool) -> None:
    """Leaves the process group, if one was joined. Call once per process at the end.

    Without it gloo's worker threads can still be alive at interpreter exit, and the process
    aborts ("terminate called without an active exception"). After a successful run the ranks
    first meet at a barrier, so no rank tears down a connection another is still using; after an
    error they do not wait, since the other ranks may never arrive.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    if completed:
        dist.barrier()
    dist.destroy_process_group()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Rank 0, or the only process: the one that writes files and prints."""
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def rank_device(device: torch.device) -> torch.device:
    """Under NCCL each rank owns cuda:LOCAL_RANK; everything else is unchanged."""
    if device.type == "cuda" and is_distributed():
        return torch.device("cuda", torch.cuda.current_device())
    return device


def parallel(module: torch.nn.Module) -> torch.nn.Module:
    """`module` wrapped in DistributedDataParallel when running as several ranks, else itself.

    Parameters are broadcast from rank 0 when wrapped; gradients are averaged in backward. A
    network that is used with frozen parameters inside a step must be called under `no_sync`
    (see `omasgan.engine.frozen`), so DDP does not wait for gradients it never gets.
    """
    if not is_distributed():
        return module
    from torch.nn.parallel import DistributedDataParallel

    device = next(module.parameters()).device
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def shard_batches(data: torch.Tensor, batch_size: int, seed: int, epoch: int):
    """This rank's shuffled batches of `data` [N, ...] for one epoch (DistributedSampler: every
    rank sees a disjoint 1/world share, the same permutation on all ranks, a new one per epoch)."""
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    sampler = DistributedSampler(TensorDataset(data), shuffle=True, seed=seed, drop_last=True)
    sampler.set_epoch(epoch)
    loader = DataLoader(TensorDataset(data), batch_size=batch_size, sampler=sampler,
                        drop_last=len(data) >= batch_size * world_size())
    return (batch for (batch,) in loader)


def mean_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """{name: this rank's number} -> {name: the mean over ranks} (same keys on every rank)."""
    if not is_distributed() or not values:
        return values
    names = sorted(values)
    device = _comm_device(None)
    stacked = torch.tensor([values[k] for k in names], dtype=torch.float64, device=device)
    dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
    return {k: float(v) / dist.get_world_size() for k, v in zip(names, stacked.tolist())}


def gather_objects(obj) -> list:
    """[obj of rank 0, obj of rank 1, ...] on every rank ([obj] for a single process)."""
    if not is_distributed():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out
