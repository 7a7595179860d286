"""Triton dispersion: s = 1/(N(N-1)) sum_{i != j} ||z_i - z_j||_p^q / (eps + ||b_i - b_j||_p^q).

Forward: the ratio is symmetric in (i, j), so only the tiles on and above the diagonal work
(strictly upper pairs inside a diagonal tile) and the sum is doubled. Each program computes both
distance tiles of its pairs, streaming Dz and Db, and writes one partial sum; torch adds the
partials. Nothing of size N x N exists.

Backward, with A = ||z_i - z_j||^q, B = ||b_i - b_j||^q and c = 2 grad / (N(N-1)):
    grad_z[i] =  c sum_{j != i} 1/(eps + B_ij)        * dA_ij/dz_i
    grad_b[i] = -c sum_{j != i} A_ij / (eps + B_ij)^2 * dB_ij/db_i
(the factor 2 gathers the (i, j) and (j, i) terms, which are equal). Each program owns a tile of
rows i and streams all j tiles once: it computes the two distance tiles, the pair weights, then
adds its rows' gradient chunk by chunk into grad_z / grad_b. A program writes only its own rows,
so there are no atomics and the sums are deterministic; each unordered pair is visited twice
(once from each side), the cost of that.

Numerics (omasgan/ops/_common.py): the pair norms come from _lp.pair_norms64 (a tile with a power
sum that over- or underflowed recomputes it safely), and A, B, the ratios and the weights are
formed in float64, where eps stays exact (1e-50 is 0 in float32) and a ratio of two huge
distances stays finite.
"""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from omasgan.kernels import _lp
from omasgan.kernels._lp import pair_keys, pair_norms64, pow64, weighted_directions


@triton.jit
def _pair_tiles(z_ptr, b_ptr, rows, row_ok, cols, col_ok, DZ, DB, p,
                P_KIND: tl.constexpr, P_INT: tl.constexpr, WITH_ARGMAX: tl.constexpr,
                BLOCK: tl.constexpr, BLOCK_D: tl.constexpr):
    """Keys (and p = inf argmaxes) of the z pairs and the b pairs of a [BLOCK, BLOCK] tile."""
    key_z, arg_z = pair_keys(z_ptr, rows, row_ok, z_ptr, cols, col_ok, DZ, p,
                             P_KIND, P_INT, WITH_ARGMAX, BLOCK, BLOCK, BLOCK_D)
    key_b, arg_b = pair_keys(b_ptr, rows, row_ok, b_ptr, cols, col_ok, DB, p,
                             P_KIND, P_INT, WITH_ARGMAX, BLOCK, BLOCK, BLOCK_D)
    return key_z, arg_z, key_b, arg_b


@triton.autotune(
    configs=_lp.configs(
        [
            triton.Config({"BLOCK": 32, "BLOCK_D": 4}, num_warps=4, num_stages=2),
            triton.Config({"BLOCK": 16, "BLOCK_D": 16}, num_warps=4, num_stages=2),
            triton.Config({"BLOCK": 32, "BLOCK_D": 8}, num_warps=8, num_stages=2),
            triton.Config({"BLOCK": 64, "BLOCK_D": 4}, num_warps=8, num_stages=2),
        ],
        triton.Config({"BLOCK": 32, "BLOCK_D": 16}),
    ),
    key=["DZ", "DB", "P_KIND"],
)
@triton.jit
def _dispersion_kernel(z_ptr, b_ptr, partial_ptr, N, DZ, DB, p: tl.float64, q: tl.float64, eps: tl.float64,
                       lo: tl.float64, hi: tl.float64,
                       P_KIND: tl.constexpr, P_INT: tl.constexpr,
                       BLOCK: tl.constexpr, BLOCK_D: tl.constexpr):
    """partial[ti, tj] = sum over the tile's pairs i < j of A_ij / (eps + B_ij); grid (T, T)."""
    ti, tj = tl.program_id(0), tl.program_id(1)
    if tj >= ti:
        rows = ti * BLOCK + tl.arange(0, BLOCK)
        cols = tj * BLOCK + tl.arange(0, BLOCK)
        row_ok, col_ok = rows < N, cols < N
        dtype = z_ptr.dtype.element_ty
        p_cast = tl.full([], p, dtype)
        key_z, _, key_b, _ = _pair_tiles(z_ptr, b_ptr, rows, row_ok, cols, col_ok, DZ, DB, p_cast,
                                         P_KIND, P_INT, False, BLOCK, BLOCK_D)
        norm_z = pair_norms64(key_z, z_ptr, rows, row_ok, z_ptr, cols, col_ok, DZ, p_cast, lo, hi,
                              P_KIND, P_INT, BLOCK, BLOCK, BLOCK_D)
        norm_b = pair_norms64(key_b, b_ptr, rows, row_ok, b_ptr, cols, col_ok, DB, p_cast, lo, hi,
                              P_KIND, P_INT, BLOCK, BLOCK, BLOCK_D)
        ratio = pow64(norm_z, q) / (eps + pow64(norm_b, q))
        upper = row_ok[:, None] & col_ok[None, :] & (rows[:, None] < cols[None, :])
        tile_sum = tl.sum(tl.sum(tl.where(upper, ratio, 0.0), axis=1), axis=0)
        tl.store(partial_ptr + ti * tl.num_programs(1) + tj, tile_sum)


