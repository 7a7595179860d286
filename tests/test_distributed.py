"""Sharded min_distance over 2 gloo processes equals the single-process op exactly; a dead rank errors."""
import datetime
import multiprocessing
import os
import queue
import socket
import time
import traceback

import numpy as np
import pytest
import torch
import torch.distributed as dist

from omasgan import distributed, ops

WORLD = 2
SPLIT = 60  # rank 0 holds bank[:60], rank 1 bank[60:]


def tied_problem(dtype):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(8, 5, generator=g, dtype=dtype)
    bank = torch.randn(130, 5, generator=g, dtype=dtype)
    bank[70] = bank[4]  # a tie across the shards: rank 0's index 4 must win
    bank[20] = x[1] + 0.5
    bank[100] = x[1] + 0.5  # another, as the global minimum of query 1
    bank[110] = x[2]  # an exact hit on rank 1 only
    bank[111] = x[2]
    return x, bank


def run_ranks(worker, *args, timeout_s=90):
    """Runs worker(rank, *args) in WORLD spawned gloo processes -> {rank: ("ok", result) | ("error", text)}."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_rank_main, args=(worker, rank, port, results, args)) for rank in range(WORLD)]
    for proc in procs:
        proc.start()
    out = {}
    try:
        deadline = time.monotonic() + timeout_s
        while len(out) < WORLD:
            try:
                rank, status, value = results.get(timeout=1.0)
                out[rank] = (status, value)
            except queue.Empty:
                if not any(p.is_alive() for p in procs):
                    break  # the rest died without reporting
                if time.monotonic() > deadline:
                    pytest.fail(f"ranks still running after {timeout_s} s (a hang); reported: {sorted(out)}")
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
    return out


def _rank_main(worker, rank, port, results, args):
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD,
        timeout=datetime.timedelta(seconds=10),
    )
    try:
        results.put((rank, "ok", worker(rank, *args)))
    except Exception as err:
        results.put((rank, "error", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shard(bank, rank, split=SPLIT):
    return bank[:split] if rank == 0 else bank[split:]


def _sharded_cases(rank, tmp_dir):
    """Every case returns numpy arrays; the parent compares them with the single-process op."""
    out = {}
    for dtype in (torch.float32, torch.float64):
        x, bank = tied_problem(dtype)
        for p, q in ((2.0, 1.0), (1.0, 2.0), (float("inf"), 0.5)):
            v, i = distributed.min_distance(x, _shard(bank, rank), p, q)
            out[f"{dtype}-{p}-{q}"] = (v.numpy(), i.numpy())
        v, i = distributed.min_distance(x, _shard(bank, rank, split=bank.shape[0]))  # rank 1: empty shard
        out[f"{dtype}-empty-shard"] = (v.numpy(), i.numpy())
    x, bank = tied_problem(torch.float32)
    path = os.path.join(tmp_dir, f"shard{rank}.npy")
    np.save(path, _shard(bank, rank).numpy())
    v, i = distributed.min_distance(x, path)  # a memory-mapped shard
    out["memmap-shard"] = (v.numpy(), i.numpy())
    xg = x.double().requires_grad_(True)
    v, _ = distributed.min_distance(xg, _shard(bank.double(), rank), 2.0, 2.0)
    out["grad"] = (torch.autograd.grad(v.sum(), xg)[0].numpy(),)
    return out


def test_two_gloo_ranks_equal_single_process(tmp_path):
    got = run_ranks(_sharded_cases, str(tmp_path))
    assert all(status == "ok" for status, _ in got.values()), got
    expected = {}
    for dtype in (torch.float32, torch.float64):
        x, bank = tied_problem(dtype)
        for p, q in ((2.0, 1.0), (1.0, 2.0), (float("inf"), 0.5)):
            expected[f"{dtype}-{p}-{q}"] = ops.min_distance(x, bank, p, q)
        expected[f"{dtype}-empty-shard"] = ops.min_distance(x, bank)
    x, bank = tied_problem(torch.float32)
    expected["memmap-shard"] = ops.min_distance(x, bank)
    xg = x.double().requires_grad_(True)
    expected["grad"] = (torch.autograd.grad(ops.min_distance(xg, bank.double(), 2.0, 2.0)[0].sum(), xg)[0],)
    assert expected["torch.float32-2.0-1.0"][1][1:3].tolist() == [20, 110]
    for rank in range(WORLD):
        cases = got[rank][1]
        assert cases.keys() == expected.keys()
        for name, want in expected.items():
            for have, exact in zip(cases[name], want):
                assert np.array_equal(have, exact.detach().numpy()), f"rank {rank}, case {name}"


def test_single_process_is_the_plain_op():
    x, bank = tied_problem(torch.float32)
    v, i = distributed.min_distance(x, bank)
    ev, ei = ops.min_distance(x, bank)
    assert torch.equal(v, ev) and torch.equal(i, ei)
    with pytest.raises(ValueError, match="not initialised"):
        distributed.min_distance(x, bank, group=object())


def _die_or_score(rank):
    if rank == 1:
        os._exit(3)  # a rank that dies without a word
    x, bank = tied_problem(torch.float32)
    start = time.monotonic()
    try:
        distributed.min_distance(x, bank)
    except RuntimeError as err:
        return f"{time.monotonic() - start:.1f}s {err}"
    return "no error"


def test_a_dead_rank_gives_a_clear_error_not_a_hang():
    got = run_ranks(_die_or_score, timeout_s=60)
    status, message = got[0]
    assert status == "ok" and "another rank died" in message, got
    assert float(message.split("s ", 1)[0]) < 15, message
