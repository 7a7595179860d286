"""omasgan: GAN-based anomaly detection (OMASGAN, GANomaly, AnoGAN) on fused kernels."""
from omasgan import divergences, ops

__version__ = "0.1.0"
__all__ = ["divergences", "ops", "__version__"]
