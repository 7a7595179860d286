"""min_distance: the nearest bank sample of each query, values[i] = min_j ||x_i - bank_j||_p^q.

Never forms the N x Q matrix: every backend streams the bank and keeps a running (min, argmin)
per query, so memory beyond the inputs is O(N + Q). The backward gathers the N selected pairs
and touches nothing else.
"""
from __future__ import annotations

import torch

from omasgan import _ext
from omasgan.ops import _common as C
from omasgan.ops.pairwise_distance import reference as _pairwise_reference

_BANK_CHUNK_ELEMENTS = 1 << 24


def reference(x: torch.Tensor, bank: torch.Tensor, p: float, q: float):
    """x: [N, D], bank: [Q, D] -> (values [N], indices [N] int64), lowest index on ties."""
    n = x.shape[0]
    best = x.new_full((n,), float("inf"))
    best_idx = torch.zeros(n, dtype=torch.long, device=x.device)
    step = max(1, _BANK_CHUNK_ELEMENTS // max(1, n * x.shape[1]))
    for s in range(0, bank.shape[0], step):
        # torch.min returns the first minimum of a row; strict < keeps earlier chunks on ties.
        v, i = _pairwise_reference(x, bank[s : s + step], p, 1.0).min(dim=1)
        better = v < best
        best = torch.where(better, v, best)
        best_idx = torch.where(better, i + s, best_idx)
    return best.pow(q), best_idx


def _kernel(backend: str):
    if backend == "torch":
        return reference
    if backend in ("cpu", "cuda"):
        return _ext.kernel(f"min_distance_{backend}")
    from omasgan.kernels import min_distance as tk

    return tk.min_distance


def ranked_safely(kernel, x: torch.Tensor, bank: torch.Tensor, p: float, q: float, amax: float = -1.0):
    """kernel(x, bank, p, q) with the search done on x and bank scaled by a common power of two
    when max |x|, |bank| (amax; -1 = unknown, then measured here) lies outside the band where the
    kernels' ranking keys (||b||^2 - 2 x.b for p = 2, power sums otherwise) can neither overflow
    nor wholly underflow: see omasgan.ops._common. The scaled call asks for q = 1 and raises the
    distance, scaled back, to q in float64, so a value that is representable comes back finite.
    Inside the band (all ordinary data) this is the kernel call itself.
    """
    if amax < 0:
        amax = C.max_abs(x, bank)
    k = C.ranking_exponent(amax, p, x.shape[1], x.dtype)
    if k == 0:
        return kernel(x, bank, p, q)
    values, indices = kernel(C.scale_pow2(x, k), C.scale_pow2(bank, k), p, 1.0)
    return (values.double() * 2.0**-k).pow(q).to(x.dtype), indices


@torch.library.custom_op("omasgan::min_distance", mutates_args=())
def _min_distance_op(
    x: torch.Tensor, bank: torch.Tensor, p: float, q: float, backend: str, amax: float = -1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    return ranked_safely(_kernel(backend), x, bank, p, q, amax)


@_min_distance_op.register_fake
def _(x, bank, p, q, backend, amax=-1.0):
    return x.new_empty(x.shape[0]), x.new_empty(x.shape[0], dtype=torch.long)


def _setup(ctx, inputs, output):
    x, bank, p, q = inputs[:4]
    ctx.save_for_backward(x, bank, output[1])
    ctx.args = (p, q)


def _backward(ctx, grad_values, _grad_indices):
    x, bank, idx = ctx.saved_tensors
    p, q = ctx.args
    diff = x - bank[idx]
    # the norm through diff / max |diff|: right for any representable distance, and branch-free
    # (this backward is traced by torch.compile); O(N D), small beside the forward's O(N Q D)
    g = C.lp_pow_grad(diff, p, q, C.lp_norm_scaled(diff, p)) * grad_values[:, None]
    grad_bank = torch.zeros_like(bank).index_add_(0, idx, -g) if ctx.needs_input_grad[1] else None
    return g, grad_bank, None, None, None, None


_min_distance_op.register_autograd(_backward, setup_context=_setup)


def min_distance(x: torch.Tensor, bank: torch.Tensor, p: float = 2.0, q: float = 1.0, *, backend: str = "auto"):
    """Distance from each query to its nearest bank sample.

    Args:
        x: [N, ...] queries, flattened to [N, D].
        bank: [Q, ...] samples, flattened to [Q, D]; Q >= 1.
        p: norm order in [1, inf]; q: power > 0.
        backend: "auto" | "torch" | "cpu" | "cuda" | "triton".
    Returns:
        values: [N] in x's dtype, min_j ||x_i - bank_j||_p^q, differentiable w.r.t. x and bank.
        indices: [N] int64, the argmin (lowest index on ties).

    Values are right wherever they are representable in the dtype, at any magnitude (e.g. rows
    ~1e20 in float32, whose squared norms overflow); the search then runs on x and bank scaled by
    one power of two (see omasgan.ops._common, "Numerics", for the one limit of that).

    A bank that is not a tensor on x's device (a CPU tensor for CUDA queries, an np.ndarray or
    np.memmap, a path to a .npy file, an iterable of chunks) is streamed: see omasgan.ops.streaming.
    """
    host_bank = isinstance(bank, torch.Tensor) and bank.device.type == "cpu"
    if not isinstance(bank, torch.Tensor) or (host_bank and isinstance(x, torch.Tensor) and x.device.type != "cpu"):
        return C.streamed_min_distance(x, bank, p, q, backend=backend)  # omasgan.ops.streaming
    C.check_tensor(x, "x")
    C.check_tensor(bank, "bank")
    C.check_same_device(x=x, bank=bank)
    p, q = C.check_p_q(p, q)
    x2, bank2 = C.rows(x, "x"), C.rows(bank, "bank")
    if bank2.shape[0] == 0:
        raise ValueError("bank must hold at least one sample, got Q = 0")
    C.check_features(x2, "x", bank2, "bank")
    amax = max(C.check_finite(x2, "x"), C.check_finite(bank2, "bank"))  # -1.0 inside torch.compile
    backend = C.resolve_backend(backend, x.device)
    dtype = C.compute_dtype(x, bank)
    values, indices = _min_distance_op(C.prepare(x2, dtype), C.prepare(bank2, dtype), p, q, backend, amax)
    return values.to(x.dtype), indices
