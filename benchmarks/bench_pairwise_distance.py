"""pairwise_distance forward + backward on the CPU against torch.cdist, N=M=512, D=784.

No target; recorded so a regression shows.
"""
from __future__ import annotations

import pytest
import torch

from conftest import backend_of, ours
from omasgan.ops import pairwise_distance


@pytest.mark.benchmark(group="pairwise_distance fwd+bwd N=M=512 D=784")
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("impl", [*ours("cpu"), "torch_cdist"])
def test_forward_backward(measure, rng, impl, p):
    x = torch.randn(512, 784, generator=rng, requires_grad=True)
    y = torch.randn(512, 784, generator=rng, requires_grad=True)
    if impl.startswith("omasgan_"):
        backend = backend_of(impl)
        fn = lambda: pairwise_distance(x, y, p=p, backend=backend)  # noqa: E731
    else:
        fn = lambda: torch.cdist(x, y, p=p)  # noqa: E731

    def step():
        x.grad = y.grad = None
        fn().sum().backward()

    measure(step)
