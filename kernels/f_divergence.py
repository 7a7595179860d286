"""Triton f_divergence_bound: mean g(v_p) - mean f*(g(v_q)) and both gradients in one pass.

One launch covers both inputs: the first programs take BLOCK-sized pieces of v_p, the others of
v_q. Each evaluates its terms and their derivatives in the stable forms of METHOD.md section 1
(the divergence `code` is a tl.constexpr, so each program is straight-line code), stores the
scaled gradients, and writes its block's sum (a tree reduction in registers) to a partial; torch
adds the few partials in float64. Saturating branches (exp of a large value, softplus, tanh) are
written so that |v| up to 1e4 in float32 gives no NaN, only inf where the true value overflows.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from omasgan.kernels import _lp

BOUND_BLOCK, BOUND_WARPS = 1024, 8


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
    """(g(v), g'(v)); CODE indexes omasgan.divergences._TABLE."""
    if CODE == 0 or CODE == 2:  # kl, pearson: g = v
        r, dr = v, tl.full(v.shape, 1.0, v.dtype)
    elif CODE == 1:  # reverse_kl: g = -exp(-v)
        r, dr = -tl.exp(-v), tl.exp(-v)
    elif CODE == 3 or CODE == 4:  # neyman, squared_hellinger: g = 1 - exp(-v)
        r, dr = -_expm1(-v), tl.exp(-v)
    elif CODE == 5:  # jensen_shannon: g = log 2 - softplus(-v)
        r, dr = -_softplus_minus_log2(-v), _sigmoid(-v)
    elif CODE == 6:  # gan: g = -softplus(-v)
        r, dr = -_softplus(-v), _sigmoid(-v)
    else:  # total_variation: g = tanh(v)/2
        r, dr = _half_tanh_and_derivative(v)
    return r, dr


@triton.jit
def _fstar_g(v, CODE: tl.constexpr):
    """(f*(g(v)), d f*(g(v)) / dv) in the stable closed forms."""
    if CODE == 0:  # kl: exp(v - 1)
        r = tl.exp(v - 1.0)
        dr = r
    elif CODE == 1:  # reverse_kl: v - 1
        r, dr = v - 1.0, tl.full(v.shape, 1.0, v.dtype)
    elif CODE == 2:  # pearson: v^2/4 + v
        r, dr = 0.25 * v * v + v, 0.5 * v + 1.0
    elif CODE == 3:  # neyman: 2 - 2 exp(-v/2)
        r, dr = -2.0 * _expm1(-0.5 * v), tl.exp(-0.5 * v)
    elif CODE == 4:  # squared_hellinger: exp(v) - 1
        r, dr = _expm1(v), tl.exp(v)
    elif CODE == 5:  # jensen_shannon: softplus(v) - log 2
        r, dr = _softplus_minus_log2(v), _sigmoid(v)
    elif CODE == 6:  # gan: softplus(v)
        r, dr = _softplus(v), _sigmoid(v)
    else:  # total_variation: tanh(v)/2
        r, dr = _half_tanh_and_derivative(v)
    return r, dr


@triton.jit
def _bound_kernel(vp_ptr, vq_ptr, grad_p_ptr, grad_q_ptr, partial_ptr, NP, NQ, PROGRAMS_P,
                  CODE: tl.constexpr, NEED_GRAD: tl.constexpr, BLOCK: tl.constexpr):
    """partial[pid] = block sum of g(v_p) (first PROGRAMS_P programs) or of f*(g(v_q)) (the rest)."""
    pid = tl.program_id(0)
    if pid < PROGRAMS_P:
        offs = pid * BLOCK + tl.arange(0, BLOCK)
        ok = offs < NP
        v = tl.load(vp_ptr + offs, mask=ok, other=0.0)
        term, d_term = _g(v, CODE)
        if NEED_GRAD:
            tl.store(grad_p_ptr + offs, d_term / tl.full([], NP, v.dtype), mask=ok)
    else:
        offs = (pid - PROGRAMS_P) * BLOCK + tl.arange(0, BLOCK)
        ok = offs < NQ
        v = tl.load(vq_ptr + offs, mask=ok, other=0.0)
        term, d_term = _fstar_g(v, CODE)
        if NEED_GRAD:
            tl.store(grad_q_ptr + offs, -d_term / tl.full([], NQ, v.dtype), mask=ok)
    tl.store(partial_ptr + pid, tl.sum(tl.where(ok, term, 0.0), axis=0))


@_lp.on_input_device
def f_divergence_bound(v_p: torch.Tensor, v_q: torch.Tensor, code: int, need_grad: bool):
    """v_p: [Np], v_q: [Nq] (same float dtype, non-empty) -> (value 0-d, grad_p [Np], grad_q [Nq]).

    grad_p = g'(v_p) / Np and grad_q = -(f* o g)'(v_q) / Nq; both empty when need_grad is False.
    """
    n_p, n_q = v_p.shape[0], v_q.shape[0]
    grad_p = v_p.new_empty(n_p if need_grad else 0)
    grad_q = v_q.new_empty(n_q if need_grad else 0)
    programs_p, programs_q = triton.cdiv(n_p, BOUND_BLOCK), triton.cdiv(n_q, BOUND_BLOCK)
    partial = v_p.new_empty(programs_p + programs_q)
    # An empty gradient has no storage: hand the kernel a valid pointer it will never write through.
    _bound_kernel[(programs_p + programs_q,)](
        v_p, v_q, grad_p if need_grad else v_p, grad_q if need_grad else v_q, partial, n_p, n_q, programs_p,
        CODE=code, NEED_GRAD=need_grad, BLOCK=BOUND_BLOCK, num_warps=BOUND_WARPS,
    )
    sums = partial.double()
    value = sums[:programs_p].sum() / n_p - sums[programs_p:].sum() / n_q
    return value.to(v_p.dtype), grad_p, grad_q
