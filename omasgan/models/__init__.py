"""The models: name -> Detector subclass (`MODELS`, `get_model`), and `load` for a saved detector of any of them.

The names come from `omasgan.models.registry` (one entry per model; see README "Adding a model").
Importing this package imports no model: each class is imported the first time it is asked for.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from omasgan.models import registry


class _Models(Mapping):
    """name -> Detector subclass, read from the registry when asked (so it never goes stale)."""

    def __getitem__(self, name: str) -> type:
        if name not in registry.ENTRIES:
            raise KeyError(name)
        return registry.ENTRIES[name].load()

    def __iter__(self):
        return iter(registry.ENTRIES)

    def __len__(self) -> int:
        return len(registry.ENTRIES)

    def __repr__(self) -> str:
        return f"MODELS({', '.join(registry.ENTRIES)})"


MODELS: Mapping[str, type] = _Models()


def get_model(name: str) -> type:
    """The Detector class registered under `name`."""
    return registry.model_class(name)


def load(path: str | Path, **runtime):
    """The fitted detector saved at `path` (any model); `runtime` changes runtime settings only
    (device, progress, score_batch_size, ...: see models.base.RUNTIME_SETTINGS)."""
    from omasgan.checkpoint import load_checked
    from omasgan.models.base import MODEL_FORMAT

    payload = load_checked(path, MODEL_FORMAT)
    return get_model(payload.get("model")).from_payload(payload, **runtime)


def __getattr__(name):
    if name in ("Detector", "DetectorConfig"):
        from omasgan.models import base

        return getattr(base, name)
    raise AttributeError(f"module 'omasgan.models' has no attribute {name!r}")


__all__ = ["MODELS", "Detector", "DetectorConfig", "get_model", "load"]
