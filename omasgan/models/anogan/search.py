"""Batched latent search: AnoGAN's score for a whole batch of queries in one optimisation.

The latent codes of B queries form one [B, nz] tensor under one Adam. The loss is the per-sample
search loss summed over the batch, so d(sum)/dz_i = dL_i/dz_i: each code gets its own gradient,
and since Adam is elementwise each code also gets its own moment estimates. With the networks in
eval mode (no batch statistics) the batch is therefore B independent searches, run as one tensor
program instead of B Python loops.
"""
from __future__ import annotations

from typing import Callable

import torch

from omasgan.models.anogan.losses import search_loss


def latent_search(
    generate: Callable[[torch.Tensor], torch.Tensor],
    features: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    z0: torch.Tensor,
    *,
    steps: int,
    lr: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Search latent codes for queries x, starting from z0.

    Args:
        generate: z [B, nz] -> images [B, C, H, W]; in eval mode, parameters frozen.
        features: images [B, C, H, W] -> features [B, ...] (the discriminator's), same.
        x: [B, C, H, W] queries.
        z0: [B, nz] starting codes.
        steps: Adam steps (>= 0); lr: Adam's learning rate; lam: weight of the feature term.
    Returns:
        scores: [B], the search loss at the final codes (higher = more anomalous).
        z: [B, nz], the final codes.
    """
    if x.shape[0] != z0.shape[0]:
        raise ValueError(f"x and z0 must have the same batch size, got {x.shape[0]} and {z0.shape[0]}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    with torch.no_grad():
        feat_x = features(x)
    z = z0.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        x_hat = generate(z)
        loss = search_loss(x, x_hat, feat_x, features(x_hat), lam).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        x_hat = generate(z)
        scores = search_loss(x, x_hat, feat_x, features(x_hat), lam)
    return scores, z.detach()
