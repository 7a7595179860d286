"""Pieces shared by the Triton kernels: l_p terms, pair-distance tiles, powers, autotune configs.

Conventions of every kernel in this package:
- The compute dtype is the tensors' dtype (float32 or float64); accumulators use it too.
- Runtime float scalars (p, q, exponents, eps) are typed `tl.float64` in the kernel signatures
  and cast to the compute dtype inside with `tl.full([], value, dtype)`, so float64 kernels see
  them exactly (Triton would otherwise pass a Python float as float32).
- No device-function wrappers around single tl calls, and tl.full rather than tl.zeros (itself a
  device function): under TRITON_INTERPRET=1 every device-function call re-patches triton.language
  (about 1-2 ms), which dominates the interpreted tests' time.
- A row-pair distance is handled as its "key": sum_k |u_k|^p for finite p, max_k |u_k| for
  p = inf. The key is monotonic in the norm (argmin needs nothing more) and the norm^q is
  key^(q/p) (key^q for p = inf), one power instead of a root and a power.
- Extreme magnitudes (omasgan/ops/_common.py, "Numerics"): a key is trusted when
  safe_sum_lo <= key <= max (`key_trusted`). A tile holding any other key recomputes it in
  float64 from u / max |u| (`safe_pair_norms`, `safe_row_norms`); tiles of ordinary data skip that
  branch, so the fast path is unchanged.
"""
from __future__ import annotations

import contextlib
import functools
import math
import os

import torch
import triton
import triton.language as tl

INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"

# Switch values shared by the launchers and the kernels; tl.constexpr so that @triton.jit code may
# read them as globals. The launchers pass their plain int values.
# p kinds: the special cases are cheaper and exact. The same codes and integer-p cutoff as the C++
# and CUDA kernels' csrc/common/op_constants.h (NormKind, kMaxIntegerP): tests/test_op_constants.py.
P_ONE, P_TWO, P_INF, P_INT, P_GENERAL = (tl.constexpr(i) for i in range(5))
# Exponent kinds for `pow_pos`.
E_ONE, E_HALF, E_ZERO, E_NEG_ONE, E_NEG_HALF, E_GENERAL = (tl.constexpr(i) for i in range(6))
_EXPONENT_KINDS = {1.0: E_ONE, 0.5: E_HALF, 0.0: E_ZERO, -1.0: E_NEG_ONE, -0.5: E_NEG_HALF}
LARGEST_INT_P = 8  # integer p above this goes through exp2/log2 rather than an unrolled product


def p_kind(p: float) -> tuple[int, int]:
    """(P_KIND, P_INT) for a norm order p in [1, inf]; P_INT is p for integer p >= 3, else 0."""
    if math.isinf(p):
        return P_INF.value, 0
    if p == 1.0:
        return P_ONE.value, 0
    if p == 2.0:
        return P_TWO.value, 0
    if p.is_integer() and p <= LARGEST_INT_P:
        return P_INT.value, int(p)
    return P_GENERAL.value, 0


def exponent_kind(e: float) -> int:
    return _EXPONENT_KINDS.get(float(e), E_GENERAL).value


def value_exponent(p: float, q: float) -> float:
    """The e with ||u||_p^q = key^e."""
    return q if math.isinf(p) else q / p


def safe_bounds(dtype: torch.dtype) -> tuple[float, float]:
    """(lo, hi): the range of trusted keys for the kernels' `lo`, `hi` arguments."""
    return math.sqrt(torch.finfo(dtype).tiny), torch.finfo(dtype).max


def configs(gpu: list[triton.Config], interpreted: triton.Config) -> list[triton.Config]:
    """Autotune candidates: several on a GPU, one under TRITON_INTERPRET=1 (interpreting is slow)."""
    return [interpreted] if INTERPRET else gpu


# [rows, cols, features] register tiles of the elementwise pair kernels, with their warps: about
# 32 tile elements per thread, which compiles without register spills for sm_90 in float32
# (checked with triton.compile + ptxas for every p kind; float64 spills a little for general p).
_PAIR_TILES = [(32, 32, 4, 4), (64, 32, 4, 8), (16, 16, 16, 4)]


