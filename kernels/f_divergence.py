"""Triton f_divergence_bound: mean g(v_p) - mean f*(g(v_q)), and its backward.

One launch covers both inputs: the first programs take BLOCK-sized pieces of v_p, the others of
v_q. Each evaluates its terms in the stable forms of docs/method.md section 1 (the divergence `code`
is a tl.constexpr, so each program is straight-line code). Forward: each program writes its block's
sum (a tree reduction in registers) to a partial, and torch adds the few partials in float64.
Backward: each program writes its block of both gradients, scaled by the upstream gradient.
Saturating branches (exp of a large value, softplus, tanh) are written so that |v| up to 1e4 in
float32 gives no NaN, only inf where the true value overflows.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from omasgan import divergences
from omasgan.kernels import _lp

BOUND_BLOCK, BOUND_WARPS = 1024, 8

# Divergence codes as tl.constexpr globals for the jitted code, taken from omasgan.divergences (their
# one Python definition; tests/test_op_constants.py checks them against csrc/common/op_constants.h).
KL, REVERSE_KL, PEARSON, NEYMAN, SQUARED_HELLINGER, JENSEN_SHANNON, GAN, TOTAL_VARIATION = (
    tl.constexpr(divergences.get(name).code)
    for name in ("kl", "reverse_kl", "pearson", "neyman", "squared_hellinger", "jensen_shannon", "gan", "total_variation")
)


@triton.jit
def _log1p(x):
    """log(1 + x) for finite x > -1, accurate for tiny x (log(u) x / (u - 1) with u = 1 + x rounded)."""
    u = 1.0 + x
    return tl.where(u == 1.0, x, tl.log(u) * x / tl.where(u == 1.0, 2.0, u - 1.0))


@triton.jit
def _expm1(x):
    """exp(x) - 1, accurate near 0 (Kahan: (u - 1) x / log(u) with u = exp(x) rounded)."""
    u = tl.exp(x)
    regular = (u != 1.0) & (u - 1.0 != -1.0) & (u < float("inf"))
    log_u = tl.log(tl.where(regular, u, 2.0))
    r = (u - 1.0) * x / log_u
    return tl.where(u == 1.0, x, tl.where(regular, r, u - 1.0))


@triton.jit
def _softplus(x):
    return tl.maximum(x, 0.0) + _log1p(tl.exp(-tl.abs(x)))


@triton.jit
def _softplus_minus_log2(x):
    """softplus(x) - log 2. Near 0 the difference cancels: there it is log1p(expm1(x) / 2)."""
    near_zero = x <= 1.0
    small = _log1p(0.5 * _expm1(tl.where(near_zero, x, 0.0)))
    return tl.where(near_zero, small, _softplus(x) - tl.log(tl.full([], 2.0, x.dtype)))


@triton.jit
def _sigmoid(x):
    e = tl.exp(-tl.abs(x))  # in (0, 1]: no overflow either side
    return tl.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@triton.jit
def _half_tanh_and_derivative(x):
    """(tanh(x)/2, (1 - tanh(x)^2)/2) from e = exp(-2|x|), without cancellation."""
    e = tl.exp(-2.0 * tl.abs(x))
    t = -_expm1(-2.0 * tl.abs(x)) / (1.0 + e)
    t = tl.where(x < 0, -t, t)
    return 0.5 * t, 2.0 * e / ((1.0 + e) * (1.0 + e))


@triton.jit
def _g(v, CODE: tl.constexpr):
    """(g(v), g'(v)); CODE is a divergence code (omasgan.divergences._TABLE's index)."""
    if CODE == KL or CODE == PEARSON:  # kl, pearson: g = v
        r, dr = v, tl.full(v.shape, 1.0, v.dtype)
    elif CODE == REVERSE_KL:  # reverse_kl: g = -exp(-v)
        r, dr = -tl.exp(-v), tl.exp(-v)
    elif CODE == NEYMAN or CODE == SQUARED_HELLINGER:  # neyman, squared_hellinger: g = 1 - exp(-v)
        r, dr = -_expm1(-v), tl.exp(-v)
    elif CODE == JENSEN_SHANNON:  # jensen_shannon: g = log 2 - softplus(-v)
        r, dr = -_softplus_minus_log2(-v), _sigmoid(-v)
    elif CODE == GAN:  # gan: g = -softplus(-v)
        r, dr = -_softplus(-v), _sigmoid(-v)
    else:  # total_variation: g = tanh(v)/2
        r, dr = _half_tanh_and_derivative(v)
    return r, dr


@triton.jit
def _fstar_g(v, CODE: tl.constexpr):
    """(f*(g(v)), d f*(g(v)) / dv) in the stable closed forms."""
    if CODE == KL:  # kl: exp(v - 1)
        r = tl.exp(v - 1.0)
        dr = r
    elif CODE == REVERSE_KL:  # reverse_kl: v - 1
        r, dr = v - 1.0, tl.full(v.shape, 1.0, v.dtype)
    elif CODE == PEARSON:  # pearson: v^2/4 + v, as v (v/4 + 1): no overflow of v * v
        r, dr = v * (0.25 * v + 1.0), 0.5 * v + 1.0
    elif CODE == NEYMAN:  # neyman: 2 - 2 exp(-v/2)
        r, dr = -2.0 * _expm1(-0.5 * v), tl.exp(-0.5 * v)
    elif CODE == SQUARED_HELLINGER:  # squared_hellinger: exp(v) - 1
        r, dr = _expm1(v), tl.exp(v)
    elif CODE == JENSEN_SHANNON:  # jensen_shannon: softplus(v) - log 2
        r, dr = _softplus_minus_log2(v), _sigmoid(v)
    elif CODE == GAN:  # gan: softplus(v)
        r, dr = _softplus(v), _sigmoid(v)
    else:  # total_variation: tanh(v)/2
        r, dr = _half_tanh_and_derivative(v)
    return r, dr


@triton.jit
def _bound_kernel(vp_ptr, vq_ptr, partial_ptr, NP, NQ, PROGRAMS_P, CODE: tl.constexpr, BLOCK: tl.constexpr):
    """partial[pid] = block sum of g(v_p) (first PROGRAMS_P programs) or of f*(g(v_q)) (the rest)."""
    pid = tl.program_id(0)
    if pid < PROGRAMS_P:
        offs = pid * BLOCK + tl.arange(0, BLOCK)
        ok = offs < NP
        term, _ = _g(tl.load(vp_ptr + offs, mask=ok, other=0.0), CODE)
    else:
        offs = (pid - PROGRAMS_P) * BLOCK + tl.arange(0, BLOCK)
        ok = offs < NQ
        term, _ = _fstar_g(tl.load(vq_ptr + offs, mask=ok, other=0.0), CODE)
    tl.store(partial_ptr + pid, tl.sum(tl.where(ok, term, 0.0), axis=0))


@triton.jit
def _bound_backward_kernel(grad_ptr, vp_ptr, vq_ptr, grad_p_ptr, grad_q_ptr, NP, NQ, PROGRAMS_P,
                           CODE: tl.constexpr, BLOCK: tl.constexpr):
    """grad_p = grad g'(v_p) / NP (first PROGRAMS_P programs), grad_q = -grad (f* o g)'(v_q) / NQ."""
    pid = tl.program_id(0)
    grad = tl.load(grad_ptr)
    if pid < PROGRAMS_P:
        offs = pid * BLOCK + tl.arange(0, BLOCK)
        ok = offs < NP
        v = tl.load(vp_ptr + offs, mask=ok, other=0.0)
        _, slope = _g(v, CODE)
        tl.store(grad_p_ptr + offs, slope * (grad / NP), mask=ok)
    else:
        offs = (pid - PROGRAMS_P) * BLOCK + tl.arange(0, BLOCK)
        ok = offs < NQ
        v = tl.load(vq_ptr + offs, mask=ok, other=0.0)
        _, slope = _fstar_g(v, CODE)
        tl.store(grad_q_ptr + offs, slope * (-grad / NQ), mask=ok)


def _programs(n_p: int, n_q: int) -> tuple[int, int]:
    return triton.cdiv(n_p, BOUND_BLOCK), triton.cdiv(n_q, BOUND_BLOCK)


@_lp.on_input_device
def f_divergence_bound(v_p: torch.Tensor, v_q: torch.Tensor, code: int) -> torch.Tensor:
    """v_p: [Np], v_q: [Nq] (same float dtype, non-empty) -> 0-d mean g(v_p) - mean f*(g(v_q))."""
    n_p, n_q = v_p.shape[0], v_q.shape[0]
    programs_p, programs_q = _programs(n_p, n_q)
    partial = v_p.new_empty(programs_p + programs_q)
    _bound_kernel[(programs_p + programs_q,)](
        v_p, v_q, partial, n_p, n_q, programs_p, CODE=code, BLOCK=BOUND_BLOCK, num_warps=BOUND_WARPS
    )
    sums = partial.double()
    value = sums[:programs_p].sum() / n_p - sums[programs_p:].sum() / n_q
    # Neyman's -inf - (-inf): the infinity of the true value's sign (a no-op for other codes)
    return divergences.resolve_infinite_difference(code, value, v_p, v_q).to(v_p.dtype)


@_lp.on_input_device
def f_divergence_bound_backward(grad: torch.Tensor, v_p: torch.Tensor, v_q: torch.Tensor, code: int):
    """grad: 0-d -> (grad_p [Np] = grad g'(v_p) / Np, grad_q [Nq] = -grad (f* o g)'(v_q) / Nq)."""
    n_p, n_q = v_p.shape[0], v_q.shape[0]
    programs_p, programs_q = _programs(n_p, n_q)
    grad_p, grad_q = torch.empty_like(v_p), torch.empty_like(v_q)
    _bound_backward_kernel[(programs_p + programs_q,)](
        grad.to(v_p.dtype).reshape(1), v_p, v_q, grad_p, grad_q, n_p, n_q, programs_p,
        CODE=code, BLOCK=BOUND_BLOCK, num_warps=BOUND_WARPS,
    )
    return grad_p, grad_q
