import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from omasgan import ops
from tests import oracle

PS = [1.0, 1.5, 2.0, 3.0, math.inf]
QS = [0.5, 1.0, 2.0]


def tol(dtype):
    return {torch.float64: 1e-9, torch.float32: 1e-4, torch.float16: 2e-2, torch.bfloat16: 5e-2}[dtype]


def check_against_oracle(x, bank, p, q, backend):
    values, indices = ops.min_distance(x, bank, p, q, backend=backend)
    full = oracle.pairwise(x, bank, p, q)
    expect = full.min(dim=1).values
    assert values.dtype == x.dtype and indices.dtype == torch.long
    t = tol(x.dtype)
    torch.testing.assert_close(values.double(), expect, rtol=t, atol=t)
    # the returned index must be a true minimiser (near-ties may pick either in float32)
    picked = full.gather(1, indices[:, None]).squeeze(1)
    torch.testing.assert_close(picked, expect, rtol=t, atol=t)


@settings(max_examples=15)
@given(
    n=st.integers(1, 9), nq=st.integers(1, 40), d=st.integers(1, 20),
    p=st.sampled_from(PS), q=st.sampled_from(QS), scale=st.sampled_from([1e-2, 1.0, 30.0]),
    dtype=st.sampled_from([torch.float32, torch.float64]), seed=st.integers(0, 2**16),
)
def test_matches_float64_oracle(backend, n, nq, d, p, q, scale, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=dtype) * scale
    bank = torch.randn(nq, d, generator=g, dtype=dtype) * scale
    check_against_oracle(x, bank, p, q, backend)


@pytest.mark.parametrize("p", PS)
def test_larger_shapes_cross_tile_boundaries(backend, p):
    x, bank = torch.randn(37, 70), torch.randn(300, 70)
    check_against_oracle(x, bank, p, 1.0, backend)


