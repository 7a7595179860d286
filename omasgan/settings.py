"""`omasgan settings`: every model, its presets, and every setting with its default.

Each model's settings are the fields of its Config dataclass (the estimator's parameters); the
Config's docstring explains them. A setting that the model's presets set defaults to the preset
(`preset`, "quick" unless given): "preset, else X" shows X, the value where the preset sets none. Runtime settings (models.base.RUNTIME_SETTINGS) are marked: they
say where and how a model runs, not what it computes.
"""
from __future__ import annotations

import dataclasses


def describe(model_cls, preset: str | None = None, input_shape: tuple[int, ...] = (1, 32, 32)) -> str:
    """A plain-text table of `model_cls`'s settings: name, default and (with `preset`) the preset's
    value for samples of `input_shape`."""
    from omasgan.models.base import FROM_PRESET, RUNTIME_SETTINGS

    shown = preset if preset in model_cls.presets else None
    chosen = model_cls.preset_settings(shown, input_shape) if shown else {}
    head = f"{model_cls.name} ({model_cls.__name__}): presets {', '.join(model_cls.presets)}"
    if preset and not shown:
        head += f"  [no preset {preset!r}]"
    rows = [("setting", "default", f"preset {shown} {input_shape}" if shown else "")]
    from_preset = {k for k, v in model_cls.parameter_defaults().items() if v is FROM_PRESET}
    for f in dataclasses.fields(model_cls.Config):
        name = f"{f.name} (runtime)" if f.name in RUNTIME_SETTINGS else f.name
        default = f"preset, else {f.default!r}" if f.name in from_preset else repr(f.default)
        rows.append((name, default, repr(chosen[f.name]) if f.name in chosen else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [head] + ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines) + f"\n  (what each setting means: help(omasgan.{model_cls.__name__}.Config))\n"
