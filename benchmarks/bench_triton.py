"""The Triton kernels on a CUDA GPU against plain torch (and the "cuda" backend where built).

Skipped without a CUDA device, or under TRITON_INTERPRET=1 (that would time the interpreter).
Run on a GPU machine: `.venv/bin/python -m pytest benchmarks/bench_triton.py --benchmark-only`.
Every timed call ends with torch.cuda.synchronize(); the first (warm-up) rounds absorb Triton's
compilation and autotuning. Shapes are those of the CPU benchmarks where they exist.
"""
from __future__ import annotations

import importlib
import os

import pytest
import torch

from conftest import kernel_backends, require_backend
from omasgan import divergences
from omasgan.ops import dispersion, f_divergence_bound, min_distance, pairwise_distance

# f_divergence_bound's torch reference: the composed torch ops, differentiated by autograd
_f_divergence = importlib.import_module("omasgan.ops.f_divergence")

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1",
    reason="needs a CUDA GPU (and TRITON_INTERPRET unset)",
)

D = 784
GPU = kernel_backends("cuda")  # the backends "auto" may pick for CUDA tensors: cuda, triton


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator(device="cuda").manual_seed(0)


def _randn(gen, *shape, requires_grad=False):
    return torch.randn(*shape, device="cuda", generator=gen).requires_grad_(requires_grad)


def _backend(impl: str) -> str:
    require_backend(impl, "cuda")
    return impl


def _backward_step(fn, *leaves):
    def step():
        for t in leaves:
            t.grad = None
        fn().backward()

    return step


# --------------------------------------------------------------------------------- min_distance
@pytest.mark.benchmark(group="gpu min_distance p=2 Q=60000 D=784")
@pytest.mark.parametrize("n", [64, 1024])
@pytest.mark.parametrize("impl", [*GPU, "torch_cdist_min"])
def test_min_distance_p2(gpu_measure, gen, impl, n):
    x, bank = _randn(gen, n, D), _randn(gen, 60000, D)
    if impl == "torch_cdist_min":
        gpu_measure(lambda: torch.cdist(x, bank).min(1))
    else:
        backend = _backend(impl)
        gpu_measure(lambda: min_distance(x, bank, backend=backend))


@pytest.mark.benchmark(group="gpu min_distance p=1,3 N=256 Q=8192 D=784")
@pytest.mark.parametrize("p", [1.0, 3.0])
@pytest.mark.parametrize("impl", [*GPU, "torch_cdist_min"])
def test_min_distance_other_p(gpu_measure, gen, impl, p):
    x, bank = _randn(gen, 256, D), _randn(gen, 8192, D)
    if impl == "torch_cdist_min":
        gpu_measure(lambda: torch.cdist(x, bank, p=p).min(1))
    else:
        backend = _backend(impl)
        gpu_measure(lambda: min_distance(x, bank, p, backend=backend))


@pytest.mark.benchmark(group="gpu min_distance fwd+bwd p=2 N=1024 Q=20000 D=784")
@pytest.mark.parametrize("impl", [*GPU, "torch_cdist_min"])
def test_min_distance_backward(gpu_measure, gen, impl):
    x, bank = _randn(gen, 1024, D, requires_grad=True), _randn(gen, 20000, D)
    if impl == "torch_cdist_min":
        fn = lambda: torch.cdist(x, bank).min(1).values.sum()  # noqa: E731
    else:
        backend = _backend(impl)
        fn = lambda: min_distance(x, bank, backend=backend)[0].sum()  # noqa: E731
    gpu_measure(_backward_step(fn, x))


# ---------------------------------------------------------------------------- pairwise_distance
@pytest.mark.benchmark(group="gpu pairwise_distance fwd+bwd N=M=1024 D=256")
@pytest.mark.parametrize("p", [1.0, 2.0])
@pytest.mark.parametrize("impl", [*GPU, "torch_cdist"])
def test_pairwise_distance(gpu_measure, gen, impl, p):
    x, y = _randn(gen, 1024, 256, requires_grad=True), _randn(gen, 1024, 256, requires_grad=True)
    if impl == "torch_cdist":
        fn = lambda: torch.cdist(x, y, p=p).sum()  # noqa: E731
    else:
        backend = _backend(impl)
        fn = lambda: pairwise_distance(x, y, p, backend=backend).sum()  # noqa: E731
    gpu_measure(_backward_step(fn, x, y))


# ----------------------------------------------------------------------------------- dispersion
@pytest.mark.benchmark(group="gpu dispersion fwd+bwd p=2 N=256 Dz=128 Db=3072")
@pytest.mark.parametrize("impl", [*GPU, "torch_cdist"])
def test_dispersion(gpu_measure, gen, impl):
    z, b = _randn(gen, 256, 128, requires_grad=True), _randn(gen, 256, 3072, requires_grad=True)
    off_diagonal = ~torch.eye(256, dtype=torch.bool, device="cuda")
    if impl == "torch_cdist":
        fn = lambda: (torch.cdist(z, z) / (1e-8 + torch.cdist(b, b)))[off_diagonal].mean()  # noqa: E731
    else:
        backend = _backend(impl)
        fn = lambda: dispersion(z, b, backend=backend)  # noqa: E731
    gpu_measure(_backward_step(fn, z, b))


# ---------------------------------------------------------------------------- f_divergence_bound
@pytest.mark.benchmark(group="gpu f_divergence_bound fwd+bwd 1e7")
@pytest.mark.parametrize("divergence", ["pearson", "gan"])
@pytest.mark.parametrize("impl", [*GPU, "torch_composed"])
def test_f_divergence_bound(gpu_measure, gen, impl, divergence):
    v_p, v_q = _randn(gen, 10**7, requires_grad=True), _randn(gen, 10**7, requires_grad=True)
    if impl == "torch_composed":
        code = divergences.get(divergence).code
        fn = lambda: _f_divergence.reference(v_p, v_q, code)  # noqa: E731
    else:
        backend = _backend(impl)
        fn = lambda: f_divergence_bound(v_p, v_q, divergence, backend=backend)  # noqa: E731
    gpu_measure(_backward_step(fn, v_p, v_q))
