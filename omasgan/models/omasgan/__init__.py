"""OMASGAN: boundary samples from an f-GAN, active negative training, a discriminator-based score."""
from omasgan.models.omasgan.model import OMASGAN, OMASGANConfig

__all__ = ["OMASGAN", "OMASGANConfig"]
