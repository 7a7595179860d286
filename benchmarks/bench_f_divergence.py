"""f_divergence_bound forward + backward on the CPU, 10^7 critic values on each side.

Target (the bar the kernel was written to clear): >= 1.5 x faster than the composed torch ops
(mean g(v_p) - mean f*(g(v_q)) of the Divergence's elementwise functions, through autograd).
"""
from __future__ import annotations

import pytest
import torch

from conftest import backend_of, bare_kernel, ours
from omasgan import divergences
from omasgan.ops import f_divergence_bound

SIZE = 10**7


@pytest.mark.benchmark(group="f_divergence_bound fwd+bwd 1e7")
@pytest.mark.parametrize("divergence", ["pearson", "gan", "kl"])
@pytest.mark.parametrize("impl", [*ours("cpu", kernel=True), "torch_composed"])
def test_forward_backward(measure, rng, impl, divergence):
    """omasgan_cpu: the public op with autograd; omasgan_cpu_kernel: its two kernel calls (the bound,
    then both gradients), without the op's argument checks and autograd."""
    v_p = torch.randn(SIZE, generator=rng, requires_grad=True)
    v_q = torch.randn(SIZE, generator=rng, requires_grad=True)
    if impl.startswith("omasgan_") and impl.endswith("_kernel"):
        forward, backward = bare_kernel("f_divergence", backend_of(impl))
        code, one = divergences.get(divergence).code, torch.tensor(1.0)
        a, b = v_p.detach(), v_q.detach()
        measure(lambda: (forward(a, b, code), backward(one, a, b, code)))
        return
    if impl.startswith("omasgan_"):
        backend = backend_of(impl)
        fn = lambda: f_divergence_bound(v_p, v_q, divergence, backend=backend)  # noqa: E731
    else:
        div = divergences.get(divergence)  # the composed form (the bound itself has one implementation, the op)
        fn = lambda: div.g(v_p).mean() - div.fstar_g(v_q).mean()  # noqa: E731

    def step():
        v_p.grad = v_q.grad = None
        fn().backward()

    measure(step)
