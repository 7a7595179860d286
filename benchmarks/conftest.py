"""Shared set-up of the benchmarks: seeded inputs, few CPU rounds (the machine has 2 cores), GPU timing.

Run: `make bench`, or `.venv/bin/python -m pytest benchmarks -q --benchmark-only` (add `-k p2` etc.).
$OMASGAN_BENCH_ROUNDS sets the rounds per case (default 3). Medians and ratios: RESULTS.md.
"""
from __future__ import annotations

import importlib
import os

import pytest
import torch

from omasgan.ops import _common as _ops

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
    require_backend("cpu")


# ------------------------------------------------------------------------- which backends to time
# Read from the backend table (omasgan.ops._common.REGISTRY): a benchmark on a device type times the
# backends "auto" may pick there ("cpu" on CPU; "cuda", "triton" on CUDA), so a new backend is timed
# without editing the benchmarks. On CPU their ids are "omasgan_<backend>" (the public op) and
# "omasgan_<backend>_kernel" (its bare kernel), as in the saved baselines.
def kernel_backends(device_type: str) -> list[str]:
    """The backends a benchmark on `device_type` times (whether or not this process has them)."""
    return list(_ops.auto_preference(device_type))


def ours(device_type: str = "cpu", *, kernel: bool = False) -> list[str]:
    """Benchmark ids of omasgan's backends on `device_type`: omasgan_<b>, and omasgan_<b>_kernel with kernel=True."""
    names = [f"omasgan_{b}" for b in kernel_backends(device_type)]
    return names + [f"{n}_kernel" for n in names] if kernel else names


def backend_of(impl: str, device_type: str = "cpu") -> str:
    """omasgan_<b> or omasgan_<b>_kernel -> b, skipping the benchmark where b is not available here."""
    backend = impl.removeprefix("omasgan_").removesuffix("_kernel")
    require_backend(backend, device_type)
    return backend


def require_backend(backend: str, device_type: str = "cpu") -> None:
    have = _ops.available_backends(device_type)
    if backend not in have:
        pytest.skip(f"no {backend} backend to benchmark on {device_type}: it needs {_ops.REGISTRY[backend].needs} "
                    f"(available: {have})")


def bare_kernel(op_module: str, backend: str):
    """What omasgan.ops.<op_module> calls on `backend` (its KernelTable entry), without the op's checks."""
    return importlib.import_module(f"omasgan.ops.{op_module}").KERNELS(backend)
