import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from omasgan import ops
from tests import oracle

PS = [1.0, 1.5, 2.0, 3.0, math.inf]
QS = [0.5, 1.0, 2.0]


@settings(max_examples=12)
@given(
    n=st.integers(2, 9), dz=st.integers(1, 6), db=st.integers(1, 20),
    p=st.sampled_from(PS), q=st.sampled_from(QS), dtype=st.sampled_from([torch.float32, torch.float64]),
    seed=st.integers(0, 2**16),
)
def test_matches_float64_oracle(backend, n, dz, db, p, q, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    z, b = torch.randn(n, dz, generator=g, dtype=dtype), torch.randn(n, db, generator=g, dtype=dtype)
    got = ops.dispersion(z, b, p, q, backend=backend)
    t = 1e-9 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(got.double(), oracle.dispersion(z, b, p, q, 1e-8), rtol=t, atol=t)


def test_averages_all_rows_not_the_first(backend):
    """The reference code kept only row 0 of the mean; here every row counts."""
    z = torch.randn(6, 3, dtype=torch.float64)
    b = torch.randn(6, 10, dtype=torch.float64)
    b[1:] *= 5  # row 0's ratios now differ from the others'
    dz, db = oracle.pairwise(z, z, 2, 1), oracle.pairwise(b, b, 2, 1)
    first_row_only = (dz[0, 1:] / (1e-8 + db[0, 1:])).mean()
    got = ops.dispersion(z, b, backend=backend)
    torch.testing.assert_close(got, oracle.dispersion(z, b, 2, 1, 1e-8))
    assert not torch.isclose(got, first_row_only)


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("q", QS)
def test_gradcheck(backend, p, q):
    z = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z, b: ops.dispersion(z, b, p, q, backend=backend), (z, b))


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("q", QS)
def test_coincident_samples_stay_finite(backend, p, q):
    z = torch.randn(4, 2, requires_grad=True)
    b = torch.randn(4, 8)
    b[2] = b[1]
    b.requires_grad_()
    s = ops.dispersion(z, b, p, q, eps=1e-3, backend=backend)
    s.backward()
    assert torch.isfinite(s) and torch.isfinite(b.grad).all() and torch.isfinite(z.grad).all()


def test_larger_batch_non_contiguous(backend):
    z = torch.randn(16, 40)[:, ::4]
    b = torch.randn(70, 33).t()[:, :48]  # [33, 48] -> take 16 rows below
    b = b[:16]
    for p in PS:
        got = ops.dispersion(z, b, p, backend=backend)
        torch.testing.assert_close(got.double(), oracle.dispersion(z, b, p, 1.0, 1e-8), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs(backend, dtype):
    z, b = torch.randn(5, 2).to(dtype), torch.randn(5, 8).to(dtype)
    got = ops.dispersion(z, b, backend=backend)
    assert got.dtype == dtype
    torch.testing.assert_close(got.double(), oracle.dispersion(z, b, 2, 1, 1e-8), rtol=3e-2, atol=3e-2)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="at least 2 rows"):
        ops.dispersion(torch.zeros(1, 2), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="same number of rows"):
        ops.dispersion(torch.zeros(3, 2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="eps must be"):
        ops.dispersion(torch.zeros(3, 2), torch.zeros(3, 3), eps=0.0)


def test_gradients_of_rows_far_from_the_origin_float32(backend):
    """Rows offset by 1e3 with unit spread: a Gram-matrix shortcut without centring would lose
    every digit of the distances in float32. Expected: the float64 torch reference (the oracle's
    own autograd is NaN at its zero-distance diagonal)."""
    g = torch.Generator().manual_seed(3)
    z = torch.randn(40, 4, generator=g) + 1e3
    b = torch.randn(40, 30, generator=g) - 1e3
    z64, b64 = z.double().requires_grad_(), b.double().requires_grad_()
    expect = torch.autograd.grad(ops.dispersion(z64, b64, backend="torch"), (z64, b64))
    z, b = z.requires_grad_(), b.requires_grad_()
    got = torch.autograd.grad(ops.dispersion(z, b, backend=backend), (z, b))
    for a, e in zip(got, expect):
        torch.testing.assert_close(a.double(), e, rtol=1e-3, atol=1e-3 * e.abs().max().item())


# ------- values beyond float32's squares, eps, NaN: right wherever the true value is representable
def test_dispersion_rows_near_1e20_agree_with_torch(backend):
    """Rows near 1e20: the CPU Gram form gave NaN where the torch backend gave the true value."""
    g = torch.Generator().manual_seed(1)
    for z, b in [
        (torch.randn(6, 3, generator=g) + 1e20, torch.randn(6, 5, generator=g) * 1e12 + 1e20),
        (torch.randn(6, 3, generator=g) * 1e20, torch.randn(6, 5, generator=g) * 1e20),
    ]:
        got = ops.dispersion(z, b, backend=backend)
        expect = oracle.dispersion(z, b, 2.0, 1.0, 1e-8)
        assert torch.isfinite(got)
        torch.testing.assert_close(got.double(), expect, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(got, ops.dispersion(z, b, backend="torch"), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("eps", [1e-8, 1e-20, 1e-50])
def test_dispersion_eps_does_not_underflow_in_float32(backend, eps):
    """eps = 1e-50 is 0 in float32 (and eps^2 underflows from 1e-20 on): the coincident pairs and
    the diagonal must still give finite values and gradients."""
    g = torch.Generator().manual_seed(2)
    z = torch.randn(5, 2, generator=g)
    b = torch.randn(5, 3, generator=g)
    z[3] = z[1]
    b[3] = b[1]  # a pair coincident in z and in b: 0 / (eps + 0) = 0
    z, b = z.requires_grad_(), b.requires_grad_()
    s = ops.dispersion(z, b, eps=eps, backend=backend)
    expect = oracle.dispersion(z.detach(), b.detach(), 2.0, 1.0, eps)
    torch.testing.assert_close(s.double(), expect, rtol=1e-4, atol=0)
    s.backward()
    assert torch.isfinite(z.grad).all() and torch.isfinite(b.grad).all()
