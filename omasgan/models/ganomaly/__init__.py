"""GANomaly: encoder-decoder-encoder GAN scored by its latent reconstruction error."""
from omasgan.models.ganomaly.model import GANomaly, GANomalyConfig

__all__ = ["GANomaly", "GANomalyConfig"]
