"""`omasgan doctor`: what this install runs on. Builds the kernels if they are not there yet (the
first-use compile of omasgan._ext), then reports versions, backends per device, the CPU features
the kernels use and the machine has, and where omasgan._C came from (with its build time)."""
from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path

import torch

import omasgan
from omasgan import _build, _ext
from omasgan.ops import available_backends

# /proc/cpuinfo flags worth naming for these kernels, in this order.
_CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile")


def cpu_model_and_flags() -> tuple[str, list[str] | None]:
    """(model name, the flags of _CPU_FLAGS it has) from /proc/cpuinfo; flags None where unreadable."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), None
    model, flags = platform.machine(), set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == platform.machine():
            model = value.strip()
        elif key.strip() in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model, [f for f in _CPU_FLAGS if f in flags]


def _version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def report() -> tuple[str, bool]:
    """(the report's text, whether the compiled CPU kernels are usable here)."""
    _ext.load()  # compiles on first use; prints what and how long to stderr
    lines = [f"omasgan   {omasgan.__version__}  ({Path(omasgan.__file__).parent})",
             f"python    {platform.python_version()}  ({sys.executable})",
             f"torch     {torch.__version__}  ({Path(torch.__file__).parent})"]
    if torch.version.cuda is None:
        lines.append("CUDA      none (a CPU build of torch)")
    else:
        devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
        lines.append(f"CUDA      {torch.version.cuda} in torch; devices: {', '.join(devices) if devices else 'none visible'}")
    lines.append(f"triton    {_version_of('triton')}")

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    lines.append("backends  " + "; ".join(f"{d}: {', '.join(available_backends(d))}" for d in devices))

    model, flags = cpu_model_and_flags()
    lines.append(f"CPU       {model}")
    lines.append(f"  machine: {' '.join(flags) if flags is not None else 'unknown (no /proc/cpuinfo)'}; "
                 f"torch's CPU capability: {torch.backends.cpu.get_cpu_capability()}")
    lines.append(f"  kernels compiled for: {', '.join(_build.compiled_features())} "
                 f"(flags: {' '.join(_build.CXX_FLAGS)})")
    if not _ext.CPU_KERNELS_USABLE:
        lines.append("  this CPU lacks AVX2: the CPU kernels are not offered here")

    halves = "CPU kernels" + (" and the CUDA half" if _ext.has("min_distance_cuda") else ", no CUDA half")
    if _ext._C is None:
        lines.append(f"extension not available: {_ext.LOAD_ERROR}")
    elif _ext.ORIGIN == "installed":
        lines.append(f"extension installed: {_ext.LOCATION} (built at install time; {halves})")
    else:
        info = _ext.BUILD_INFO or {}
        when = "just now" if _ext.BUILT_NOW else f"on {info.get('built_at', '?')}"
        lines.append(f"extension JIT cache: {_ext.LOCATION} ({halves})")
        lines.append(f"  compiled on first use {when}, in {info.get('seconds', '?')} s")
    lines.append(f"JIT cache folder: {_ext.cache_root()}  (OMASGAN_EXT_DIR, TORCH_EXTENSIONS_DIR; sources: {_ext.source_dir()})")
    return "\n".join(lines), _ext.has("min_distance_cpu")
