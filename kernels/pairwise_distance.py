"""Triton pairwise_distance: dist[i, j] = ||x_i - y_j||_p^q and its backward.

Forward: one program per [BLOCK_N, BLOCK_M] output tile, the feature axis streamed in BLOCK_D
chunks. It subtracts the rows directly for every p, p = 2 included: the ||x||^2 + ||y||^2 - 2 x.y
form loses all relative accuracy for near pairs, and coincident rows must give exactly 0 (the
backward's zero-gradient convention keys on it). min_distance is the op that needs the dot form.

Backward, a row pass and a column pass rather than atomics:
    grad_x[i] =  sum_j w_ij h(x_i - y_j),   grad_y[j] = sum_i w_ij h(y_j - x_i)
with w_ij = grad_ij q ||u||^(q - p) and h the direction sign(u)|u|^(p - 1), an odd function of u
(for p = inf, sign(u_k) at the first k of largest |u_k|, also odd). So grad_y is the row pass on
the transposed problem (w read through swapped strides, no copy). Each program owns a [BLOCK,
BLOCK_D] tile of its output: no atomics, deterministic sums, and float64 needs no atomic support.
The price, computing the pair differences twice, is the same O(N M D) as the forward.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from omasgan.kernels import _lp
from omasgan.kernels._lp import key_trusted, pair_keys, pow64, pow_pos, safe_pair_norms, weighted_directions

@triton.autotune(configs=_lp.pair_tile_configs("BLOCK_N", "BLOCK_M"), key=["D", "P_KIND", "WITH_ARGMAX"])
@triton.jit
def _pairwise_kernel(x_ptr, y_ptr, out_ptr, argmax_ptr, N, M, D, p: tl.float64, q: tl.float64, e: tl.float64,
                     lo: tl.float64, hi: tl.float64,
                     P_KIND: tl.constexpr, P_INT: tl.constexpr, E_KIND: tl.constexpr, WITH_ARGMAX: tl.constexpr,
                     BLOCK_N: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_D: tl.constexpr):
    """out [N, M] = key^e; with WITH_ARGMAX (p = inf) also argmax [N, M] int32, the chosen feature.
    A tile with a key outside [lo, hi] (over- or underflow) recomputes those pairs safely."""
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    cols = tl.program_id(1) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok, col_ok = rows < N, cols < M
    dtype = x_ptr.dtype.element_ty
    key, arg = pair_keys(x_ptr, rows, row_ok, y_ptr, cols, col_ok, D, tl.full([], p, dtype),
                         P_KIND, P_INT, WITH_ARGMAX, BLOCK_N, BLOCK_M, BLOCK_D)
    out = rows.to(tl.int64)[:, None] * M + cols[None, :]
    ok = row_ok[:, None] & col_ok[None, :]
    value = pow_pos(key, tl.full([], e, dtype), E_KIND)
    bad = ok & ~key_trusted(key, lo, hi)
    if tl.max(bad.to(tl.int32)) > 0:
        norm = safe_pair_norms(x_ptr, rows, row_ok, y_ptr, cols, col_ok, D, tl.full([], p, tl.float64), P_KIND, P_INT, BLOCK_N, BLOCK_M, BLOCK_D)
        value = tl.where(bad, pow64(norm, q).to(dtype), value)
    tl.store(out_ptr + out, value, mask=ok)
    if WITH_ARGMAX:
        tl.store(argmax_ptr + out, arg, mask=ok)


@triton.autotune(configs=_lp.pair_tile_configs("BLOCK_A", "BLOCK_B"), key=["D", "P_KIND"])
@triton.jit
def _row_pass_kernel(grad_ptr, dist_ptr, argmax_ptr, stride_a, stride_b, a_ptr, b_ptr, out_ptr,
                     NA, NB, D, p: tl.float64, q: tl.float64, e: tl.float64,
                     P_KIND: tl.constexpr, P_INT: tl.constexpr, E_KIND: tl.constexpr,
                     BLOCK_A: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_D: tl.constexpr):
    """out[i, ks] = sum_j w_ij h(a_i - b_j)[ks], w_ij = grad_ij q dist_ij^e; grid (A tiles, D chunks).

    grad, dist and argmax are [NA, NB] matrices read at i * stride_a + j * stride_b.
    """
    rows = tl.program_id(0) * BLOCK_A + tl.arange(0, BLOCK_A)
    ks = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    row_ok = rows < NA
    dtype = a_ptr.dtype.element_ty
    acc = tl.full([BLOCK_A, BLOCK_D], 0, dtype)
    p, q, e = tl.full([], p, dtype), tl.full([], q, dtype), tl.full([], e, dtype)
    for j0 in range(0, NB, BLOCK_B):
        cols = j0 + tl.arange(0, BLOCK_B)
        col_ok = cols < NB
        at = rows.to(tl.int64)[:, None] * stride_a + cols.to(tl.int64)[None, :] * stride_b
        ok = row_ok[:, None] & col_ok[None, :]
        grad = tl.load(grad_ptr + at, mask=ok, other=0.0)
        dist = tl.load(dist_ptr + at, mask=ok, other=0.0)
        argmax = tl.load(argmax_ptr + at, mask=ok & (P_KIND == _lp.P_INF), other=0)
        w = grad * q * pow_pos(dist, e, E_KIND)
        acc += weighted_directions(w, argmax, a_ptr, rows, row_ok, b_ptr, cols, col_ok, ks, D, p, P_KIND, P_INT)
    out = rows.to(tl.int64)[:, None] * D + ks[None, :]
    tl.store(out_ptr + out, acc, mask=row_ok[:, None] & (ks[None, :] < D))


def _forward(x, y, p, q, with_argmax):
    n, m, d = x.shape[0], y.shape[0], x.shape[1]
    out = x.new_empty(n, m)
    argmax = torch.empty((n, m) if with_argmax else (1, 1), dtype=torch.int32, device=x.device)
    if n and m:
        p_kind, p_int = _lp.p_kind(p)
        e = _lp.value_exponent(p, q)
        grid = lambda meta: (triton.cdiv(n, meta["BLOCK_N"]), triton.cdiv(m, meta["BLOCK_M"]))  # noqa: E731
        _pairwise_kernel[grid](x, y, out, argmax, n, m, d, p, q, e, *_lp.safe_bounds(x.dtype), P_KIND=p_kind, P_INT=p_int,
                               E_KIND=_lp.exponent_kind(e), WITH_ARGMAX=with_argmax)
    return out, argmax


@_lp.on_input_device
def pairwise_distance(x: torch.Tensor, y: torch.Tensor, p: float, q: float) -> torch.Tensor:
    """x: [N, D], y: [M, D] (same float dtype, contiguous) -> [N, M]."""
    return _forward(x, y, p, q, with_argmax=False)[0]


@_lp.on_input_device
def pairwise_distance_backward(grad, x, y, dist, p, q):
    """grad, dist: [N, M]; x: [N, D], y: [M, D] -> (grad_x [N, D], grad_y [M, D])."""
    n, m, d = x.shape[0], y.shape[0], x.shape[1]
    grad_x, grad_y = torch.zeros_like(x), torch.zeros_like(y)
    if n == 0 or m == 0 or d == 0:
        return grad_x, grad_y
    grad, dist = grad.contiguous(), dist.contiguous()
    p_kind, p_int = _lp.p_kind(p)
    if p_kind == _lp.P_INF:
        argmax = _forward(x, y, p, q, with_argmax=True)[1]
    else:  # never read: the kernel masks its argmax loads off for finite p
        argmax = torch.empty(1, dtype=torch.int32, device=x.device)
    # ||u||^(q - p) = dist^((q - p) / q)  (p = inf: ||u||^(q - 1) = dist^((q - 1) / q))
    e = (q - (1.0 if p_kind == _lp.P_INF else p)) / q
    launch = dict(p=p, q=q, e=e, P_KIND=p_kind, P_INT=p_int, E_KIND=_lp.exponent_kind(e))
    # The column pass is the row pass on the transpose: swapped roles and strides.
    for a, b, out, na, nb, s_a, s_b in ((x, y, grad_x, n, m, m, 1), (y, x, grad_y, m, n, 1, m)):
        grid = lambda meta, na=na: (triton.cdiv(na, meta["BLOCK_A"]), triton.cdiv(d, meta["BLOCK_D"]))  # noqa: E731
        _row_pass_kernel[grid](grad, dist, argmax, s_a, s_b, a, b, out, na, nb, d, **launch)
    return grad_x, grad_y