@triton.jit
def _add_row_gradient(out_ptr, w, arg, x_ptr, rows, row_ok, cols, col_ok, D, p,
                      P_KIND: tl.constexpr, P_INT: tl.constexpr, BLOCK_D: tl.constexpr):
    """out[rows] += sum_j w_ij h(x_i - x_j), chunk by chunk over D (the caller owns these rows)."""
    for d0 in range(0, D, BLOCK_D):
        ks = d0 + tl.arange(0, BLOCK_D)
        offsets = rows.to(tl.int64)[:, None] * D + ks[None, :]
        chunk_ok = row_ok[:, None] & (ks[None, :] < D)
        g = weighted_directions(w, arg, x_ptr, rows, row_ok, x_ptr, cols, col_ok, ks, D, p, P_KIND, P_INT)
        tl.store(out_ptr + offsets, tl.load(out_ptr + offsets, mask=chunk_ok, other=0.0) + g, mask=chunk_ok)


@triton.autotune(
    configs=_lp.configs(
        [
            triton.Config({"BLOCK": 32, "BLOCK_D": 4}, num_warps=4, num_stages=2),
            triton.Config({"BLOCK": 16, "BLOCK_D": 16}, num_warps=4, num_stages=2),
            triton.Config({"BLOCK": 32, "BLOCK_D": 8}, num_warps=8, num_stages=2),
        ],
        triton.Config({"BLOCK": 32, "BLOCK_D": 16}),
    ),
    key=["DZ", "DB", "P_KIND"],
    reset_to_zero=["grad_z_ptr", "grad_b_ptr"],  # the kernel accumulates into them
)
@triton.jit
def _dispersion_backward_kernel(grad_ptr, z_ptr, b_ptr, grad_z_ptr, grad_b_ptr, N, DZ, DB,
                                p: tl.float64, q: tl.float64, e_scale: tl.float64, eps: tl.float64,
                                lo: tl.float64, hi: tl.float64,
                                P_KIND: tl.constexpr, P_INT: tl.constexpr, BLOCK: tl.constexpr, BLOCK_D: tl.constexpr):
    """grad_z, grad_b (zero-initialised) [N, Dz], [N, Db]; grad_ptr: the 0-d upstream gradient."""
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    row_ok = rows < N
    dtype = z_ptr.dtype.element_ty
    p = tl.full([], p, dtype)
    n = tl.full([], N, tl.float64)
    c = 2.0 * tl.load(grad_ptr).to(tl.float64) / (n * (n - 1.0))
    for j0 in range(0, N, BLOCK):
        cols = j0 + tl.arange(0, BLOCK)
        col_ok = cols < N
        key_z, arg_z, key_b, arg_b = _pair_tiles(z_ptr, b_ptr, rows, row_ok, cols, col_ok, DZ, DB, p,
                                                 P_KIND, P_INT, P_KIND == _lp.P_INF, BLOCK, BLOCK_D)
        pair_ok = row_ok[:, None] & col_ok[None, :] & (rows[:, None] != cols[None, :])
        norm_z = pair_norms64(key_z, z_ptr, rows, row_ok, z_ptr, cols, col_ok, DZ, p, lo, hi,
                              P_KIND, P_INT, BLOCK, BLOCK, BLOCK_D)
        norm_b = pair_norms64(key_b, b_ptr, rows, row_ok, b_ptr, cols, col_ok, DB, p, lo, hi,
                              P_KIND, P_INT, BLOCK, BLOCK, BLOCK_D)
        den = eps + pow64(norm_b, q)
        # w = c * d(ratio)/d(distance) * q ||u||^(q - p), the last factor 0 for coincident rows;
        # in float64, then in the dtype for the direction sums
        w_z = tl.where(pair_ok, c / den * q * pow64(norm_z, e_scale), 0.0)
        a_over_den = pow64(norm_z, q) / den
        w_b = tl.where(pair_ok, -c * a_over_den / den * q * pow64(norm_b, e_scale), 0.0)
        # The direction sums run in the dtype while every nonzero weight lies well inside its range
        # (all ordinary tiles), else in float64 (weights such as 1e46 for rows ~1e-30 near eps).
        w_abs = tl.abs(tl.where(pair_ok, w_z, 1.0)), tl.abs(tl.where(pair_ok, w_b, 1.0))
        big = tl.maximum(tl.max(tl.max(w_abs[0], axis=1), axis=0), tl.max(tl.max(w_abs[1], axis=1), axis=0))
        nonzero = tl.minimum(tl.min(tl.min(tl.where(w_abs[0] > 0, w_abs[0], 1.0), axis=1), axis=0),
                             tl.min(tl.min(tl.where(w_abs[1] > 0, w_abs[1], 1.0), axis=1), axis=0))
        if (big <= 1.0e30) & (nonzero >= 1.0e-30):
            _add_row_gradient(grad_z_ptr, w_z.to(dtype), arg_z, z_ptr, rows, row_ok, cols, col_ok, DZ, p,
                              P_KIND, P_INT, BLOCK_D)
            _add_row_gradient(grad_b_ptr, w_b.to(dtype), arg_b, b_ptr, rows, row_ok, cols, col_ok, DB, p,
                              P_KIND, P_INT, BLOCK_D)
        else:
            _add_row_gradient(grad_z_ptr, w_z, arg_z, z_ptr, rows, row_ok, cols, col_ok, DZ, p, P_KIND, P_INT, BLOCK_D)
            _add_row_gradient(grad_b_ptr, w_b, arg_b, b_ptr, rows, row_ok, cols, col_ok, DB, p, P_KIND, P_INT, BLOCK_D)