def pair_tile_configs(rows: str, cols: str) -> list[triton.Config]:
    """Autotune candidates for a kernel with [rows, cols, BLOCK_D] tiles named by its meta-parameters."""
    gpu = [triton.Config({rows: r, cols: c, "BLOCK_D": d}, num_warps=w, num_stages=2) for r, c, d, w in _PAIR_TILES]
    return configs(gpu, triton.Config({rows: 32, cols: 32, "BLOCK_D": 16}))


def on_input_device(launcher):
    """Run a launcher with its first tensor's GPU current: Triton launches on the current device."""

    @functools.wraps(launcher)
    def run(first: torch.Tensor, *args, **kwargs):
        with torch.cuda.device(first.device) if first.is_cuda else contextlib.nullcontext():
            return launcher(first, *args, **kwargs)

    return run


# ------------------------------------------------------------------------------- device helpers
@triton.jit
def load_rows(ptr, rows, row_ok, ks, D):
    """The [len(rows), len(ks)] tile of a row-major [*, D] matrix, zero outside it."""
    offsets = rows.to(tl.int64)[:, None] * D + ks[None, :]
    return tl.load(ptr + offsets, mask=row_ok[:, None] & (ks[None, :] < D), other=0.0)


@triton.jit
def sign(u):
    return tl.where(u > 0, 1.0, tl.where(u < 0, -1.0, 0.0)).to(u.dtype)


@triton.jit
def pow_pos(x, e, E_KIND: tl.constexpr):
    """x^e for x > 0 and 0 where x == 0 (x >= 0): the zero-distance convention of every gradient."""
    positive = x > 0
    safe = tl.where(positive, x, 1.0)
    if E_KIND == E_ONE:
        r = x
    elif E_KIND == E_HALF:
        r = tl.sqrt(x)
    elif E_KIND == E_ZERO:
        r = tl.where(positive, 1.0, 0.0).to(x.dtype)
    elif E_KIND == E_NEG_ONE:
        r = tl.where(positive, 1.0 / safe, 0.0)
    elif E_KIND == E_NEG_HALF:
        r = tl.where(positive, 1.0 / tl.sqrt(safe), 0.0)
    else:
        r = tl.where(positive, tl.exp2(e * tl.log2(safe)), 0.0)
    return r


@triton.jit
def lp_terms(a, p, P_KIND: tl.constexpr, P_INT: tl.constexpr):
    """|u|^p elementwise for a = |u| (|u| itself for p = 1 and p = inf)."""
    if P_KIND == P_TWO:
        r = a * a
    elif P_KIND == P_INT:
        r = a
        for _ in tl.static_range(P_INT - 1):
            r = r * a
    elif P_KIND == P_GENERAL:
        r = tl.where(a > 0, tl.exp2(p * tl.log2(tl.where(a > 0, a, 1.0))), 0.0)
    else:
        r = a
    return r


@triton.jit
def lp_direction(u, p, P_KIND: tl.constexpr, P_INT: tl.constexpr):
    """sign(u) |u|^(p - 1) for finite p: d ||u||_p^q / du = q ||u||^(q - p) * this."""
    if P_KIND == P_ONE:
        r = sign(u)
    elif P_KIND == P_TWO:
        r = u
    elif P_KIND == P_INT:
        r = u
        a = tl.abs(u)
        for _ in tl.static_range(P_INT - 2):
            r = r * a
    else:
        a = tl.abs(u)
        r = sign(u) * tl.where(a > 0, tl.exp2((p - 1) * tl.log2(tl.where(a > 0, a, 1.0))), 0.0)
    return r


@triton.jit
def key_trusted(key, lo, hi):
    """key in [lo, hi] (lo, hi: tl.float64 scalars from safe_bounds)."""
    return (key >= tl.full([], lo, key.dtype)) & (key <= tl.full([], hi, key.dtype))


@triton.jit
def pow64(x, e):
    """x^e in float64 for x >= 0, 0 where x == 0 (e may be negative: the zero-distance convention)."""
    positive = x > 0
    return tl.where(positive, tl.exp2(e * tl.log2(tl.where(positive, x, 1.0))), 0.0)


