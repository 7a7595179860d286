"""AnoGAN's latent-search loss (it trains with the DCGAN game of `omasgan.models.dcgan`).

Schlegl et al. (2017): a query x is mapped to the latent z whose image G(z) is closest to it,

    L(z; x) = (1 - lam) * ||x - G(z)||_1 + lam * ||f(x) - f(G(z))||_1

with f the discriminator's features (the "discrimination" loss of the feature-matching variant),
and the anomaly score is L at the end of the search.
"""
from __future__ import annotations

import torch


def residual_loss(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """||x - x_hat||_1 per sample: [B, ...] x2 -> [B]."""
    return (x - x_hat).abs().flatten(1).sum(1)


def search_loss(
    x: torch.Tensor, x_hat: torch.Tensor, feat_x: torch.Tensor, feat_hat: torch.Tensor, lam: float
) -> torch.Tensor:
    """(1 - lam) * residual + lam * feature residual, per sample: images [B, C, H, W], features
    [B, ...] -> [B]. Per-sample so that a batch of searches stays a batch of independent ones."""
    return (1.0 - lam) * residual_loss(x, x_hat) + lam * residual_loss(feat_x, feat_hat)
