"""The eight f-divergences of the variational (f-GAN) bound, METHOD.md section 1.

A critic returns a raw value v. Each divergence has an output activation g(v) and the conjugate
f*(t) evaluated at t = g(v). f*(g(v)) is always computed in its stable closed form, never by
composing f* with g (that overflows, or takes the log of a non-positive number).

    bound(P, Q) = E_P[g(v)] - E_Q[f*(g(v))]

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

    def bound(self, v_p: torch.Tensor, v_q: torch.Tensor) -> torch.Tensor:
        """Unfused E_P[g(v_p)] - E_Q[f*(g(v_q))]; see `omasgan.ops.f_divergence_bound`."""
        return self.g(v_p).mean() - self.fstar_g(v_q).mean()


_TABLE = [
    Divergence("kl", 0,
               g=lambda v: v, fstar_g=lambda v: torch.exp(v - 1),
               dg=torch.ones_like, dfstar_g=lambda v: torch.exp(v - 1)),
    Divergence("reverse_kl", 1,
               g=lambda v: -torch.exp(-v), fstar_g=lambda v: v - 1,
               dg=lambda v: torch.exp(-v), dfstar_g=torch.ones_like),
    Divergence("pearson", 2,
               g=lambda v: v, fstar_g=lambda v: v * v / 4 + v,
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
