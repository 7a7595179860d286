"""Bad input and extreme values for the ops, on every backend: a clear error or a right answer.

The rule checked: a result is right wherever its true value is representable in the dtype (here
float32, against the float64 oracle), and the backends agree. Magnitudes run from 1e-30 to 1e30,
with zero distances, ties, empty inputs, NaN and non-contiguous inputs.

One documented limit (omasgan/ops/_common.py, "Numerics"): min_distance ranks with one common
power-of-two scale for x and bank, so within one call magnitudes should not span more than about
2^(126/p); the draws here use one magnitude per call for min_distance, and mixed magnitudes for the
ops that have no ranking (pairwise_distance, dispersion).
"""
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from omasgan import ops
from tests import oracle

PS = [1.0, 1.5, 2.0, 3.0, math.inf]
QS = [0.5, 1.0, 2.0]
SCALES = [1e-30, 1e-20, 1e-10, 1.0, 1e10, 1e20, 1e30]
F32 = torch.finfo(torch.float32)


def representable(expect: torch.Tensor) -> torch.Tensor:
    """Where a float64 value is a normal float32 number (or exactly 0): the entries to compare."""
    a = expect.abs()
    return (a == 0) | ((a >= F32.tiny) & (a <= F32.max))


def assert_matches_oracle(got, expect, rtol=1e-4):
    """got (float32) equals expect (float64) wherever expect is representable in float32."""
    got, expect = got.double(), expect.double()
    mask = representable(expect)
    assert torch.isfinite(got[mask]).all(), (got[mask], expect[mask])
    torch.testing.assert_close(got[mask], expect[mask], rtol=rtol, atol=0)
    # beyond float32's range the value overflows to inf (never NaN), below it goes to 0 or a subnormal
    assert not torch.isnan(got).any()
    big = expect.abs() > F32.max
    assert torch.isinf(got[big]).all()


def draw_rows(n, d, scale, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=g, dtype=torch.float64) * scale).to(dtype)


# ---------------------------------------------------------------------------- hypothesis suite
@settings(max_examples=25)
@given(
    n=st.integers(1, 6), m=st.integers(1, 9), d=st.integers(1, 12),
    p=st.sampled_from(PS), q=st.sampled_from(QS),
    x_scale=st.sampled_from(SCALES), y_scale=st.sampled_from(SCALES),
    duplicate=st.booleans(), seed=st.integers(0, 2**16),
)
def test_pairwise_distance_any_magnitude(backend, n, m, d, p, q, x_scale, y_scale, duplicate, seed):
    x, y = draw_rows(n, d, x_scale, seed), draw_rows(m, d, y_scale, seed + 1)
    if duplicate:
        y[0] = x[0]  # a zero distance
    got = ops.pairwise_distance(x, y, p, q, backend=backend)
    assert_matches_oracle(got, oracle.pairwise(x, y, p, q))
    if backend != "torch":
        torch.testing.assert_close(got, ops.pairwise_distance(x, y, p, q, backend="torch"), rtol=1e-4, atol=0)


