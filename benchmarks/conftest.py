"""Shared set-up of the benchmarks: seeded inputs, few CPU rounds (the machine has 2 cores), GPU timing.

Run: `make bench`, or `.venv/bin/python -m pytest benchmarks -q --benchmark-only` (add `-k p2` etc.).
$OMASGAN_BENCH_ROUNDS sets the rounds per case (default 3). Medians and ratios: RESULTS.md.
"""
from __future__ import annotations

import os

import pytest
import torch

ROUNDS = int(os.environ.get("OMASGAN_BENCH_ROUNDS", "3"))


@pytest.fixture
def rng() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture
def measure(benchmark):
    """measure(fn): time fn() over ROUNDS rounds after one warm-up round; returns fn's result."""

    def run(fn):
        return benchmark.pedantic(fn, rounds=ROUNDS, warmup_rounds=1, iterations=1)

    return run


@pytest.fixture
def gpu_measure(benchmark):
    """gpu_measure(fn): time fn() to completion on the device (synchronised), more rounds than on CPU."""

    def run(fn):
        def synced():
            out = fn()
            torch.cuda.synchronize()
            return out

        return benchmark.pedantic(synced, rounds=max(ROUNDS, 20), warmup_rounds=3, iterations=1)

    return run


def require_cpu_extension() -> None:
    from omasgan.ops import available_backends

    if "cpu" not in available_backends("cpu"):
        pytest.skip("omasgan._C is not built: no cpu backend to benchmark")
