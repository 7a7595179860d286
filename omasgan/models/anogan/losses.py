"""AnoGAN's losses: the DCGAN game it trains with, and the latent-search loss it scores with.

Schlegl et al. (2017): a query x is mapped to the latent z whose image G(z) is closest to it,

    L(z; x) = (1 - lam) * ||x - G(z)||_1 + lam * ||f(x) - f(G(z))||_1

with f the discriminator's features (the "discrimination" loss of the feature-matching variant),
and the anomaly score is L at the end of the search.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE of D on real (label 1) and generated (label 0) images; logits [B] each -> scalar."""
    return F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss -E[log D(G(z))]; logits [B] -> scalar."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def residual_loss(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """||x - x_hat||_1 per sample: [B, ...] x2 -> [B]."""
    return (x - x_hat).abs().flatten(1).sum(1)


def search_loss(
    x: torch.Tensor, x_hat: torch.Tensor, feat_x: torch.Tensor, feat_hat: torch.Tensor, lam: float
) -> torch.Tensor:
    """(1 - lam) * residual + lam * feature residual, per sample: images [B, C, H, W], features
    [B, ...] -> [B]. Per-sample so that a batch of searches stays a batch of independent ones."""
    return (1.0 - lam) * residual_loss(x, x_hat) + lam * residual_loss(feat_x, feat_hat)
