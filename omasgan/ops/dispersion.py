"""dispersion: the spread term s of Stage 2, over ALL rows i (METHOD.md section 2).

    s = 1/N sum_i 1/(N-1) sum_{j != i} ||z_i - z_j||_p^q / (eps + ||b_i - b_j||_p^q)

The kernels visit each pair once in the forward and once in the backward, with no N x N x D
tensor. The reference below builds the two N x N distance matrices and is the oracle.
"""
from __future__ import annotations

import torch

from omasgan import _ext
from omasgan.ops import _common as C
from omasgan.ops.pairwise_distance import reference as _pairwise, reference_backward as _pairwise_backward


def _off_diagonal(n: int, like: torch.Tensor) -> torch.Tensor:
    return ~torch.eye(n, dtype=torch.bool, device=like.device)


def reference(z: torch.Tensor, b: torch.Tensor, p: float, q: float, eps: float) -> torch.Tensor:
    """z: [N, Dz], b: [N, Db] -> 0-d tensor."""
    n = z.shape[0]
    ratio = _pairwise(z, z, p, q) / (eps + _pairwise(b, b, p, q))
    return ratio[_off_diagonal(n, z)].sum() / (n * (n - 1))


def reference_backward(grad, z, b, p, q, eps):
    """grad: 0-d -> (grad_z [N, Dz], grad_b [N, Db])."""
    n = z.shape[0]
    dz, db = _pairwise(z, z, p, q), _pairwise(b, b, p, q)
    scale = grad * _off_diagonal(n, z) / (n * (n - 1))
    gz = scale / (eps + db)
    gb = -scale * dz / (eps + db) ** 2
    # z appears as both x and y of its distance matrix: the two halves add.
    grad_z = sum(_pairwise_backward(gz, z, z, dz, p, q))
    grad_b = sum(_pairwise_backward(gb, b, b, db, p, q))
    return grad_z, grad_b


def _kernels(backend: str):
    if backend == "torch":
        return reference, reference_backward
    if backend in ("cpu", "cuda"):
        return _ext.kernel(f"dispersion_{backend}"), _ext.kernel(f"dispersion_backward_{backend}")
    from omasgan.kernels import dispersion as tk

    return tk.dispersion, tk.dispersion_backward


@torch.library.custom_op("omasgan::dispersion", mutates_args=())
def _dispersion_op(z: torch.Tensor, b: torch.Tensor, p: float, q: float, eps: float, backend: str) -> torch.Tensor:
    return _kernels(backend)[0](z, b, p, q, eps)


@_dispersion_op.register_fake
def _(z, b, p, q, eps, backend):
    return b.new_empty(())


@torch.library.custom_op("omasgan::dispersion_backward", mutates_args=())
def _dispersion_backward_op(
    grad: torch.Tensor, z: torch.Tensor, b: torch.Tensor, p: float, q: float, eps: float, backend: str
) -> tuple[torch.Tensor, torch.Tensor]:
    return _kernels(backend)[1](grad, z, b, p, q, eps)


@_dispersion_backward_op.register_fake
def _(grad, z, b, p, q, eps, backend):
    return torch.empty_like(z), torch.empty_like(b)


def _setup(ctx, inputs, output):
    z, b, p, q, eps, backend = inputs
    ctx.save_for_backward(z, b)
    ctx.args = (p, q, eps, backend)


def _backward(ctx, grad):
    z, b = ctx.saved_tensors
    grad_z, grad_b = _dispersion_backward_op(grad, z, b, *ctx.args)
    return grad_z, grad_b, None, None, None, None


_dispersion_op.register_autograd(_backward, setup_context=_setup)


def dispersion(z: torch.Tensor, b: torch.Tensor, p: float = 2.0, q: float = 1.0, eps: float = 1e-8, *, backend: str = "auto"):
    """Mean over all ordered pairs i != j of ||z_i - z_j||_p^q / (eps + ||b_i - b_j||_p^q).

    Args:
        z: [N, ...] latent codes (flattened to [N, Dz]).
        b: [N, ...] generated samples B(z) (flattened to [N, Db]); N >= 2.
        p: norm order in [1, inf]; q: power > 0; eps > 0 keeps coincident samples finite.
    Returns:
        0-d tensor in b's dtype, differentiable w.r.t. z and b.
    """
    C.check_tensor(z, "z")
    C.check_tensor(b, "b")
    C.check_same_device(z=z, b=b)
    p, q = C.check_p_q(p, q)
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not eps > 0 or eps == float("inf"):
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    z2, b2 = C.rows(z, "z"), C.rows(b, "b")
    if z2.shape[0] != b2.shape[0]:
        raise ValueError(f"z and b must have the same number of rows N, got z: {z2.shape[0]} and b: {b2.shape[0]}")
    if b2.shape[0] < 2:
        raise ValueError(f"dispersion needs at least 2 rows (it averages over pairs), got N = {b2.shape[0]}")
    C.check_finite(z2, "z")
    C.check_finite(b2, "b")
    backend = C.resolve_backend(backend, b.device)
    dtype = C.compute_dtype(z, b)
    out = _dispersion_op(C.prepare(z2, dtype), C.prepare(b2, dtype), p, q, float(eps), backend)
    return out.to(b.dtype)
