"""dispersion: the spread term s of Stage 2, over ALL rows i (METHOD.md section 2).

    s = 1/N sum_i 1/(N-1) sum_{j != i} ||z_i - z_j||_p^q / (eps + ||b_i - b_j||_p^q)

The kernels visit each pair once in the forward and once in the backward, with no N x N x D
tensor. The reference below builds the two N x N distance matrices and is the oracle.
"""
from __future__ import annotations

import torch

from omasgan.ops import _common as C
from omasgan.ops.pairwise_distance import reference as _pairwise, reference_backward as _pairwise_backward


def _off_diagonal(n: int, like: torch.Tensor) -> torch.Tensor:
    return ~torch.eye(n, dtype=torch.bool, device=like.device)


def _norms(t: torch.Tensor, p: float):
    """(pair norms in t's dtype, the same in float64)."""
    norm = _pairwise(t, t, p, 1.0)
    return norm, norm.double()


def reference(z: torch.Tensor, b: torch.Tensor, p: float, q: float, eps: float) -> torch.Tensor:
    """z: [N, Dz], b: [N, Db] -> 0-d tensor.

    The pair norms come in the dtype (right wherever representable); their q-th powers and the
    ratios are taken in float64, where eps stays exact (1e-50 is 0 in float32, and eps^2 of a
    float32 eps = 1e-20 underflows) and ||.||^q of a representable norm cannot overflow.
    """
    n = z.shape[0]
    ratio = _norms(z, p)[1].pow(q) / (eps + _norms(b, p)[1].pow(q))
    return (ratio[_off_diagonal(n, z)].sum() / (n * (n - 1))).to(z.dtype)


def reference_backward(grad, z, b, p, q, eps):
    """grad: 0-d -> (grad_z [N, Dz], grad_b [N, Db])."""
    n = z.shape[0]
    (nz, nz64), (nb, nb64) = _norms(z, p), _norms(b, p)
    dz, db = nz64.pow(q), nb64.pow(q)
    scale = grad.double() * _off_diagonal(n, z) / (n * (n - 1))
    # Weights of d||u||/du per pair (pairwise backward with q = 1), formed in float64:
    # d(ratio)/d||u_z|| = q ||u_z||^(q-1) / (eps + B),  d(ratio)/d||u_b|| = -A q ||u_b||^(q-1) / (eps + B)^2,
    # zero where the pair coincides (the zero subgradient).
    inv = 1.0 / (eps + db)
    gz = torch.where(nz64 > 0, scale * q * nz64.pow(q - 1) * inv, 0.0)
    gb = torch.where(nb64 > 0, -scale * dz * inv * q * nb64.pow(q - 1) * inv, 0.0)
    # z appears as both x and y of its distance matrix: the two halves add.
    grad_z = sum(_pairwise_backward(gz.to(z.dtype), z, z, nz, p, 1.0))
    grad_b = sum(_pairwise_backward(gb.to(b.dtype), b, b, nb, p, 1.0))
    return grad_z, grad_b


# backend -> (forward, backward): one entry per backend of omasgan.ops._common.REGISTRY
KERNELS = C.KernelTable(
    "dispersion",
    torch=C.given(reference, reference_backward),
    cpu=C.extension("dispersion_cpu", "dispersion_backward_cpu"),
    cuda=C.extension("dispersion_cuda", "dispersion_backward_cuda"),
    triton=C.module_functions("omasgan.kernels.dispersion", "dispersion", "dispersion_backward"),
)



@torch.library.custom_op("omasgan::dispersion", mutates_args=())
def _dispersion_op(z: torch.Tensor, b: torch.Tensor, p: float, q: float, eps: float, backend: str) -> torch.Tensor:
    return KERNELS(backend)[0](z, b, p, q, eps)


@_dispersion_op.register_fake
def _(z, b, p, q, eps, backend):
    return b.new_empty(())


@torch.library.custom_op("omasgan::dispersion_backward", mutates_args=())
def _dispersion_backward_op(
    grad: torch.Tensor, z: torch.Tensor, b: torch.Tensor, p: float, q: float, eps: float, backend: str
) -> tuple[torch.Tensor, torch.Tensor]:
    return KERNELS(backend)[1](grad, z, b, p, q, eps)


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
        b: [N, ...] generated samples B(z) (flattened to [N, Db]); N >= 2 (N < 2 has no pairs:
            ValueError naming z and b).
        p: norm order in [1, inf]; q: power > 0; eps > 0 keeps coincident samples finite.
    Returns:
        0-d tensor in b's dtype, differentiable w.r.t. z and b. Pair norms are right at any
        magnitude, and their powers and ratios are formed in float64, so eps is exact whatever the
        dtype (1e-50 is 0 in float32) and the ratio of two huge distances stays finite.
    """
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not eps > 0 or eps == float("inf"):
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    a = C.op_inputs({"z": z, "b": b}, backend, p=p, q=q, check=_check_rows)
    return _dispersion_op(*a.tensors, a.p, a.q, float(eps), a.backend).to(b.dtype)


def _check_rows(z2: torch.Tensor, b2: torch.Tensor) -> None:
    if z2.shape[0] != b2.shape[0]:
        raise ValueError(f"z and b must have the same number of rows N, got z: {z2.shape[0]} and b: {b2.shape[0]}")
    if b2.shape[0] < 2:
        raise ValueError(
            f"z and b must hold at least 2 rows: dispersion averages over pairs i != j, and N = {b2.shape[0]} "
            "has none (a batch of 1 sample has no spread to measure)"
        )
