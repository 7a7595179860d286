"""pairwise_distance: dist[i, j] = ||x_i - y_j||_p^q, with a fused backward.

The reference below is the float64 oracle for every other backend: it forms x_i - y_j
explicitly, in row chunks so memory stays bounded.
"""
from __future__ import annotations

import torch

from omasgan.ops import _common as C

_CHUNK_ELEMENTS = 1 << 24  # rows of x per chunk so that chunk * M * D stays near this


def _row_chunk(m: int, d: int) -> int:
    return max(1, _CHUNK_ELEMENTS // max(1, m * d))


def reference(x: torch.Tensor, y: torch.Tensor, p: float, q: float) -> torch.Tensor:
    """x: [N, D], y: [M, D] -> [N, M]."""
    out = x.new_empty(x.shape[0], y.shape[0])
    step = _row_chunk(y.shape[0], x.shape[1])
    for s in range(0, x.shape[0], step):
        diff = x[s : s + step, None, :] - y[None, :, :]
        out[s : s + step] = C.lp_norm(diff, p).pow(q)
    return out


def reference_backward(grad, x, y, dist, p, q):
    """grad: [N, M] -> (grad_x [N, D], grad_y [M, D])."""
    grad_x = torch.zeros_like(x)
    grad_y = torch.zeros_like(y)
    step = _row_chunk(y.shape[0], x.shape[1])
    for s in range(0, x.shape[0], step):
        diff = x[s : s + step, None, :] - y[None, :, :]
        norm = dist[s : s + step].pow(1.0 / q)
        g = C.lp_pow_grad(diff, p, q, norm) * grad[s : s + step, :, None]
        grad_x[s : s + step] = g.sum(1)
        grad_y -= g.sum(0)
    return grad_x, grad_y


# backend -> (forward, backward): one entry per backend of omasgan.ops._common.REGISTRY
KERNELS = C.KernelTable(
    "pairwise_distance",
    torch=C.given(reference, reference_backward),
    cpu=C.extension("pairwise_distance_cpu", "pairwise_distance_backward_cpu"),
    cuda=C.extension("pairwise_distance_cuda", "pairwise_distance_backward_cuda"),
    triton=C.module_functions("omasgan.kernels.pairwise_distance", "pairwise_distance", "pairwise_distance_backward"),
)



@torch.library.custom_op("omasgan::pairwise_distance", mutates_args=())
def _pairwise_op(x: torch.Tensor, y: torch.Tensor, p: float, q: float, backend: str) -> torch.Tensor:
    return KERNELS(backend)[0](x, y, p, q)


@_pairwise_op.register_fake
def _(x, y, p, q, backend):
    return x.new_empty(x.shape[0], y.shape[0])


@torch.library.custom_op("omasgan::pairwise_distance_backward", mutates_args=())
def _pairwise_backward_op(
    grad: torch.Tensor, x: torch.Tensor, y: torch.Tensor, dist: torch.Tensor, p: float, q: float, backend: str
) -> tuple[torch.Tensor, torch.Tensor]:
    return KERNELS(backend)[1](grad.contiguous(), x, y, dist, p, q)


@_pairwise_backward_op.register_fake
def _(grad, x, y, dist, p, q, backend):
    return torch.empty_like(x), torch.empty_like(y)


def _setup(ctx, inputs, output):
    x, y, p, q, backend = inputs
    ctx.save_for_backward(x, y, output)
    ctx.args = (p, q, backend)


def _backward(ctx, grad):
    x, y, dist = ctx.saved_tensors
    p, q, backend = ctx.args
    grad_x, grad_y = _pairwise_backward_op(grad, x, y, dist, p, q, backend)
    return grad_x, grad_y, None, None, None


_pairwise_op.register_autograd(_backward, setup_context=_setup)


def pairwise_distance(x: torch.Tensor, y: torch.Tensor, p: float = 2.0, q: float = 1.0, *, backend: str = "auto"):
    """All pairwise l_p distances raised to q.

    Args:
        x: [N, ...] queries, flattened to [N, D].
        y: [M, ...] flattened to [M, D].
        p: norm order in [1, inf]; q: power > 0.
    Returns:
        [N, M] in x's dtype, differentiable w.r.t. x and y; every entry is right wherever it is
        representable in the dtype (pairs whose power sum over- or underflows are recomputed from
        u / max |u|: omasgan.ops._common, "Numerics").
    """
    a = C.op_inputs({"x": x, "y": y}, backend, p=p, q=q, check=lambda x2, y2: C.check_features(x2, "x", y2, "y"))
    return unchecked_pairwise_distance(*a.tensors, a.p, a.q, a.backend).to(x.dtype)


def unchecked_pairwise_distance(x2: torch.Tensor, y2: torch.Tensor, p: float, q: float, backend: str) -> torch.Tensor:
    """The op on arguments already checked (what `C.op_inputs` gives: [N, D] and [M, D] contiguous on
    one device in one compute dtype, free of NaN/inf; p, q floats; backend concrete), in that dtype."""
    return _pairwise_op(x2, y2, p, q, backend)
