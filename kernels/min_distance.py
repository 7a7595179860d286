"""Triton min_distance: values[i] = min_j ||x_i - bank_j||_p^q and the argmin (lowest index on ties).

Search. Each program owns a BLOCK_N tile of queries and one contiguous slice of the bank, which
it streams in BLOCK_Q tiles, keeping a running (min, argmin) per query in registers; the N x Q
matrix never exists. The bank is split into slices so that a small batch of queries (N = 64
against tens of thousands of samples, the OMASGAN Stage-2 case) still fills the GPU; the slices'
[splits, N] candidates are merged by a tiny torch reduction. Memory beyond the inputs:
O(splits * N + Q).
- p = 2, float32: ranks by ||b_j||^2 - 2 x_i . b_j (||x_i||^2 is constant along a row), the dot
  products on tensor cores with tl.dot in "tf32x3" precision (about float32 accuracy; plain tf32
  would pick wrong neighbours at 1e-3 relative gaps).
- any other p, and float64: direct sum_k |x_ik - b_jk|^p (max for p = inf) on [BLOCK_N, BLOCK_Q,
  BLOCK_D] register tiles, computed in the input dtype (no fp64 tl.dot).
Exact values. The selected pair's distance is then recomputed from the two rows (O(N D)), so
values are exact: an exact duplicate gives 0, never the cancellation noise of the dot form.
Extreme magnitudes: the ranking assumes inputs inside the band of omasgan/ops/_common.py (the op
scales x and bank by a power of two otherwise); the recomputed value takes the safe path of
_lp.safe_row_norms when its power sum over- or underflows.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from omasgan.kernels import _lp
from omasgan.kernels._lp import key_trusted, load_rows, pair_keys, pow64, pow_pos, row_keys, safe_row_norms

_MIN_ROWS_PER_SPLIT = 64  # a bank slice shorter than this is not worth a program of its own
_INTERPRETED_PROGRAMS = 4  # without a GPU: still split, so the merge is exercised by the tests
SELECT_BLOCK_N, SELECT_BLOCK_D = 32, 64  # the exact-value gather is memory-bound: no autotuning


@triton.jit
def _update_best(best, best_idx, key, cols):
    """Fold a [BLOCK_N, BLOCK_Q] key tile into the running (min, argmin); lowest index on ties."""
    tile_min = tl.min(key, axis=1)
    tile_arg = tl.min(tl.where(key == tile_min[:, None], cols[None, :], 2147483647), axis=1)
    better = tile_min < best  # strict: an earlier tile keeps a tie
    return tl.where(better, tile_min, best), tl.where(better, tile_arg, best_idx)


@triton.jit
def _slice_bounds(Q, BLOCK_Q: tl.constexpr):
    """Bank rows [start, end) of this program's slice, in whole BLOCK_Q tiles."""
    tiles = (Q + BLOCK_Q - 1) // BLOCK_Q
    per_slice = (tiles + tl.num_programs(1) - 1) // tl.num_programs(1) * BLOCK_Q
    start = tl.program_id(1) * per_slice
    return start, tl.minimum(start + per_slice, Q)


@triton.jit
def _store_candidates(best, best_idx, rows, row_ok, N, best_ptr, idx_ptr):
    out = tl.program_id(1).to(tl.int64) * N + rows
    tl.store(best_ptr + out, best, mask=row_ok)
    tl.store(idx_ptr + out, best_idx, mask=row_ok)


@triton.autotune(
    configs=_lp.configs(
        [
            # spill-free for sm_90 (wgmma, tf32x3); 128 x 128 x 32 and 64 x 64 x 64 spill
            triton.Config({"BLOCK_N": 64, "BLOCK_Q": 64, "BLOCK_D": 32}, num_warps=4, num_stages=3),
            triton.Config({"BLOCK_N": 64, "BLOCK_Q": 128, "BLOCK_D": 32}, num_warps=8, num_stages=3),
            triton.Config({"BLOCK_N": 128, "BLOCK_Q": 64, "BLOCK_D": 32}, num_warps=8, num_stages=3),
            triton.Config({"BLOCK_N": 128, "BLOCK_Q": 128, "BLOCK_D": 16}, num_warps=8, num_stages=3),
        ],
        triton.Config({"BLOCK_N": 32, "BLOCK_Q": 32, "BLOCK_D": 32}),
    ),
    key=["D"],
)
@triton.jit
def _nearest_dot_kernel(x_ptr, bank_ptr, bank_sq_ptr, best_ptr, idx_ptr, N, Q, D,
                        BLOCK_N: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_D: tl.constexpr):
    """p = 2, float32. grid (row tiles, bank slices); bank_sq: [Q] squared row norms."""
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < N
    best = tl.full([BLOCK_N], float("inf"), tl.float32)
    best_idx = tl.full([BLOCK_N], 0, tl.int32)
    start, end = _slice_bounds(Q, BLOCK_Q)
    for q0 in range(start, end, BLOCK_Q):
        cols = q0 + tl.arange(0, BLOCK_Q)
        col_ok = cols < end
        dots = tl.full([BLOCK_N, BLOCK_Q], 0, tl.float32)
        for d0 in range(0, D, BLOCK_D):
            ks = d0 + tl.arange(0, BLOCK_D)
            x = load_rows(x_ptr, rows, row_ok, ks, D)
            bank_t = tl.trans(load_rows(bank_ptr, cols, col_ok, ks, D))
            dots = tl.dot(x, bank_t, dots, input_precision="tf32x3")
        bank_sq = tl.load(bank_sq_ptr + cols, mask=col_ok, other=float("inf"))
        best, best_idx = _update_best(best, best_idx, bank_sq[None, :] - 2.0 * dots, cols)
    _store_candidates(best, best_idx, rows, row_ok, N, best_ptr, idx_ptr)


