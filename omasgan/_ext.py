"""The compiled extension `omasgan._C`, if it was built, and what it offers."""
from __future__ import annotations

import platform
import warnings

import torch

try:
    from omasgan import _C  # type: ignore[attr-defined]

    IMPORT_ERROR: Exception | None = None
except ImportError as err:  # a checkout without a built extension still works on torch
    _C = None
    IMPORT_ERROR = err

# x86-64 builds of the CPU kernels use AVX2 (setup.py): on an x86-64 CPU without it they would die
# of an illegal instruction, so there they are not offered and the torch backend runs instead.
_X86_64 = platform.machine().lower() in ("x86_64", "amd64")
CPU_KERNELS_USABLE = not _X86_64 or torch.backends.cpu.get_cpu_capability() not in ("DEFAULT", "NO AVX")

_warned = False


def has(symbol: str) -> bool:
    if symbol.endswith("_cpu") and not CPU_KERNELS_USABLE:
        return False
    return _C is not None and hasattr(_C, symbol)


def why_missing(symbol: str) -> str:
    if _C is not None and symbol.endswith("_cpu") and not CPU_KERNELS_USABLE:
        return "this CPU lacks AVX2, which the x86-64 build of omasgan's CPU kernels needs; pass backend='torch'"
    built = "the extension is not built" + ("" if IMPORT_ERROR is None else f" ({IMPORT_ERROR})")
    return f"{built}. Build it with `pip install --no-build-isolation -e .`, or pass backend='torch'"


def kernel(symbol: str):
    if not has(symbol):
        raise RuntimeError(f"omasgan._C has no kernel {symbol!r}: {why_missing(symbol)}.")
    return getattr(_C, symbol)


def warn_torch_fallback(device_type: str) -> None:
    global _warned
    if not _warned and not torch.compiler.is_compiling():
        _warned = True
        warnings.warn(
            "omasgan.ops runs on its pure-torch backend (slow for large banks): "
            f"{why_missing(f'min_distance_{device_type}')}.",
            RuntimeWarning,
            stacklevel=3,
        )
