"""The eight f-divergences of the variational (f-GAN) bound (docs/method.md in the repository, section 1).

A critic returns a raw value v. Each divergence has an output activation g(v) and the conjugate
f*(t) evaluated at t = g(v). f*(g(v)) is always computed in its stable closed form, never by
composing f* with g (that overflows, or takes the log of a non-positive number). Pearson's
v^2/4 + v is evaluated as v (v/4 + 1), which stays finite wherever the value is representable
(v * v overflows float32 from |v| ~ 1.8e19, the value only from ~3.7e19).

    bound(P, Q) = E_P[g(v)] - E_Q[f*(g(v))]   (the op: omasgan.ops.f_divergence_bound)

Each entry also carries both derivatives, which the fused kernels use and the tests check against
autograd.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

Fn = Callable[[torch.Tensor], torch.Tensor]
LOG2 = math.log(2.0)


@dataclass(frozen=True)
class Divergence:
    """One f-divergence: g, f*(g) and their derivatives in v, all elementwise on [*] tensors."""

    name: str
    code: int  # index shared with the C++/CUDA/Triton kernels
    g: Fn
    fstar_g: Fn
    dg: Fn
    dfstar_g: Fn


_TABLE = [
    Divergence("kl", 0,
               g=lambda v: v, fstar_g=lambda v: torch.exp(v - 1),
               dg=torch.ones_like, dfstar_g=lambda v: torch.exp(v - 1)),
    Divergence("reverse_kl", 1,
               g=lambda v: -torch.exp(-v), fstar_g=lambda v: v - 1,
               dg=lambda v: torch.exp(-v), dfstar_g=torch.ones_like),
    Divergence("pearson", 2,
               g=lambda v: v, fstar_g=lambda v: v * (v / 4 + 1),
               dg=torch.ones_like, dfstar_g=lambda v: v / 2 + 1),
    Divergence("neyman", 3,
               g=lambda v: -torch.expm1(-v), fstar_g=lambda v: -2 * torch.expm1(-v / 2),
               dg=lambda v: torch.exp(-v), dfstar_g=lambda v: torch.exp(-v / 2)),
    Divergence("squared_hellinger", 4,
               g=lambda v: -torch.expm1(-v), fstar_g=torch.expm1,
               dg=lambda v: torch.exp(-v), dfstar_g=torch.exp),
    Divergence("jensen_shannon", 5,
               g=lambda v: LOG2 - F.softplus(-v), fstar_g=lambda v: F.softplus(v) - LOG2,
               dg=lambda v: torch.sigmoid(-v), dfstar_g=torch.sigmoid),
    Divergence("gan", 6,
               g=lambda v: -F.softplus(-v), fstar_g=F.softplus,
               dg=lambda v: torch.sigmoid(-v), dfstar_g=torch.sigmoid),
    Divergence("total_variation", 7,
               g=lambda v: torch.tanh(v) / 2, fstar_g=lambda v: torch.tanh(v) / 2,
               dg=lambda v: (1 - torch.tanh(v) ** 2) / 2, dfstar_g=lambda v: (1 - torch.tanh(v) ** 2) / 2),
]

NEYMAN_CODE = 3


def resolve_infinite_difference(code: int, value: torch.Tensor, v_p: torch.Tensor, v_q: torch.Tensor) -> torch.Tensor:
    """Replaces the NaN of -inf - (-inf) by the infinity the true value has (Neyman only).

    Neyman's g(v) = 1 - e^-v and f*(g(v)) = 2 - 2 e^(-v/2) both fall to -inf, so once critic values
    pass about -88 (float32) on both sides, E_P[g] - E_Q[f*(g)] evaluates to -inf - (-inf) = NaN.
    The true value is then -e^A + e^B up to terms of order 1, with A = log mean_P e^-v and
    B = log 2 + log mean_Q e^(-v/2) (both far beyond the dtype's range, or the means would not have
    overflowed): its sign is that of B - A and its magnitude overflows, so it is +inf or -inf.
    v_q may hold one value per element of `value` (the score) or be reduced by its mean (the bound).
    Every other divergence has at most one side that can overflow, so its value is never NaN.
    """
    if code != NEYMAN_CODE:
        return value
    nan = torch.isnan(value)
    if not torch.compiler.is_compiling() and not bool(nan.any()):
        return value
    a = torch.logsumexp(-v_p.double().reshape(-1), 0) - math.log(v_p.numel())
    if value.dim() == 0:
        b = LOG2 + torch.logsumexp(-v_q.double().reshape(-1) / 2, 0) - math.log(v_q.numel())
    else:
        b = LOG2 - v_q.double() / 2
    sign = torch.sign(b - a)
    fix = torch.where(sign == 0, torch.full_like(sign, math.nan), sign * math.inf).to(value.dtype)
    return torch.where(nan, fix, value)


DIVERGENCES: dict[str, Divergence] = {d.name: d for d in _TABLE}
NAMES = tuple(DIVERGENCES)


def get(name: str | Divergence) -> Divergence:
    """The divergence called `name`; raises ValueError listing the known names otherwise."""
    if isinstance(name, Divergence):
        return name
    try:
        return DIVERGENCES[name]
    except (KeyError, TypeError):
        raise ValueError(f"divergence must be one of {', '.join(NAMES)}; got {name!r}") from None