@settings(max_examples=25)
@given(
    n=st.integers(1, 6), nq=st.integers(1, 40), d=st.integers(1, 12),
    p=st.sampled_from(PS), q=st.sampled_from(QS), scale=st.sampled_from(SCALES),
    duplicate=st.booleans(), seed=st.integers(0, 2**16),
)
def test_min_distance_any_magnitude(backend, n, nq, d, p, q, scale, duplicate, seed):
    x, bank = draw_rows(n, d, scale, seed), draw_rows(nq, d, scale, seed + 1)
    if duplicate:
        bank[nq // 2] = x[0]
    values, indices = ops.min_distance(x, bank, p, q, backend=backend)
    full = oracle.pairwise(x, bank, p, q)
    expect = full.min(dim=1).values
    assert_matches_oracle(values, expect)
    # the index is a true minimiser (float32 near-ties may pick either)
    picked = full.gather(1, indices[:, None]).squeeze(1)
    assert_matches_oracle(picked.float(), expect)
    if duplicate:
        assert values[0] == 0
    if backend != "torch":
        torch.testing.assert_close(values, ops.min_distance(x, bank, p, q, backend="torch")[0], rtol=1e-4, atol=0)


@settings(max_examples=15)
@given(
    n=st.integers(2, 7), dz=st.integers(1, 5), db=st.integers(1, 10),
    p=st.sampled_from(PS), q=st.sampled_from(QS),
    z_scale=st.sampled_from(SCALES), b_scale=st.sampled_from(SCALES),
    coincident=st.booleans(), seed=st.integers(0, 2**16),
)
def test_dispersion_any_magnitude(backend, n, dz, db, p, q, z_scale, b_scale, coincident, seed):
    z, b = draw_rows(n, dz, z_scale, seed), draw_rows(n, db, b_scale, seed + 1)
    if coincident:
        b[1] = b[0]
    got = ops.dispersion(z, b, p, q, backend=backend)
    assert_matches_oracle(got, oracle.dispersion(z, b, p, q, 1e-8))
    if backend != "torch":
        expect = ops.dispersion(z, b, p, q, backend="torch")
        if torch.isfinite(expect):
            torch.testing.assert_close(got, expect, rtol=1e-4, atol=0)


@settings(max_examples=15)
@given(
    n=st.integers(1, 5), nq=st.integers(1, 20), d=st.integers(1, 8),
    q=st.sampled_from(QS), scale=st.sampled_from(SCALES), seed=st.integers(0, 2**16),
)
def test_min_distance_gradient_any_magnitude(backend, n, nq, d, q, scale, seed):
    """d ||x - b||^q / dx = q ||u||^(q-1) u / ||u|| (p = 2), against float64, where representable."""
    x, bank = draw_rows(n, d, scale, seed), draw_rows(nq, d, scale, seed + 1)
    x.requires_grad_()
    values, indices = ops.min_distance(x, bank, 2.0, q, backend=backend)
    values.sum().backward()
    u = x.detach().double() - bank.double()[indices]
    norm = u.norm(dim=1, keepdim=True)
    expect = q * norm.pow(q - 1) * u / norm
    assert_matches_oracle(x.grad, expect, rtol=1e-3)


@pytest.mark.parametrize("scale", [1e-30, 1e-20, 1.0, 1e20, 1e30])
def test_pairwise_gradient_p2_any_magnitude(backend, scale):
    x, y = draw_rows(3, 4, scale, 5).requires_grad_(), draw_rows(4, 4, scale, 6).requires_grad_()
    ops.pairwise_distance(x, y, backend=backend).sum().backward()
    u = x.detach().double()[:, None, :] - y.detach().double()[None, :, :]
    unit = u / u.norm(dim=2, keepdim=True)
    assert_matches_oracle(x.grad, unit.sum(1), rtol=1e-3)
    assert_matches_oracle(y.grad, -unit.sum(0), rtol=1e-3)


@pytest.mark.parametrize("scale", [1e-30, 1e-10, 1.0, 1e10, 1e30])
def test_dispersion_gradient_p2_moderate_and_extreme(backend, scale):
    """Gradients of dispersion at extreme magnitudes, against float64 autograd of the oracle,
    wherever the float64 gradient is a normal float32 number."""
    z, b = draw_rows(5, 3, 1.0, 7), draw_rows(5, 4, scale, 8)
    z.requires_grad_(), b.requires_grad_()
    ops.dispersion(z, b, backend=backend).backward()
    z64, b64 = z.detach().double().requires_grad_(), b.detach().double().requires_grad_()
    expect = torch.autograd.grad(ops.dispersion(z64, b64, backend="torch"), (z64, b64))
    assert_matches_oracle(z.grad, expect[0], rtol=1e-3)
    assert_matches_oracle(b.grad, expect[1], rtol=1e-3)


# --------------------------------------------------------------------------- ties, zero, empty
@pytest.mark.parametrize("scale", [1e-30, 1.0, 1e30])
@pytest.mark.parametrize("p", PS)
def test_ties_and_zero_distances_at_any_scale(backend, scale, p):
    bank = torch.tensor([[3.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]) * scale
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0]]) * scale
    values, indices = ops.min_distance(x, bank, p, backend=backend)
    assert indices.tolist() == [1, 1]  # equidistant rows 1, 2, 4; duplicated rows 1 and 3
    assert values[1] == 0
    torch.testing.assert_close(values[0].double(), torch.tensor(scale, dtype=torch.float64), rtol=1e-5, atol=0)


