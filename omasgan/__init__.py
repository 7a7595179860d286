"""omasgan: GAN-based anomaly detection (OMASGAN, GANomaly, AnoGAN) on fused kernels."""
from omasgan import divergences, ops

__version__ = "0.1.0"
__all__ = ["OMASGAN", "divergences", "ops", "__version__"]


def __getattr__(name):
    # The models pull in the networks, the engine and matplotlib: import them on first use only.
    if name == "OMASGAN":
        from omasgan.models.omasgan import OMASGAN

        return OMASGAN
    raise AttributeError(f"module 'omasgan' has no attribute {name!r}")
