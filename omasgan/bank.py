"""A sample bank of a generator drawn in batches: into memory, or into a .npy file when it would not fit.

Scoring keeps two things about Q samples G'(z_j): the critic's value on each (Q floats, always in
memory) and, for the nearest-sample term, the samples themselves ([Q, D]: 31 GB for Q = 10^7
MNIST-sized samples). The samples go to the model's device when they fit in half of its free
memory, else to a memory-mapped .npy file that `omasgan.ops.min_distance` streams.

Sharded (under torchrun): rank r draws its share of Q with its own noise and keeps its samples;
the critic values of all ranks are gathered (Q floats), and the nearest-sample term combines the
shards with `omasgan.ops.sharded_min_distance`.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from omasgan import distributed

DRAW_BATCH = 1024


@dataclass
class SampleBank:
    """values: [Q] critic values of every rank's samples. samples: this rank's [Q_r, D] samples
    (a tensor, or the path of a .npy file), None when not kept. sharded: spread over ranks."""

    values: torch.Tensor
    samples: torch.Tensor | str | None
    sharded: bool


def shard_size(size: int, rank: int, world: int) -> int:
    """Rows of a `size`-row bank that rank `rank` of `world` holds (the first size % world get one more)."""
    return size // world + (rank < size % world)


@torch.no_grad()
def draw_bank(
    sample: Callable[[int, torch.Generator], torch.Tensor],
    critic: Callable[[torch.Tensor], torch.Tensor],
    size: int,
    *,
    seed: int,
    keep_samples: bool,
    device: torch.device,
    directory: str | Path | None = None,
    memory_budget: int | None = None,
    sharded: bool = False,
    progress: bool = False,
    embed: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> SampleBank:
    """Draws a bank of `size` samples in batches of DRAW_BATCH.

    sample(n, generator) -> [n, ...] samples on `device`; critic(samples) -> [n] values.
    directory: where a bank too large for memory is written (default: a new temporary folder,
    named in a warning). memory_budget: bytes the samples may take in memory (default: half the
    device's free memory; 0 always writes the file). embed(samples) -> [n, F]: what is kept of each
    sample (default: the flattened sample).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"bank size must be a positive int, got {size!r}")
    rank, world = (distributed.rank(), distributed.world_size()) if sharded else (0, 1)
    if size < world:
        raise ValueError(f"a bank of {size} samples cannot be sharded over {world} ranks")
    local = shard_size(size, rank, world)
    generator = torch.Generator().manual_seed(seed + distributed.RANK_SEED_STRIDE * rank)
    from tqdm.auto import tqdm

    bar = tqdm(total=local * world, desc="score bank", unit="sample", unit_scale=True,
               disable=not progress or not distributed.is_main_process())
    values, store = [], None
    for start in range(0, local, DRAW_BATCH):
        batch = sample(min(DRAW_BATCH, local - start), generator)
        values.append(critic(batch).float().reshape(-1))
        if keep_samples:
            flat = embed(batch) if embed is not None else batch.reshape(len(batch), -1)
            if store is None:
                store = _Store(local, flat.shape[1], device, directory, memory_budget, rank)
            store.write(start, flat)
        bar.update(len(batch) * world)
    bar.close()
    values = torch.cat(values)
    if world > 1:
        values = torch.cat([v.to(device) for v in distributed.gather_objects(values.cpu())])
    return SampleBank(values, store.result() if store else None, sharded and world > 1)


class _Store:
    """[rows, features] float32 written batch by batch: a tensor on `device`, or a .npy memmap."""

    def __init__(self, rows: int, features: int, device: torch.device, directory, memory_budget, rank: int):
        nbytes = rows * features * 4
        self.path = None
        if nbytes <= (_half_free_memory(device) if memory_budget is None else memory_budget):
            self.tensor = torch.empty(rows, features, device=device)
            return
        if directory is None:
            directory = tempfile.mkdtemp(prefix="omasgan-bank-")
            warnings.warn(f"the score bank ({nbytes / 1e9:.1f} GB) does not fit in memory; it is written to "
                          f"{directory} (delete it when done, or pass a directory)", stacklevel=4)
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.path = str(Path(directory) / f"score_bank_rank{rank}.npy")
        self.array = np.lib.format.open_memmap(self.path, mode="w+", dtype=np.float32, shape=(rows, features))

    def write(self, start: int, rows: torch.Tensor) -> None:
        if self.path is None:
            self.tensor[start : start + len(rows)] = rows
        else:
            self.array[start : start + len(rows)] = rows.float().cpu().numpy()

    def result(self) -> torch.Tensor | str:
        if self.path is None:
            return self.tensor
        self.array.flush()
        del self.array
        return self.path


def _half_free_memory(device: torch.device) -> int:
    """The default budget for a bank: half the free memory of `device` (host RAM for the CPU)."""
    if device.type == "cuda":
        free = torch.cuda.mem_get_info(device)[0]
    else:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return free // 2
