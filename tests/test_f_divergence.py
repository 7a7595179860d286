import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from omasgan import divergences, ops
from omasgan.ops.f_divergence import reference as f_divergence_reference

NAMES = divergences.NAMES


def composed(v_p, v_q, name):
    div = divergences.get(name)
    return div.g(v_p).mean() - div.fstar_g(v_q).mean()


@settings(max_examples=10)
@given(
    n_p=st.integers(1, 300), n_q=st.integers(1, 300), name=st.sampled_from(NAMES),
    scale=st.sampled_from([0.1, 1.0, 5.0]), upstream=st.sampled_from([1.0, -2.5, 0.0]), seed=st.integers(0, 2**16),
)
def test_value_and_gradients_match_composed_float64(backend, n_p, n_q, name, scale, upstream, seed):
    g = torch.Generator().manual_seed(seed)
    v_p = (torch.randn(n_p, generator=g, dtype=torch.float64) * scale).requires_grad_()
    v_q = (torch.randn(n_q, generator=g, dtype=torch.float64) * scale).requires_grad_()
    upstream = torch.tensor(upstream, dtype=torch.float64)
    got = ops.f_divergence_bound(v_p, v_q, name, backend=backend)
    got_grads = torch.autograd.grad(got, (v_p, v_q), upstream)
    expect = composed(v_p, v_q, name)
    expect_grads = torch.autograd.grad(expect, (v_p, v_q), upstream)
    torch.testing.assert_close(got, expect)
    for a, b in zip(got_grads, expect_grads):
        torch.testing.assert_close(a, b)


def test_gradient_reaches_the_side_that_needs_it(backend):
    """The generator's loss detaches the real critic values: only v_q gets a gradient."""
    v_p, v_q = torch.randn(6), torch.randn(4, requires_grad=True)
    (-3.0 * ops.f_divergence_bound(v_p, v_q, "gan", backend=backend)).backward()
    expect_q = torch.autograd.grad(-3.0 * composed(v_p, v_q, "gan"), v_q)[0]
    assert v_p.grad is None
    torch.testing.assert_close(v_q.grad, expect_q)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck(backend, name):
    v_p = torch.randn(9, dtype=torch.float64, requires_grad=True)
    v_q = torch.randn(5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: ops.f_divergence_bound(a, b, name, backend=backend), (v_p, v_q))


@pytest.mark.parametrize("name", NAMES)
def test_stable_for_large_values_in_float32(backend, name):
    v = torch.tensor([-1e4, -80.0, -3.0, 0.0, 3.0, 80.0, 1e4])
    for v_p, v_q in ((v, v.clone()), (v, torch.tensor([-1e4, 0.0])), (torch.tensor([0.5]), v)):
        v_p, v_q = v_p.clone().requires_grad_(), v_q.clone().requires_grad_()
        value = ops.f_divergence_bound(v_p, v_q, name, backend=backend)
        value.backward()
        assert not torch.isnan(v_p.grad).any() and not torch.isnan(v_q.grad).any(), name
        expect = composed(v_p.detach().double(), v_q.detach().double(), name)
        # NaN only where both means overflow to the same infinity (the true value is then -inf
        # or +inf beyond float64 too, and inf - inf is what any evaluation of the bound gives)
        assert not torch.isnan(value) or torch.isnan(expect), name
        if torch.isfinite(expect) and expect.abs() < 1e30:
            torch.testing.assert_close(value.double(), expect, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_dtypes_and_shapes(backend, dtype):
    v_p, v_q = torch.randn(4, 1).to(dtype), torch.randn(3, 2).to(dtype)
    got = ops.f_divergence_bound(v_p, v_q, backend=backend)
    assert got.dtype == dtype and got.shape == ()
    torch.testing.assert_close(got.double(), composed(v_p.double(), v_q.double(), "pearson"), rtol=2e-2, atol=2e-2)


def test_no_grad_path(backend):
    with torch.no_grad():
        v = torch.randn(100)
        torch.testing.assert_close(ops.f_divergence_bound(v, v, "gan", backend=backend), composed(v, v, "gan"))


def test_score_is_bank_mean_minus_query_conjugate():
    v_query, v_bank = torch.randn(7, dtype=torch.float64), torch.randn(50, dtype=torch.float64)
    for name in NAMES:
        div = divergences.get(name)
        got = ops.f_divergence_score(v_query, v_bank, name)
        torch.testing.assert_close(got, div.g(v_bank).mean() - div.fstar_g(v_query))
        assert got.shape == (7,)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: ops.f_divergence_bound(torch.randn(3), torch.randn(3), "hellinger"), ValueError, "divergence must be one of"),
        (lambda: ops.f_divergence_bound(torch.randn(0), torch.randn(3)), ValueError, "v_p must hold at least one"),
        (lambda: ops.f_divergence_bound(torch.randn(3), torch.tensor([float("nan")])), ValueError, "v_q contains NaN"),
        (lambda: ops.f_divergence_bound(torch.arange(3), torch.randn(3)), TypeError, "v_p must be float"),
        (lambda: ops.f_divergence_score(torch.randn(3), torch.randn(0)), ValueError, "v_bank must hold"),
    ],
)
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ------- values beyond float32's squares, eps, NaN: right wherever the true value is representable
def test_pearson_bound_beyond_v_squared(backend):
    """f*(v) = v^2/4 + v: v * v overflows float32 at v = 3e19, the value 2.25e38 does not."""
    v_p, v_q = torch.tensor([1.0, 2.0]), torch.tensor([3e19])
    got = ops.f_divergence_bound(v_p, v_q, "pearson", backend=backend)
    expect = 1.5 - (3e19**2 / 4 + 3e19)
    assert torch.isfinite(got)
    torch.testing.assert_close(got.double(), torch.tensor(expect, dtype=torch.float64), rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    "v_p, v_q, expect",
    [
        ([-1e4, 0.0], [-1e4, 1.0], -math.inf),  # e^1e4 beats 2 e^5e3
        ([-100.0], [-1e3, 0.0], math.inf),      # 2 e^500 / 2 beats e^100
        ([0.0, 1.0], [-1e4], math.inf),         # one side only: finite - (-inf)
    ],
)
def test_neyman_bound_is_an_infinity_not_nan(backend, v_p, v_q, expect):
    got = ops.f_divergence_bound(torch.tensor(v_p), torch.tensor(v_q), "neyman", backend=backend)
    assert got.item() == expect
    code = divergences.get("neyman").code
    assert f_divergence_reference(torch.tensor(v_p), torch.tensor(v_q), code).item() == expect


def test_neyman_score_is_an_infinity_not_nan():
    v_bank = torch.tensor([-1e4, 0.0])
    got = ops.f_divergence_score(torch.tensor([-1e4, 0.0, -3e4]), v_bank, "neyman")
    # bank mean -e^1e4 / 2; query term -2 e^(-v/2): e^5e3 loses, e^1.5e4 wins
    assert got.tolist() == [-math.inf, -math.inf, math.inf]