@triton.jit
def _root64(m, t, p, P_KIND: tl.constexpr):
    """m t^(1/p) in float64 (m * t for p = 1, m for p = inf)."""
    if P_KIND == P_INF:
        r = m
    elif P_KIND == P_ONE:
        r = m * t
    elif P_KIND == P_TWO:
        r = m * tl.sqrt(t)
    else:
        r = m * pow64(t, 1.0 / p)
    return r


@triton.jit
def safe_pair_norms(a_ptr, rows_a, a_ok, b_ptr, rows_b, b_ok, D, p,
                    P_KIND: tl.constexpr, P_INT: tl.constexpr,
                    BLOCK_A: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_D: tl.constexpr):
    """||a_i - b_j||_p in float64 for a tile of pairs, from u / max |u| (two passes over D): nothing
    over- or underflows unless the norm does. p: float64 scalar."""
    m = tl.full([BLOCK_A, BLOCK_B], 0, tl.float64)
    for d0 in range(0, D, BLOCK_D):
        ks = d0 + tl.arange(0, BLOCK_D)
        a = load_rows(a_ptr, rows_a, a_ok, ks, D).to(tl.float64)
        b = load_rows(b_ptr, rows_b, b_ok, ks, D).to(tl.float64)
        m = tl.maximum(m, tl.max(tl.abs(a[:, None, :] - b[None, :, :]), axis=2))
    safe = tl.where(m > 0, m, 1.0)
    t = tl.full([BLOCK_A, BLOCK_B], 0, tl.float64)
    if P_KIND != P_INF:
        for d0 in range(0, D, BLOCK_D):
            ks = d0 + tl.arange(0, BLOCK_D)
            a = load_rows(a_ptr, rows_a, a_ok, ks, D).to(tl.float64)
            b = load_rows(b_ptr, rows_b, b_ok, ks, D).to(tl.float64)
            r = tl.abs(a[:, None, :] - b[None, :, :]) / safe[:, :, None]
            t += tl.sum(lp_terms(r, p, P_KIND, P_INT), axis=2)
    return _root64(m, t, p, P_KIND)


@triton.jit
def safe_row_norms(a_ptr, rows_a, b_ptr, rows_b, ok, D, p,
                   P_KIND: tl.constexpr, P_INT: tl.constexpr, BLOCK: tl.constexpr, BLOCK_D: tl.constexpr):
    """||a_{rows_a[i]} - b_{rows_b[i]}||_p in float64, as safe_pair_norms: [BLOCK]."""
    m = tl.full([BLOCK], 0, tl.float64)
    for d0 in range(0, D, BLOCK_D):
        ks = d0 + tl.arange(0, BLOCK_D)
        u = load_rows(a_ptr, rows_a, ok, ks, D).to(tl.float64) - load_rows(b_ptr, rows_b, ok, ks, D).to(tl.float64)
        m = tl.maximum(m, tl.max(tl.abs(u), axis=1))
    safe = tl.where(m > 0, m, 1.0)
    t = tl.full([BLOCK], 0, tl.float64)
    if P_KIND != P_INF:
        for d0 in range(0, D, BLOCK_D):
            ks = d0 + tl.arange(0, BLOCK_D)
            u = load_rows(a_ptr, rows_a, ok, ks, D).to(tl.float64) - load_rows(b_ptr, rows_b, ok, ks, D).to(tl.float64)
            t += tl.sum(lp_terms(tl.abs(u) / safe[:, None], p, P_KIND, P_INT), axis=1)
    return _root64(m, t, p, P_KIND)


@triton.jit
def pair_norms64(key, a_ptr, rows_a, a_ok, b_ptr, rows_b, b_ok, D, p, lo, hi,
                 P_KIND: tl.constexpr, P_INT: tl.constexpr,
                 BLOCK_A: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_D: tl.constexpr):
    """The float64 norms of a tile of pairs from their keys; a tile with an untrusted key (see
    key_trusted) recomputes those through safe_pair_norms."""
    p64 = p.to(tl.float64)
    key64 = key.to(tl.float64)
    norm = _root64(tl.full(key.shape, 1.0, tl.float64), key64, p64, P_KIND)
    if P_KIND == P_INF:
        norm = key64
    elif P_KIND == P_ONE:
        norm = key64
    bad = (a_ok[:, None] & b_ok[None, :]) & ~key_trusted(key, lo, hi)
    if tl.max(bad.to(tl.int32)) > 0:
        safe = safe_pair_norms(a_ptr, rows_a, a_ok, b_ptr, rows_b, b_ok, D, p64, P_KIND, P_INT, BLOCK_A, BLOCK_B, BLOCK_D)
        norm = tl.where(bad, safe, norm)
    return norm


