"""AnoGAN: a DCGAN on normal data, scored by a batched latent search."""
from omasgan.models.anogan.model import AnoGAN, AnoGANConfig

__all__ = ["AnoGAN", "AnoGANConfig"]
