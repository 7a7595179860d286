"""The "cuda" backend (omasgan._C *_cuda) on a GPU against torch.cdist + min, where the kernels differ most.

bench_triton.py already times every op on the cuda, triton and torch backends at the CPU benchmarks'
shapes; this file adds the min_distance shapes that exercise the CUDA kernel's design: few queries
against a huge bank (the bank split across blocks), many queries against a small bank, float64, a
non-integer p, and the peak memory beyond the inputs (never N x Q).

Skipped without a CUDA device or without the CUDA half of omasgan._C. Run on a GPU machine:
`.venv/bin/python -m pytest benchmarks/bench_cuda.py --benchmark-only`.
"""
from __future__ import annotations

import pytest
import torch

from omasgan.ops import available_backends, min_distance

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available() or "cuda" not in available_backends("cuda"),
    reason="needs a CUDA GPU and omasgan._C built with its CUDA half",
)

# (N, Q, D): few queries, huge bank / MNIST-sized queries against the training set / many queries, small D
SHAPES = [(64, 500_000, 784), (1024, 60_000, 784), (16_384, 60_000, 64)]


def _inputs(n, q, d, dtype=torch.float32):
    gen = torch.Generator(device="cuda").manual_seed(0)
    return (torch.randn(n, d, device="cuda", dtype=dtype, generator=gen),
            torch.randn(q, d, device="cuda", dtype=dtype, generator=gen))


def _implementation(impl: str, x: torch.Tensor, bank: torch.Tensor, p: float):
    if impl == "cuda":
        return lambda: min_distance(x, bank, p, backend="cuda")
    return lambda: torch.cdist(x, bank, p=p).min(1)


@pytest.mark.parametrize("impl", ["cuda", "torch_cdist_min"])
@pytest.mark.parametrize("n, q, d", SHAPES, ids=[f"N{n}-Q{q}-D{d}" for n, q, d in SHAPES])
def test_min_distance_p2_float32(gpu_measure, impl, n, q, d):
    x, bank = _inputs(n, q, d)
    gpu_measure(_implementation(impl, x, bank, 2.0))


@pytest.mark.parametrize("impl", ["cuda", "torch_cdist_min"])
def test_min_distance_p2_float64(gpu_measure, impl):
    x, bank = _inputs(1024, 60_000, 784, torch.float64)
    gpu_measure(_implementation(impl, x, bank, 2.0))


@pytest.mark.parametrize("impl", ["cuda", "torch_cdist_min"])
@pytest.mark.parametrize("p", [1.0, 1.5, 3.0, float("inf")])
def test_min_distance_other_p(gpu_measure, impl, p):
    x, bank = _inputs(256, 8192, 784)
    gpu_measure(_implementation(impl, x, bank, p))


def test_min_distance_peak_memory_is_linear():
    """Peak extra memory of the cuda backend stays O(N + Q), far below one N x Q float32 matrix."""
    n, q, d = 4096, 200_000, 64
    x, bank = _inputs(n, q, d)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    values, indices = min_distance(x, bank, backend="cuda")
    torch.cuda.synchronize()
    extra = torch.cuda.max_memory_allocated() - base
    assert extra < n * q * 4 / 50, f"{extra / 2**20:.1f} MiB beyond the inputs"
    rows = torch.arange(0, n, 97, device="cuda")
    expect = torch.cdist(x[rows], bank).min(1)
    torch.testing.assert_close(values[rows], expect.values, rtol=1e-4, atol=1e-4)
