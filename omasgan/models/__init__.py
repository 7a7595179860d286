"""Model registry: name -> Detector subclass.

Other models register here by adding one entry (`MODELS["ganomaly"] = GANomaly`); the CLI's
`--model` choices and `Detector.load` of a saved file both look names up in `MODELS`.
"""
from __future__ import annotations

from omasgan.models.anogan import AnoGAN
from omasgan.models.base import Detector, DetectorConfig
from omasgan.models.ganomaly import GANomaly
from omasgan.models.knn import NearestNeighbour
from omasgan.models.omasgan import OMASGAN

MODELS: dict[str, type[Detector]] = {"omasgan": OMASGAN, "ganomaly": GANomaly, "anogan": AnoGAN, "knn": NearestNeighbour}


def get_model(name: str) -> type[Detector]:
    """The Detector class registered under `name`."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {', '.join(sorted(MODELS))}; got {name!r}")
    return MODELS[name]


__all__ = ["MODELS", "Detector", "DetectorConfig", "get_model"]
