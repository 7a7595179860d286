"""f-divergence bound and score (METHOD.md sections 1 and 2).

f_divergence_bound reads each input once in the forward (the bound only) and once in the backward,
which writes both gradients, already scaled by the upstream gradient, in that same pass. Computing
the gradients in the forward instead would hold 2 x N values between the passes and cost a second
pass to scale them (benchmarks/RESULTS.md has the measurement).
"""
from __future__ import annotations

import torch

from omasgan import divergences
from omasgan.ops import _common as C


def reference(v_p: torch.Tensor, v_q: torch.Tensor, code: int) -> torch.Tensor:
    """v_p: [Np], v_q: [Nq] -> 0-d bound mean g(v_p) - mean f*(g(v_q)), unfused."""
    div = divergences._TABLE[code]
    return divergences.resolve_infinite_difference(code, div.g(v_p).mean() - div.fstar_g(v_q).mean(), v_p, v_q)


def reference_backward(grad: torch.Tensor, v_p: torch.Tensor, v_q: torch.Tensor, code: int):
    """grad: 0-d -> (grad_p [Np], grad_q [Nq]) of the bound."""
    div = divergences._TABLE[code]
    return grad * div.dg(v_p) / v_p.numel(), -grad * div.dfstar_g(v_q) / v_q.numel()


# backend -> (forward, backward) of the bound: one entry per backend of omasgan.ops._common.REGISTRY
KERNELS = C.KernelTable(
    "f_divergence_bound",
    torch=C.given(reference, reference_backward),
    cpu=C.extension("f_divergence_bound_cpu", "f_divergence_bound_backward_cpu"),
    cuda=C.extension("f_divergence_bound_cuda", "f_divergence_bound_backward_cuda"),
    triton=C.module_functions("omasgan.kernels.f_divergence", "f_divergence_bound", "f_divergence_bound_backward"),
)



@torch.library.custom_op("omasgan::f_divergence_bound", mutates_args=())
def _bound_op(v_p: torch.Tensor, v_q: torch.Tensor, code: int, backend: str) -> torch.Tensor:
    return KERNELS(backend)[0](v_p, v_q, code)


@_bound_op.register_fake
def _(v_p, v_q, code, backend):
    return v_p.new_empty(())


@torch.library.custom_op("omasgan::f_divergence_bound_backward", mutates_args=())
def _bound_backward_op(
    grad: torch.Tensor, v_p: torch.Tensor, v_q: torch.Tensor, code: int, backend: str
) -> tuple[torch.Tensor, torch.Tensor]:
    return KERNELS(backend)[1](grad, v_p, v_q, code)


@_bound_backward_op.register_fake
def _(grad, v_p, v_q, code, backend):
    return torch.empty_like(v_p), torch.empty_like(v_q)


def _setup(ctx, inputs, output):
    v_p, v_q, ctx.code, ctx.backend = inputs
    ctx.save_for_backward(v_p, v_q)


def _backward(ctx, grad):
    v_p, v_q = ctx.saved_tensors
    grad_p, grad_q = _bound_backward_op(grad, v_p, v_q, ctx.code, ctx.backend)
    return grad_p, grad_q, None, None


_bound_op.register_autograd(_backward, setup_context=_setup)


def _check_values(v: torch.Tensor, name: str) -> torch.Tensor:
    C.check_tensor(v, name)
    v = v.reshape(-1)
    _check_nonempty(v, names=(name,))
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
    a = C.op_inputs({"v_p": v_p, "v_q": v_q}, backend, flatten="vector", check=_check_nonempty)
    return _bound_op(*a.tensors, div.code, a.backend).to(v_p.dtype)


def _check_nonempty(*values: torch.Tensor, names=("v_p", "v_q")) -> None:
    for v, name in zip(values, names):
        if v.numel() == 0:
            raise ValueError(f"{name} must hold at least one critic value, got an empty tensor")


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
    v_bank, v_query = v_bank.to(dtype), v_query.to(dtype)
    score = divergences.resolve_infinite_difference(
        div.code, div.g(v_bank).mean() - div.fstar_g(v_query), v_bank, v_query
    )
    return score.to(v_query.dtype)