def test_empty_inputs(backend):
    x = torch.zeros(0, 3)
    values, indices = ops.min_distance(x, torch.randn(4, 3), backend=backend)
    assert values.shape == (0,) and indices.shape == (0,)
    assert ops.pairwise_distance(x, torch.randn(4, 3), backend=backend).shape == (0, 4)
    assert ops.pairwise_distance(torch.randn(4, 3), x, backend=backend).shape == (4, 0)
    with pytest.raises(ValueError, match="bank must hold at least one sample"):
        ops.min_distance(torch.randn(2, 3), x, backend=backend)
    for n in (0, 1):
        with pytest.raises(ValueError, match="z and b must hold at least 2 rows"):
            ops.dispersion(torch.zeros(n, 2), torch.zeros(n, 3), backend=backend)
    with pytest.raises(ValueError, match="v_q must hold at least one"):
        ops.f_divergence_bound(torch.randn(3), torch.zeros(0), backend=backend)


def test_two_samples_is_the_smallest_dispersion(backend):
    z, b = torch.tensor([[0.0], [3.0]]), torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    torch.testing.assert_close(ops.dispersion(z, b, backend=backend), torch.tensor(3.0 / (1e-8 + 5.0)))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda be: ops.min_distance(torch.tensor([[math.nan, 1.0]]), torch.zeros(3, 2), backend=be), "x contains NaN"),
        (lambda be: ops.min_distance(torch.zeros(1, 2), torch.tensor([[1e30, math.nan]]), backend=be), "bank contains NaN"),
        (lambda be: ops.pairwise_distance(torch.tensor([[math.inf]]), torch.zeros(2, 1), backend=be), "x contains NaN or inf"),
        (lambda be: ops.dispersion(torch.zeros(3, 1), torch.full((3, 2), math.nan), backend=be), "b contains NaN"),
        (lambda be: ops.f_divergence_bound(torch.tensor([math.nan]), torch.zeros(2), backend=be), "v_p contains NaN"),
        (lambda be: ops.f_divergence_score(torch.tensor([math.nan]), torch.zeros(2)), "v_query contains NaN"),
    ],
)
def test_nan_and_inf_inputs_are_refused_by_name(backend, call, match):
    with pytest.raises(ValueError, match=match):
        call(backend)


@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_non_contiguous_extreme_inputs(backend, scale):
    base = draw_rows(20, 12, scale, 9)
    x = base.t()[:, ::2]                           # [12, 10], non-contiguous
    bank = draw_rows(40, 20, scale, 10)[:, ::2]    # [40, 10], strided
    got = ops.min_distance(x, bank, backend=backend)
    expect = ops.min_distance(x.contiguous(), bank.contiguous(), backend="torch")
    torch.testing.assert_close(got[0], expect[0], rtol=1e-5, atol=0)
    assert torch.equal(got[1], expect[1])
    torch.testing.assert_close(ops.pairwise_distance(x, bank, backend=backend),
                               ops.pairwise_distance(x.contiguous(), bank.contiguous(), backend="torch"), rtol=1e-5, atol=0)
    z, b = x[:6], bank[:6]
    assert_matches_oracle(ops.dispersion(z, b, backend=backend), oracle.dispersion(z, b, 2.0, 1.0, 1e-8))
