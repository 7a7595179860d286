"""omasgan: GAN-based anomaly detection (OMASGAN, GANomaly, AnoGAN) on fused kernels.

    import omasgan
    det = omasgan.OMASGAN(contamination=0.05).fit(X)      # PyOD's interface, scikit-learn estimators
    det.decision_function(X_new); det.predict(X_new)
    det.save("model.pt"); omasgan.load("model.pt")
"""
import importlib

from omasgan.models import registry as _registry

__version__ = "0.1.0"
__all__ = [*(entry.class_name for entry in _registry.ENTRIES.values()), "load", "divergences", "ops", "__version__"]


def __getattr__(name):
    # Everything pulls in torch (the models also scikit-learn and matplotlib): import on first use,
    # so `omasgan --help` and `omasgan --version` answer at once.
    if name in ("ops", "divergences"):
        return importlib.import_module(f"omasgan.{name}")
    for entry in _registry.ENTRIES.values():  # the detectors, by class name (omasgan.OMASGAN)
        if entry.class_name == name:
            return entry.load()
    if name == "load":
        from omasgan.models import load

        return load
    raise AttributeError(f"module 'omasgan' has no attribute {name!r}")
