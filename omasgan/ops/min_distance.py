"""min_distance's in-memory op: the nearest bank sample of each query, values[i] = min_j ||x_i - bank_j||_p^q,
for a bank that is a tensor on x's device. The public `omasgan.ops.min_distance` (omasgan.ops.nearest)
dispatches here, to omasgan.ops.streaming or to omasgan.ops.sharded.

Never forms the N x Q matrix: every backend streams the bank and keeps a running (min, argmin)
per query, so memory beyond the inputs is O(N + Q). The backward gathers the N selected pairs
and touches nothing else.
"""
from __future__ import annotations

import torch

from omasgan.ops import _common as C
from omasgan.ops.pairwise_distance import reference as _pairwise_reference

_BANK_CHUNK_ELEMENTS = 1 << 24


def reference(x: torch.Tensor, bank: torch.Tensor, p: float, q: float):
    """x: [N, D], bank: [Q, D] -> (values [N], indices [N] int64), lowest index on ties."""
    n = x.shape[0]
    best = None
    step = max(1, _BANK_CHUNK_ELEMENTS // max(1, n * x.shape[1]))
    for s in range(0, bank.shape[0], step):
        # torch.min returns the first minimum of a row; merge_min keeps the lowest index across chunks
        v, i = _pairwise_reference(x, bank[s : s + step], p, 1.0).min(dim=1)
        best = C.merge_min(best, (v, i + s))
    return best[0].pow(q), best[1]


# backend -> kernel(x, bank, p, q): one entry per backend of omasgan.ops._common.REGISTRY
KERNELS = C.KernelTable(
    "min_distance",
    torch=C.given(reference),
    cpu=C.extension("min_distance_cpu"),
    cuda=C.extension("min_distance_cuda"),
    triton=C.module_functions("omasgan.kernels.min_distance", "min_distance"),
)



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
    return ranked_safely(KERNELS(backend), x, bank, p, q, amax)


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
    g = C.selected_pair_grad(x, bank[idx], p, q, grad_values)
    grad_bank = torch.zeros_like(bank).index_add_(0, idx, -g) if ctx.needs_input_grad[1] else None
    return g, grad_bank, None, None, None, None


_min_distance_op.register_autograd(_backward, setup_context=_setup)


def attach_gradient(x: torch.Tensor, values: torch.Tensor, rows: torch.Tensor, p: float, q: float) -> torch.Tensor:
    """values [N] (already computed, e.g. by a streamed or sharded search) as a function of x,
    through the selected bank rows [N, D], with the in-memory op's gradient; in x's dtype."""
    if torch.is_grad_enabled() and x.requires_grad:
        return _GatheredDistance.apply(C.rows(x, "x"), values, rows, p, q).to(x.dtype)
    return values.to(x.dtype)


class _GatheredDistance(torch.autograd.Function):
    """Forward: the given values. Backward: C.selected_pair_grad, as the in-memory op."""

    @staticmethod
    def forward(ctx, x2, values, rows, p, q):
        ctx.save_for_backward(x2, rows)
        ctx.args = (p, q)
        return values.clone()

    @staticmethod
    def backward(ctx, grad_values):
        x2, rows = ctx.saved_tensors
        p, q = ctx.args
        return C.selected_pair_grad(x2, rows, p, q, grad_values).to(x2.dtype), None, None, None, None


def _in_memory_min_distance(x: torch.Tensor, bank: torch.Tensor, p: float = 2.0, q: float = 1.0, *, backend: str = "auto"):
    """`omasgan.ops.min_distance` for a bank that is a tensor on x's device (see there)."""
    a = C.op_inputs({"x": x, "bank": bank}, backend, p=p, q=q, check=_check_shapes)
    values, indices = _unchecked_min_distance(*a.tensors, a.p, a.q, a.backend, a.amax)  # amax -1.0: inside torch.compile
    return values.to(x.dtype), indices


def _unchecked_min_distance(x2: torch.Tensor, bank2: torch.Tensor, p: float, q: float, backend: str, amax: float = -1.0):
    """The in-memory op on arguments already checked (what `C.op_inputs` gives): x2 [N, D] and bank2
    [Q >= 1, D] contiguous on one device in one compute dtype, free of NaN/inf; p, q floats; backend
    concrete; amax max |x2|, |bank2| (-1.0: unknown). Returns values in the compute dtype. For callers
    that check once and search many times (a streamed bank's chunks, leave-self-out's row chunks)."""
    return _min_distance_op(x2, bank2, p, q, backend, amax)


def check_bank_chunk(x2: torch.Tensor, chunk: torch.Tensor) -> float:
    """What is new about one more bank chunk for an already checked x2 [N, D] (its shape, no NaN/inf,
    the messages of the in-memory op); returns max |chunk|. The chunk must already be a float tensor
    on x2's device."""
    _check_shapes(x2, chunk)
    return C.check_finite(chunk, "bank")


def _check_shapes(x2: torch.Tensor, bank2: torch.Tensor) -> None:
    if bank2.shape[0] == 0:
        raise ValueError("bank must hold at least one sample, got Q = 0")
    C.check_features(x2, "x", bank2, "bank")