@triton.jit
def pair_keys(a_ptr, rows_a, a_ok, b_ptr, rows_b, b_ok, D, p,
              P_KIND: tl.constexpr, P_INT: tl.constexpr, WITH_ARGMAX: tl.constexpr,
              BLOCK_A: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_D: tl.constexpr):
    """Keys of all pairs (a_i, b_j) of two row tiles: ([BLOCK_A, BLOCK_B], argmax [BLOCK_A, BLOCK_B]).

    The D axis is streamed in BLOCK_D chunks. For p = inf with WITH_ARGMAX the second output is
    the first feature k of largest |a_ik - b_jk| (the subgradient's choice); otherwise zeros.
    Rows outside the tiles (a_ok / b_ok false) read as zeros.
    """
    key = tl.full([BLOCK_A, BLOCK_B], 0, a_ptr.dtype.element_ty)
    arg = tl.full([BLOCK_A, BLOCK_B], 0, tl.int32)
    for d0 in range(0, D, BLOCK_D):
        ks = d0 + tl.arange(0, BLOCK_D)
        a = load_rows(a_ptr, rows_a, a_ok, ks, D)
        b = load_rows(b_ptr, rows_b, b_ok, ks, D)
        u = tl.abs(a[:, None, :] - b[None, :, :])
        if P_KIND == P_INF:
            chunk_max = tl.max(u, axis=2)
            if WITH_ARGMAX:
                first = tl.min(tl.where(u == chunk_max[:, :, None], ks[None, None, :], 2147483647), axis=2)
                # strict >: an earlier chunk keeps a tie
                arg = tl.where(chunk_max > key, first, arg)
            key = tl.maximum(key, chunk_max)
        else:
            key += tl.sum(lp_terms(u, p, P_KIND, P_INT), axis=2)
    return key, arg


@triton.jit
def row_keys(a_ptr, rows_a, b_ptr, rows_b, ok, D, p,
             P_KIND: tl.constexpr, P_INT: tl.constexpr, BLOCK: tl.constexpr, BLOCK_D: tl.constexpr):
    """Keys of the row pairs (a_{rows_a[i]}, b_{rows_b[i]}): [BLOCK]."""
    key = tl.full([BLOCK], 0, a_ptr.dtype.element_ty)
    for d0 in range(0, D, BLOCK_D):
        ks = d0 + tl.arange(0, BLOCK_D)
        u = tl.abs(load_rows(a_ptr, rows_a, ok, ks, D) - load_rows(b_ptr, rows_b, ok, ks, D))
        if P_KIND == P_INF:
            key = tl.maximum(key, tl.max(u, axis=1))
        else:
            key += tl.sum(lp_terms(u, p, P_KIND, P_INT), axis=1)
    return key


@triton.jit
def weighted_directions(w, argmax, a_ptr, rows_a, a_ok, b_ptr, rows_b, b_ok, ks, D, p,
                        P_KIND: tl.constexpr, P_INT: tl.constexpr):
    """sum_j w[i, j] * direction(a_i - b_j) on the feature chunk ks: [BLOCK_A, len(ks)].

    direction is sign(u) |u|^(p - 1) for finite p, and for p = inf sign(u_k) at k = argmax[i, j]
    (0 elsewhere); w carries q ||u||^(q - p), the upstream gradient and 0 for excluded pairs.
    """
    a = load_rows(a_ptr, rows_a, a_ok, ks, D)
    b = load_rows(b_ptr, rows_b, b_ok, ks, D)
    u = a[:, None, :] - b[None, :, :]
    if P_KIND == P_INF:
        h = tl.where(ks[None, None, :] == argmax[:, :, None], sign(u), 0.0)
    else:
        h = lp_direction(u, p, P_KIND, P_INT)
    return tl.sum(w[:, :, None] * h, axis=1)
