"""What training and scoring under torchrun need: `init_from_env` (gloo on CPU, NCCL on GPU, with a
timeout) and `shutdown`, rank helpers, `parallel` (DistributedDataParallel), `shard_batches`
(DistributedSampler) and small reductions; all are no-ops in a single process.

The nearest-sample search over a bank sharded across ranks is an op, omasgan.ops.sharded_min_distance
(omasgan.ops.sharded); this module imports nothing from omasgan.ops.
"""
from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist

DEFAULT_TIMEOUT_S = 300.0  # a rank that died or stalls turns into an error after this, not a hang
RANK_SEED_STRIDE = 7919  # rank r draws from seed + r * stride: different noise per rank, rank 0 = single process


def is_distributed(group=None) -> bool:
    """True when torch.distributed is initialised and `group` has more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size(group) > 1


def comm_device(group) -> torch.device:
    """NCCL reduces CUDA tensors; gloo (and the others) CPU tensors."""
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


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
    device = comm_device(None)
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