@pytest.mark.parametrize("p", PS)
def test_ties_pick_lowest_index(backend, p):
    bank = torch.tensor([[3.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    # row 0 is equidistant from bank rows 1, 2 and 4; row 1 duplicates rows 1 and 3
    values, indices = ops.min_distance(x, bank, p, 1.0, backend=backend)
    assert indices.tolist()[:2] == [1, 1]
    values, indices = ops.min_distance(x, torch.ones(6, 2), p, 1.0, backend=backend)
    assert indices.tolist() == [0, 0, 0]


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("q", QS)
def test_exact_duplicate_gives_zero_and_finite_gradients(backend, p, q):
    bank = torch.randn(50, 16) * 10
    x = bank[[7, 31]].clone().requires_grad_()
    b = bank.clone().requires_grad_()
    values, indices = ops.min_distance(x, b, p, q, backend=backend)
    assert values.tolist() == [0.0, 0.0] and indices.tolist() == [7, 31]
    values.sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(b.grad).all()


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("q", QS)
def test_gradcheck(backend, p, q):
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    bank = torch.randn(11, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, b: ops.min_distance(x, b, p, q, backend=backend)[0], (x, bank))


def test_backward_touches_only_selected_rows(backend):
    # Q spans several kernel blocks, with grad mode on (worker threads must not record autograd)
    x = torch.randn(3, 8, requires_grad=True)
    bank = torch.randn(600, 8, requires_grad=True)
    values, indices = ops.min_distance(x, bank, backend=backend)
    values.sum().backward()
    untouched = torch.ones(600, dtype=torch.bool)
    untouched[indices] = False
    assert (bank.grad[untouched] == 0).all()


def test_non_contiguous_and_strided(backend):
    base = torch.randn(20, 12)
    x = base.t()[:, ::2]            # [12, 10], non-contiguous
    bank = torch.randn(40, 20)[:, ::2]  # [40, 10], strided
    expect = ops.min_distance(x.contiguous(), bank.contiguous(), backend="torch")
    got = ops.min_distance(x, bank, backend=backend)
    torch.testing.assert_close(got[0], expect[0], rtol=1e-4, atol=1e-4)
    assert torch.equal(got[1], expect[1])


@pytest.mark.parametrize("n, nq", [(1, 1), (1, 17), (9, 1), (0, 5)])
def test_edge_sizes(backend, n, nq):
    x, bank = torch.randn(n, 6), torch.randn(nq, 6)
    values, indices = ops.min_distance(x, bank, backend=backend)
    assert values.shape == (n,) and indices.shape == (n,)
    if n:
        check_against_oracle(x, bank, 2.0, 1.0, backend)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtypes(backend, dtype):
    x, bank = torch.randn(6, 1, 4, 4).to(dtype), torch.randn(30, 1, 4, 4).to(dtype)
    check_against_oracle(x, bank, 2.0, 1.0, backend)
    values, _ = ops.min_distance(x.requires_grad_(), bank, backend=backend)
    values.sum().backward()
    assert x.grad.dtype == dtype


@pytest.mark.parametrize(
    "x, bank, kwargs, error, match",
    [
        (torch.zeros(2, 3), torch.zeros(4, 5), {}, ValueError, "same number of features"),
        (torch.zeros(2, 3), torch.zeros(0, 3), {}, ValueError, "Q = 0"),
        (torch.zeros(2, 3), torch.zeros(4, 3), {"p": 0.5}, ValueError, "p must be"),
        (torch.zeros(2, 3), torch.zeros(4, 3), {"p": float("nan")}, ValueError, "p must be"),
        (torch.zeros(2, 3), torch.zeros(4, 3), {"q": 0.0}, ValueError, "q must be"),
        (torch.zeros(2, 3), torch.zeros(4, 3), {"q": -1.0}, ValueError, "q must be"),
        (torch.tensor([[float("nan"), 0.0]]), torch.zeros(4, 2), {}, ValueError, "x contains NaN"),
        (torch.zeros(1, 2), torch.tensor([[float("inf"), 0.0]]), {}, ValueError, "bank contains NaN or inf"),
        (torch.zeros(2, 3, dtype=torch.long), torch.zeros(4, 3), {}, TypeError, "x must be float"),
        (torch.zeros(2, 3), [[0.0, 0.0, 0.0]], {}, TypeError, "bank chunk 0 must be a torch.Tensor"),
        (torch.zeros(2, 3), torch.zeros(4, 3, device="meta"), {}, ValueError, "one device"),
        (torch.zeros(()), torch.zeros(4, 3), {}, ValueError, "leading sample dimension"),
    ],
)
def test_bad_input_is_named(x, bank, kwargs, error, match):
    with pytest.raises(error, match=match):
        ops.min_distance(x, bank, **kwargs)


def test_zero_features_is_an_error():
    with pytest.raises(ValueError, match="D = 0"):
        ops.min_distance(torch.zeros(2, 0), torch.zeros(3, 0))


def test_cpu_kernel_with_zero_features():
    """The op refuses D = 0; the raw kernel still answers it (every distance is 0, index 0)
    rather than failing inside the matrix-product library."""
    if "cpu" not in ops.available_backends("cpu"):
        pytest.skip("omasgan._C is not built")
    from omasgan import _C

    for dtype in (torch.float32, torch.float64):
        values, indices = _C.min_distance_cpu(torch.zeros(3, 0, dtype=dtype), torch.zeros(9, 0, dtype=dtype), 2.0, 1.0)
        assert values.tolist() == [0.0] * 3 and indices.tolist() == [0] * 3


# ------- values beyond float32's squares, eps, NaN: right wherever the true value is representable
@pytest.mark.parametrize("p", [2.0, 3.0])
@pytest.mark.parametrize("q", [1.0, 2.0])
def test_min_distance_squared_norms_beyond_float32(backend, p, q):
    """x = [[1e20, 0]]: ||x||^2 = 1e40 overflows float32, the nearest distance 1e19 does not."""
    x = torch.tensor([[1e20, 0.0]])
    bank = torch.tensor([[0.0, 0.0], [1.1e20, 0.0], [5e19, 0.0]])
    values, indices = ops.min_distance(x, bank, p, q, backend=backend)
    assert indices.tolist() == [1]
    torch.testing.assert_close(values.double(), torch.tensor([1e19**q], dtype=torch.float64), rtol=1e-6, atol=0)
