"""OMASGAN's losses (METHOD.md section 2), as functions of critic values and samples.

Every f-divergence term goes through `omasgan.ops.f_divergence_bound` / `f_divergence_score`;
Stage 2's d term is `omasgan.ops.min_distance` over a bank, its s term `omasgan.ops.dispersion`.
Critic values are raw: [N] tensors straight out of a critic, before any output activation.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from omasgan import divergences
from omasgan.ops import dispersion, f_divergence_bound, min_distance

STAGE1_VARIANTS = ("fgan", "klwgan")


# ---------------------------------------------------------------------------------- stage 1
def gradient_penalty(critic: Callable, x: torch.Tensor, activation: Callable = lambda v: v) -> torch.Tensor:
    """E_x || grad_x activation(critic(x)) ||_2^2 on real data x [N, ...] (differentiable)."""
    x = x.detach().requires_grad_(True)
    out = activation(critic(x).float())
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.reshape(len(x), -1).pow(2).sum(dim=1).mean()


def klwgan_weights(v_fake: torch.Tensor, temperature: float) -> torch.Tensor:
    """Self-normalised importance weights w_i = N softmax_i(v_i / T), detached; [N] -> [N]."""
    v = v_fake.detach().float()
    return torch.softmax(v / temperature, dim=0) * len(v)


def critic_loss(v_real: torch.Tensor, v_fake: torch.Tensor, variant: str, divergence: str, temperature: float):
    """The stage-1 critic's loss without its gradient penalty (minimised by the critic).

    fgan: -(E_x[g(V(x))] - E_z[f*(g(V(G(z))))]); klwgan: hinge with importance-weighted fakes.
    """
    if variant == "fgan":
        return -f_divergence_bound(v_real.float(), v_fake.float(), divergence)
    w = klwgan_weights(v_fake, temperature)
    return torch.relu(1 - v_real.float()).mean() + (w * torch.relu(1 + v_fake.float())).mean()


def generator_loss(v_real: torch.Tensor, v_fake: torch.Tensor, variant: str, divergence: str, temperature: float):
    """The stage-1 generator's loss (minimised by G); v_real is only a constant offset for fgan.

    fgan: bound(data, G) with v_real detached, whose gradient is that of -E_z[f*(g(V(G(z))))];
    klwgan: -E_z[w V(G(z))].
    """
    if variant == "fgan":
        return f_divergence_bound(v_real.detach().float(), v_fake.float(), divergence)
    return -(klwgan_weights(v_fake, temperature) * v_fake.float()).mean()


# ---------------------------------------------------------------------------------- stage 2
def boundary_loss(
    v_real: torch.Tensor,
    v_boundary: torch.Tensor,
    z: torch.Tensor,
    boundary: torch.Tensor,
    bank: torch.Tensor,
    *,
    lambda_d: float,
    mu: float,
    p: float,
    q: float,
    variant: str,
    divergence: str,
    temperature: float,
    embed: Callable[[torch.Tensor], torch.Tensor] | None = None,
):
    """L_B = -m(B, G) + lambda d(B, G) + mu s(B, z) -> (total, {"m", "d", "s"}).

    m is stage 1's generator loss evaluated on B's samples (for fgan: bound(data, B), so -m has
    the gradient of E_z[f*(g(V(B(z))))]); d = mean_i min_j ||B(z_i) - bank_j||_p^q over the bank
    [Q, D]; s = dispersion(z, B(z)) over all rows. z: [N, Dz]; boundary: [N, ...]; bank: [Q, D].
    embed(boundary) -> [N, D]: the space of d and s (default: the flattened samples); the bank must
    already be in it.
    """
    m = generator_loss(v_real, v_boundary, variant, divergence, temperature)
    flat = embed(boundary) if embed is not None else boundary.float().reshape(len(boundary), -1)
    d = min_distance(flat, bank, p, q)[0].mean()
    s = dispersion(z.float(), flat, p, q)
    return -m + lambda_d * d + mu * s, {"m": m, "d": d, "s": s}


# ---------------------------------------------------------------------------------- stage 3
def mixture_bound(
    positives: Sequence[tuple[float, torch.Tensor]],
    negatives: Sequence[tuple[float, torch.Tensor]],
    divergence: str,
) -> torch.Tensor:
    """sum_P w_P E_P[g(v)] - sum_Q w_Q E_Q[f*(g(v))] for weights summing to 1 on each side.

    Written as sum_{P, Q} w_P w_Q bound(v_P, v_Q), which is exact because each side's weights sum
    to 1, so every term is one fused `f_divergence_bound` call.
    """
    total = 0.0
    for w_p, v_p in positives:
        for w_q, v_q in negatives:
            if w_p * w_q != 0:
                total = total + w_p * w_q * f_divergence_bound(v_p.float(), v_q.float(), divergence)
    return total


def active_negative_objective(
    v_data: torch.Tensor,
    v_generator: torch.Tensor,
    v_retrained: torch.Tensor,
    v_boundary: torch.Tensor,
    *,
    alpha: float,
    beta: float,
    divergence: str,
) -> torch.Tensor:
    """Stage 3's value, maximised by C and minimised by G':

        alpha E_x[g(C(x))] + (1 - alpha) E_z[g(C(G(z)))]
        - beta E_z[f*(g(C(G'(z))))] - (1 - beta) E_z[f*(g(C(B(z))))]

    (the talk's log C / log(1 - C) in f-divergence form). Each v_*: [N] critic values of C.
    """
    return mixture_bound(
        [(alpha, v_data), (1 - alpha, v_generator)],
        [(beta, v_retrained), (1 - beta, v_boundary)],
        divergence,
    )


# ---------------------------------------------------------------------------------- stage 4
def anomaly_discriminator_loss(v_data: torch.Tensor, v_retrained: torch.Tensor, v_boundary: torch.Tensor, gamma: float):
    """-(gamma E_x[log(1 - J(x))] + (1 - gamma) E_z[log(1 - J(G'(z)))] + E_z[log J(B(z))]).

    J returns logits; with the "gan" divergence, g(v) = log sigmoid(v) and f*(g(v)) =
    -log(1 - sigmoid(v)), so the objective is gamma bound(B, x) + (1 - gamma) bound(B, G').
    """
    return -mixture_bound([(1.0, v_boundary)], [(gamma, v_data), (1 - gamma, v_retrained)], "gan")


def divergence_activation(divergence: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """g of the divergence (the critic's output activation), for gradient penalties."""
    return divergences.get(divergence).g