@triton.autotune(configs=_lp.pair_tile_configs("BLOCK_N", "BLOCK_Q"), key=["D", "P_KIND"])
@triton.jit
def _nearest_direct_kernel(x_ptr, bank_ptr, best_ptr, idx_ptr, N, Q, D, p: tl.float64,
                           P_KIND: tl.constexpr, P_INT: tl.constexpr,
                           BLOCK_N: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_D: tl.constexpr):
    """Any p, float32 or float64. grid (row tiles, bank slices)."""
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < N
    best = tl.full([BLOCK_N], float("inf"), x_ptr.dtype.element_ty)
    best_idx = tl.full([BLOCK_N], 0, tl.int32)
    p = tl.full([], p, best.dtype)
    start, end = _slice_bounds(Q, BLOCK_Q)
    for q0 in range(start, end, BLOCK_Q):
        cols = q0 + tl.arange(0, BLOCK_Q)
        col_ok = cols < end
        key, _ = pair_keys(x_ptr, rows, row_ok, bank_ptr, cols, col_ok, D, p,
                           P_KIND, P_INT, False, BLOCK_N, BLOCK_Q, BLOCK_D)
        best, best_idx = _update_best(best, best_idx, tl.where(col_ok[None, :], key, float("inf")), cols)
    _store_candidates(best, best_idx, rows, row_ok, N, best_ptr, idx_ptr)


@triton.jit
def _selected_values_kernel(x_ptr, bank_ptr, idx_ptr, out_ptr, N, D, p: tl.float64, q: tl.float64, e: tl.float64,
                            lo: tl.float64, hi: tl.float64,
                            P_KIND: tl.constexpr, P_INT: tl.constexpr, E_KIND: tl.constexpr,
                            BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    """out[i] = ||x_i - bank_{idx[i]}||_p^q, straight from the rows."""
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < N
    picked = tl.load(idx_ptr + rows, mask=row_ok, other=0)
    dtype = x_ptr.dtype.element_ty
    key = row_keys(x_ptr, rows, bank_ptr, picked, row_ok, D, tl.full([], p, dtype), P_KIND, P_INT, BLOCK_N, BLOCK_D)
    value = pow_pos(key, tl.full([], e, dtype), E_KIND)
    bad = row_ok & ~key_trusted(key, lo, hi)
    if tl.max(bad.to(tl.int32)) > 0:  # over- or underflow in this block: the safe path
        norm = safe_row_norms(x_ptr, rows, bank_ptr, picked, row_ok, D, tl.full([], p, tl.float64), P_KIND, P_INT, BLOCK_N, BLOCK_D)
        value = tl.where(bad, pow64(norm, q).to(dtype), value)
    tl.store(out_ptr + rows, value, mask=row_ok)


def _bank_splits(n: int, q: int, device: torch.device) -> int:
    """How many slices to cut the bank into: enough programs for every SM, slices not too short."""
    if device.type == "cuda":
        target = 4 * torch.cuda.get_device_properties(device).multi_processor_count
    else:
        target = _INTERPRETED_PROGRAMS
    row_tiles = triton.cdiv(n, 64)
    return max(1, min(target // row_tiles, q // _MIN_ROWS_PER_SPLIT))


@_lp.on_input_device
def min_distance(x: torch.Tensor, bank: torch.Tensor, p: float, q: float):
    """x: [N, D], bank: [Q, D] (same float dtype, contiguous) -> (values [N], indices [N] int64)."""
    n, d = x.shape
    values = x.new_empty(n)
    indices = torch.empty(n, dtype=torch.long, device=x.device)
    if n == 0:
        return values, indices
    n_bank = bank.shape[0]
    splits = _bank_splits(n, n_bank, x.device)
    best = x.new_empty(splits, n)
    best_idx = torch.empty(splits, n, dtype=torch.int32, device=x.device)
    p_kind, p_int = _lp.p_kind(p)
    grid = lambda meta: (triton.cdiv(n, meta["BLOCK_N"]), splits)  # noqa: E731
    if p_kind == _lp.P_TWO and x.dtype == torch.float32:
        bank_sq = (bank * bank).sum(dim=1)
        _nearest_dot_kernel[grid](x, bank, bank_sq, best, best_idx, n, n_bank, d)
    else:
        _nearest_direct_kernel[grid](x, bank, best, best_idx, n, n_bank, d, p, P_KIND=p_kind, P_INT=p_int)
    # Merge the slices: argmin returns the first minimum, i.e. the lowest slice, so ties still
    # go to the lowest bank index.
    slice_of_best = best.argmin(dim=0, keepdim=True)
    indices.copy_(best_idx.gather(0, slice_of_best)[0])
    e = _lp.value_exponent(p, q)
    _selected_values_kernel[(triton.cdiv(n, SELECT_BLOCK_N),)](
        x, bank, indices, values, n, d, p, q, e, *_lp.safe_bounds(x.dtype),
        P_KIND=p_kind, P_INT=p_int, E_KIND=_lp.exponent_kind(e), BLOCK_N=SELECT_BLOCK_N, BLOCK_D=SELECT_BLOCK_D,
    )
    return values, indices
