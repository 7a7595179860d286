"""Model registry: name -> Detector subclass, and `load` for a saved detector of any of them.

A new model registers by adding one entry to `MODELS`; the CLI's `--model` choices, `omasgan.load`
and the settings listing all look names up here.
"""
from __future__ import annotations

from pathlib import Path

from omasgan.checkpoint import load_checked
from omasgan.models.anogan import AnoGAN
from omasgan.models.base import MODEL_FORMAT, Detector, DetectorConfig
from omasgan.models.ganomaly import GANomaly
from omasgan.models.knn import NearestNeighbour
from omasgan.models.omasgan import OMASGAN

MODELS: dict[str, type[Detector]] = {"omasgan": OMASGAN, "ganomaly": GANomaly, "anogan": AnoGAN, "knn": NearestNeighbour}


def get_model(name: str) -> type[Detector]:
    """The Detector class registered under `name`."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {', '.join(sorted(MODELS))}; got {name!r}")
    return MODELS[name]


def load(path: str | Path, **runtime) -> Detector:
    """The fitted detector saved at `path` (any model); `runtime` changes runtime settings only
    (device, progress, score_batch_size, ...: see models.base.RUNTIME_SETTINGS)."""
    payload = load_checked(path, MODEL_FORMAT)
    return get_model(payload.get("model")).from_payload(payload, **runtime)


__all__ = ["MODELS", "Detector", "DetectorConfig", "get_model", "load"]
