"""GANomaly's encoder-decoder-encoder generator.

For [C, 32, 32] images the encoders are the GANomaly authors' DCGAN encoder: strided 4x4
convolutions without bias, BatchNorm after every one but the first, LeakyReLU(0.2), and a last
4x4 convolution from the 4x4 feature map to the latent code. (Our first version reused the
critic's body, without BatchNorm and with a linear head; on the MNIST dev split, classes 0, 4 and
9, it reached 0.617 mean AUROC where this encoder reaches 0.732 and anomalib 2.7's GANomaly 0.722,
benchmarks/peers/README.md.) The decoder is the shared DCGAN generator. Any other shape uses the
shared MLPs (`omasgan.nets`).
"""
from __future__ import annotations

import torch
from torch import nn

from omasgan.nets import is_dcgan_shape, make_encoder, make_generator


class DCGANEncoder(nn.Module):
    """[N, channels, 32, 32] -> [N, latent_dim]: 32 -> 16 -> 8 -> 4 -> 1, BatchNorm after conv 2 and 3."""

    def __init__(self, channels: int, latent_dim: int, width: int = 32):
        super().__init__()
        w = width
        self.layers = nn.Sequential(
            nn.Conv2d(channels, w, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2, True),
            nn.Conv2d(4 * w, latent_dim, 4, 1, 0, bias=False),
            nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _encoder(data_shape: tuple[int, ...], latent_dim: int, width: int, hidden: int) -> nn.Module:
    if is_dcgan_shape(tuple(data_shape)):
        return DCGANEncoder(data_shape[0], latent_dim, width)
    return make_encoder(data_shape, latent_dim, width, hidden)


class EncoderDecoderEncoder(nn.Module):
    """x -> z = G_E(x) -> x_rec = G_D(z) -> z_rec = E(x_rec)."""

    def __init__(self, data_shape: tuple[int, ...], latent_dim: int, width: int = 32, hidden: int = 128):
        super().__init__()
        self.encoder = _encoder(data_shape, latent_dim, width, hidden)
        self.decoder = make_generator(data_shape, latent_dim, width, hidden)
        self.reencoder = _encoder(data_shape, latent_dim, width, hidden)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B, *data_shape] -> (x_rec [B, *data_shape], z [B, latent_dim], z_rec [B, latent_dim])."""
        z = self.encoder(x)
        x_rec = self.decoder(z)
        return x_rec, z, self.reencoder(x_rec)
