"""omasgan: GAN-based anomaly detection (OMASGAN, GANomaly, AnoGAN) on fused kernels.

    import omasgan
    det = omasgan.OMASGAN(contamination=0.05).fit(X)      # PyOD's interface, scikit-learn estimators
    det.decision_function(X_new); det.predict(X_new)
    det.save("model.pt"); omasgan.load("model.pt")
"""
import importlib

__version__ = "0.1.0"
_DETECTORS = {"OMASGAN": "omasgan", "GANomaly": "ganomaly", "AnoGAN": "anogan", "NearestNeighbour": "knn"}
__all__ = [*_DETECTORS, "load", "divergences", "ops", "__version__"]


def __getattr__(name):
    # Everything pulls in torch (the models also scikit-learn and matplotlib): import on first use,
    # so `omasgan --help` and `omasgan --version` answer at once.
    if name in ("ops", "divergences"):
        return importlib.import_module(f"omasgan.{name}")
    if name in _DETECTORS:
        from omasgan.models import get_model

        return get_model(_DETECTORS[name])
    if name == "load":
        from omasgan.models import load

        return load
    raise AttributeError(f"module 'omasgan' has no attribute {name!r}")