def _constants(p: float, dtype: torch.dtype) -> dict:
    p_kind, p_int = _lp.p_kind(p)
    lo, hi = _lp.safe_bounds(dtype)
    return dict(P_KIND=p_kind, P_INT=p_int, lo=lo, hi=hi)


@_lp.on_input_device
def dispersion(z: torch.Tensor, b: torch.Tensor, p: float, q: float, eps: float) -> torch.Tensor:
    """z: [N, Dz], b: [N, Db] (same float dtype, contiguous, N >= 2) -> 0-d tensor."""
    n = z.shape[0]
    grid = lambda meta: (triton.cdiv(n, meta["BLOCK"]), triton.cdiv(n, meta["BLOCK"]))  # noqa: E731
    # Sized for the smallest BLOCK any config uses, so every grid fits.
    tiles = triton.cdiv(n, 16)
    partial = z.new_zeros(tiles * tiles, dtype=torch.float64)  # the kernel sums ratios in float64
    _dispersion_kernel[grid](z, b, partial, n, z.shape[1], b.shape[1], p, q, eps=eps, **_constants(p, z.dtype))
    return (2.0 * partial.double().sum() / (n * (n - 1))).to(z.dtype)


@_lp.on_input_device
def dispersion_backward(grad: torch.Tensor, z: torch.Tensor, b: torch.Tensor, p: float, q: float, eps: float):
    """grad: 0-d -> (grad_z [N, Dz], grad_b [N, Db])."""
    n = z.shape[0]
    grad_z, grad_b = torch.zeros_like(z), torch.zeros_like(b)
    # q ||u||^(q - p) (p = inf: ||u||^(q - 1)) from the norm itself, in float64
    e_scale = q - 1.0 if math.isinf(p) else q - p
    grid = lambda meta: (triton.cdiv(n, meta["BLOCK"]),)  # noqa: E731
    _dispersion_backward_kernel[grid](
        grad.to(z.dtype).reshape(1), z, b, grad_z, grad_b, n, z.shape[1], b.shape[1], p, q,
        eps=eps, e_scale=e_scale, **_constants(p, z.dtype),
    )
    return grad_z, grad_b
