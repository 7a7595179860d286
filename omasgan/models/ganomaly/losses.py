"""GANomaly's generator losses (Akcay et al., 2018) and its latent anomaly score (the
discriminator's BCE is the DCGAN one, `omasgan.models.dcgan.discriminator_loss`).

The three generator terms are per-element means, as in the authors' code, so that the default
weights w_adv = 1, w_con = 50, w_enc = 1 keep the balance they were tuned for.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def generator_losses(
    x: torch.Tensor,
    x_rec: torch.Tensor,
    z: torch.Tensor,
    z_rec: torch.Tensor,
    feat_real: torch.Tensor,
    feat_fake: torch.Tensor,
    *,
    w_adv: float = 1.0,
    w_con: float = 50.0,
    w_enc: float = 1.0,
) -> dict[str, torch.Tensor]:
    """The generator's weighted loss and its three parts (scalars).

    Args:
        x, x_rec: [B, C, H, W] input and reconstruction G_D(G_E(x)).
        z, z_rec: [B, nz] latent codes G_E(x) and E(x_rec).
        feat_real, feat_fake: [B, ...] discriminator features of x and x_rec.
    Returns:
        {"loss": w_adv * adv + w_con * con + w_enc * enc, "adv": ..., "con": ..., "enc": ...} with
        adv = mean (f(x) - f(x_rec))^2 (feature matching), con = mean |x - x_rec|,
        enc = mean (z - z_rec)^2.
    """
    adv = F.mse_loss(feat_fake, feat_real.detach())
    con = F.l1_loss(x_rec, x)
    enc = F.mse_loss(z_rec, z)
    return {"loss": w_adv * adv + w_con * con + w_enc * enc, "adv": adv, "con": con, "enc": enc}


def anomaly_score(z: torch.Tensor, z_rec: torch.Tensor) -> torch.Tensor:
    """mean_k (z - z_rec)_k^2 per sample: [B, nz] x2 -> [B] (higher = more anomalous)."""
    return (z - z_rec).pow(2).flatten(1).mean(1)
