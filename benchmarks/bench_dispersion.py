"""dispersion forward + backward on the CPU, N=256, D=3072 (Dz=128), p=2, q=1.

Target (the bar the kernel was written to clear): >= 3 x faster than the expand-based formulation
(forms N x N x D differences) and no slower than a torch.cdist-based one.
"""
from __future__ import annotations

import pytest
import torch

from conftest import backend_of, ours
from omasgan.ops import dispersion

N, DZ, DB, EPS = 256, 128, 3072, 1e-8


def _off_diagonal_mean(ratio):
    n = ratio.shape[0]
    return (ratio * ~torch.eye(n, dtype=torch.bool)).sum() / (n * (n - 1))


def _expand(z, b):
    dz = (z[:, None, :] - z[None, :, :]).norm(dim=-1)
    db = (b[:, None, :] - b[None, :, :]).norm(dim=-1)
    return _off_diagonal_mean(dz / (EPS + db))


def _cdist(z, b):
    return _off_diagonal_mean(torch.cdist(z, z) / (EPS + torch.cdist(b, b)))


@pytest.mark.benchmark(group="dispersion p=2 fwd+bwd N=256 D=3072")
@pytest.mark.parametrize("impl", [*ours("cpu"), "torch_expand", "torch_cdist"])
def test_forward_backward(measure, rng, impl):
    z = torch.randn(N, DZ, generator=rng, requires_grad=True)
    b = torch.randn(N, DB, generator=rng, requires_grad=True)
    if impl.startswith("omasgan_"):
        backend = backend_of(impl)
        fn = lambda: dispersion(z, b, eps=EPS, backend=backend)  # noqa: E731
    else:
        fn = {"torch_expand": lambda: _expand(z, b), "torch_cdist": lambda: _cdist(z, b)}[impl]

    def step():
        z.grad = b.grad = None
        fn().backward()

    measure(step)
