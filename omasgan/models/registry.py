"""The model registry: every detector's name, where its class lives and its preset names.

    ENTRIES["knn"].target == "omasgan.models.knn:NearestNeighbour"
    model_class("knn")   # the class itself (imports its module, and with it torch)

This module imports nothing heavy, so the command line reads its `--model`, `--preset` and
`--models` choices from here and `omasgan --help` answers without importing torch. Everything else
that lists models derives from it too: `omasgan.models.MODELS` and `get_model`, `omasgan.load`, the
top-level names (`omasgan.OMASGAN`, ...), `omasgan settings` and `omasgan compare`'s default. What a
model can do beyond the Detector interface (score terms, a stage report, ONNX export, a score bank
to redraw) the class itself declares (models.base.Detector); no shared code tests a model's name.

A new model is its package (or module) plus one `Entry` in `ENTRIES`; tests/test_registry.py
checks that each entry's name and presets are its class's.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """A registered detector.

    name: the model's name (its class's `name`): `--model`, saved files and results rows use it.
    target: "package.module:ClassName", imported on first use.
    presets: the names of the class's presets (`Detector.presets`), in its order.
    """

    name: str
    target: str
    presets: tuple[str, ...]

    @property
    def class_name(self) -> str:
        """The class's name, also its top-level name (`omasgan.NearestNeighbour`)."""
        return self.target.partition(":")[2]

    def load(self) -> type:
        """The Detector subclass (imports its module)."""
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)


# In this order in `omasgan compare`'s default and its table's columns.
ENTRIES: dict[str, Entry] = {entry.name: entry for entry in (
    Entry("omasgan", "omasgan.models.omasgan:OMASGAN", ("quick", "quick-paper", "large", "paper")),
    Entry("ganomaly", "omasgan.models.ganomaly:GANomaly", ("quick", "paper")),
    Entry("anogan", "omasgan.models.anogan:AnoGAN", ("quick", "paper")),
    Entry("knn", "omasgan.models.knn:NearestNeighbour", ("quick", "paper")),
)}
DEFAULT_MODEL = "omasgan"
DEFAULT_PRESET = "quick"  # every model has it


def names() -> tuple[str, ...]:
    """The registered model names, in registry order."""
    return tuple(ENTRIES)


def preset_names() -> tuple[str, ...]:
    """Every preset name of any registered model (first appearance first)."""
    return tuple(dict.fromkeys(p for entry in ENTRIES.values() for p in entry.presets))


def entry(name: str) -> Entry:
    """The entry registered under `name`; a ValueError naming the choices otherwise."""
    if name not in ENTRIES:
        raise ValueError(f"model must be one of {', '.join(sorted(ENTRIES))}; got {name!r}")
    return ENTRIES[name]


def model_class(name: str) -> type:
    """The Detector subclass registered under `name`."""
    return entry(name).load()
