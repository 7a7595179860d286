"""f-divergence bound and score (METHOD.md sections 1 and 2).

f_divergence_bound fuses the two means and their gradients into one pass over the values: the
forward kernel returns (bound, d bound / d v_p, d bound / d v_q), and the backward only scales
the saved gradients.
"""
from __future__ import annotations

import torch

from omasgan import _ext, divergences
from omasgan.ops import _common as C


def reference(v_p: torch.Tensor, v_q: torch.Tensor, code: int, need_grad: bool):
    """v_p: [Np], v_q: [Nq] -> (bound 0-d, grad_p [Np], grad_q [Nq]); grads empty if not need_grad."""
    div = divergences._TABLE[code]
    value = div.g(v_p).mean() - div.fstar_g(v_q).mean()
    if not need_grad:
        return value, v_p.new_empty(0), v_q.new_empty(0)
    return value, div.dg(v_p) / v_p.numel(), -div.dfstar_g(v_q) / v_q.numel()


def _kernel(backend: str):
    if backend == "torch":
        return reference
    if backend in ("cpu", "cuda"):
        return _ext.kernel(f"f_divergence_bound_{backend}")
    from omasgan.kernels import f_divergence as tk

    return tk.f_divergence_bound


@torch.library.custom_op("omasgan::f_divergence_bound", mutates_args=())
def _bound_op(
    v_p: torch.Tensor, v_q: torch.Tensor, code: int, need_grad: bool, backend: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _kernel(backend)(v_p, v_q, code, need_grad)


@_bound_op.register_fake
def _(v_p, v_q, code, need_grad, backend):
    n_p, n_q = (v_p.shape[0], v_q.shape[0]) if need_grad else (0, 0)
    return v_p.new_empty(()), v_p.new_empty(n_p), v_q.new_empty(n_q)


def _setup(ctx, inputs, output):
    ctx.save_for_backward(output[1], output[2])


def _backward(ctx, grad, _g1, _g2):
    grad_p, grad_q = ctx.saved_tensors
    if grad_p.numel() == 0 and grad_q.numel() == 0:
        raise RuntimeError("f_divergence_bound was called without gradients; this should not happen")
    return grad * grad_p, grad * grad_q, None, None, None


_bound_op.register_autograd(_backward, setup_context=_setup)


def _check_values(v: torch.Tensor, name: str) -> torch.Tensor:
    C.check_tensor(v, name)
    v = v.reshape(-1)
    if v.numel() == 0:
        raise ValueError(f"{name} must hold at least one critic value, got an empty tensor")
    C.check_finite(v, name)
    return v


def f_divergence_bound(v_p: torch.Tensor, v_q: torch.Tensor, divergence: str = "pearson", *, backend: str = "auto"):
    """Variational lower bound E_P[g(v_p)] - E_Q[f*(g(v_q))] of D_f(P || Q).

    Args:
        v_p: [Np] (any shape, flattened) raw critic values on samples of P.
        v_q: [Nq] raw critic values on samples of Q.
        divergence: one of `omasgan.divergences.NAMES`.
    Returns:
        0-d tensor in v_p's dtype, differentiable w.r.t. v_p and v_q.
    """
    div = divergences.get(divergence)
    v_p, v_q = _check_values(v_p, "v_p"), _check_values(v_q, "v_q")
    C.check_same_device(v_p=v_p, v_q=v_q)
    backend = C.resolve_backend(backend, v_p.device)
    dtype = C.compute_dtype(v_p, v_q)
    need_grad = torch.is_grad_enabled() and (v_p.requires_grad or v_q.requires_grad)
    value, _, _ = _bound_op(C.prepare(v_p, dtype), C.prepare(v_q, dtype), div.code, need_grad, backend)
    return value.to(v_p.dtype)


def f_divergence_score(v_query: torch.Tensor, v_bank: torch.Tensor, divergence: str = "pearson"):
    """fD(G', delta_x*) = E_bank[g(v)] - f*(g(v_query)), the f-divergence term of the anomaly score.

    Args:
        v_query: [N] raw critic values C(x*) of the queries.
        v_bank: [Q] raw critic values C(G'(z_j)) of a bank of generator samples.
    Returns:
        [N] in v_query's dtype; small where the critic finds the query normal.
    """
    div = divergences.get(divergence)
    v_query, v_bank = C.check_tensor(v_query, "v_query").reshape(-1), _check_values(v_bank, "v_bank")
    C.check_finite(v_query, "v_query")
    C.check_same_device(v_query=v_query, v_bank=v_bank)
    dtype = C.compute_dtype(v_query, v_bank)
    return (div.g(v_bank.to(dtype)).mean() - div.fstar_g(v_query.to(dtype))).to(v_query.dtype)
