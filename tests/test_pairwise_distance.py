import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from omasgan import ops
from tests import oracle

PS = [1.0, 1.5, 2.0, 3.0, math.inf]
QS = [0.5, 1.0, 2.0]


@settings(max_examples=15)
@given(
    n=st.integers(0, 8), m=st.integers(1, 12), d=st.integers(1, 20),
    p=st.sampled_from(PS), q=st.sampled_from(QS), dtype=st.sampled_from([torch.float32, torch.float64]),
    seed=st.integers(0, 2**16),
)
def test_matches_float64_oracle(backend, n, m, d, p, q, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, d, generator=g, dtype=dtype), torch.randn(m, d, generator=g, dtype=dtype)
    got = ops.pairwise_distance(x, y, p, q, backend=backend)
    t = 1e-9 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(got.double(), oracle.pairwise(x, y, p, q), rtol=t, atol=t)


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("q", QS)
def test_gradcheck(backend, p, q):
    x = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    y = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: ops.pairwise_distance(x, y, p, q, backend=backend), (x, y))


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("q", QS)
def test_duplicates_have_zero_distance_and_finite_gradients(backend, p, q):
    x = torch.randn(5, 7, requires_grad=True)
    d = ops.pairwise_distance(x, x, p, q, backend=backend)
    assert (d.diagonal() == 0).all()
    d.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_larger_shapes_and_strides(backend):
    x = torch.randn(64, 40)[::2]
    y = torch.randn(50, 80)[:, ::2]
    for p in PS:
        got = ops.pairwise_distance(x, y, p, backend=backend)
        torch.testing.assert_close(got.double(), oracle.pairwise(x, y, p, 1.0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs(backend, dtype):
    x, y = torch.randn(4, 8).to(dtype), torch.randn(3, 8).to(dtype)
    got = ops.pairwise_distance(x, y, backend=backend)
    assert got.dtype == dtype
    torch.testing.assert_close(got.double(), oracle.pairwise(x, y, 2.0, 1.0), rtol=3e-2, atol=3e-2)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="same number of features"):
        ops.pairwise_distance(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="y contains NaN"):
        ops.pairwise_distance(torch.zeros(2, 3), torch.full((2, 3), float("nan")))


# ------- values beyond float32's squares, eps, NaN: right wherever the true value is representable
@pytest.mark.parametrize("p", [2.0, 3.0])
def test_pairwise_distance_beyond_float32_squares(backend, p):
    x = torch.tensor([[1e20, 0.0]])
    y = torch.tensor([[0.0, 0.0], [1.1e20, 0.0], [5e19, 0.0]])
    got = ops.pairwise_distance(x, y, p, backend=backend)
    torch.testing.assert_close(got.double(), torch.tensor([[1e20, 1e19, 5e19]], dtype=torch.float64), rtol=1e-6, atol=0)
