"""Streamed banks against the in-memory op: what streaming from host memory or a memmap costs.

    .venv/bin/python -m pytest benchmarks/bench_streaming.py --benchmark-only

The flat-memory table over Q = 1e4 .. 1e7 comes from benchmarks/streaming_memory.py.
"""
import numpy as np
import pytest
import torch

from omasgan import ops

N, Q, D = 64, 1 << 15, 784


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    rng = np.random.default_rng(0)
    bank = rng.random((Q, D), dtype=np.float32)
    path = tmp_path_factory.mktemp("bank") / "bank.npy"
    np.save(path, bank)
    x = torch.from_numpy(rng.random((N, D), dtype=np.float32))
    return x, bank, path


@pytest.mark.parametrize("kind", ["in-memory tensor", "numpy array", "memmap .npy", "iterable of chunks"])
def test_min_distance_bank_kinds(benchmark, problem, kind):
    x, bank, path = problem
    make_bank = {
        "in-memory tensor": lambda: torch.from_numpy(bank),
        "numpy array": lambda: bank,
        "memmap .npy": lambda: path,
        "iterable of chunks": lambda: (torch.from_numpy(bank[s : s + 4096]) for s in range(0, Q, 4096)),
    }[kind]
    benchmark.extra_info["pairs"] = N * Q
    benchmark.pedantic(lambda: ops.min_distance(x, make_bank()), rounds=3, warmup_rounds=1)
