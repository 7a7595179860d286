"""The compiled extension `omasgan._C`, if it was built, and what it offers."""
from __future__ import annotations

import warnings

import torch

try:
    from omasgan import _C  # type: ignore[attr-defined]

    IMPORT_ERROR: Exception | None = None
except ImportError as err:  # a checkout without a built extension still works on torch
    _C = None
    IMPORT_ERROR = err

_warned = False


def has(symbol: str) -> bool:
    return _C is not None and hasattr(_C, symbol)


def kernel(symbol: str):
    if not has(symbol):
        raise RuntimeError(
            f"omasgan._C has no kernel {symbol!r}: the extension is not built"
            f"{'' if IMPORT_ERROR is None else f' ({IMPORT_ERROR})'}. "
            "Build it with `pip install --no-build-isolation -e .`, or pass backend='torch'."
        )
    return getattr(_C, symbol)


def warn_torch_fallback() -> None:
    global _warned
    if not _warned and not torch.compiler.is_compiling():
        _warned = True
        warnings.warn(
            "omasgan._C is not built, so omasgan.ops runs on its pure-torch backend (slow for large "
            "banks). Build it with `pip install --no-build-isolation -e .`.",
            RuntimeWarning,
            stacklevel=3,
        )
