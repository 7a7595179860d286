"""GANomaly's encoder-decoder-encoder generator, built from the shared DCGAN / MLP blocks."""
from __future__ import annotations

import torch
from torch import nn

from omasgan.nets import make_encoder, make_generator


class EncoderDecoderEncoder(nn.Module):
    """x -> z = G_E(x) -> x_rec = G_D(z) -> z_rec = E(x_rec).

    DCGAN convolutions for [C, 32, 32] data, MLPs for any other shape (see `omasgan.nets`).
    """

    def __init__(self, data_shape: tuple[int, ...], latent_dim: int, width: int = 32, hidden: int = 128):
        super().__init__()
        self.encoder = make_encoder(data_shape, latent_dim, width, hidden)
        self.decoder = make_generator(data_shape, latent_dim, width, hidden)
        self.reencoder = make_encoder(data_shape, latent_dim, width, hidden)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B, *data_shape] -> (x_rec [B, *data_shape], z [B, latent_dim], z_rec [B, latent_dim])."""
        z = self.encoder(x)
        x_rec = self.decoder(z)
        return x_rec, z, self.reencoder(x_rec)
