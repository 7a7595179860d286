"""How `omasgan._C` is compiled, in one place for both ways of building it: setup.py at install time
(when torch is importable there) and omasgan._ext on first use (torch.utils.cpp_extension.load).

Standard library only: setup.py loads this file by its path, before omasgan's dependencies (torch)
are installed, and omasgan._ext imports it before it knows whether torch can build anything.
"""
from __future__ import annotations

import glob
import os
import platform
import sys

# torch adds its own -std. On x86-64 the CPU kernels use ATen's AVX2 vector types
# (at::vec::Vectorized, with Sleef from libtorch), which need the CPU_CAPABILITY macros as well as
# the instruction set; omasgan._ext declines them on a CPU without AVX2. Elsewhere (ARM) they use
# ATen's portable vectors. at::parallel_for is OpenMP in the headers of Linux builds of torch.
X86_64 = platform.machine().lower() in ("x86_64", "amd64")
ISA_FLAGS = ["-mavx2", "-mfma"] if X86_64 else []
CXX_FLAGS = (
    ["-g0", "-O3"]
    + ([] if sys.platform == "darwin" else ["-fopenmp"])
    + (ISA_FLAGS + ["-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2"] if X86_64 else [])
)
# No --use_fast_math: the kernels are checked against a float64 oracle and their own results are exact
# where the method needs them to be (a duplicate at distance 0, stable f-divergence forms).
NVCC_FLAGS = ["-O3", "-lineinfo", "-Xcompiler", "-g0"]
# OpenMP at link time too, and for the same platforms: Apple's clang has no -fopenmp.
LINK_FLAGS = [] if sys.platform == "darwin" else ["-fopenmp"]


def cpu_sources(csrc: str) -> list[str]:
    """The CPU kernels and the binding, under the folder `csrc` (relative paths stay relative)."""
    return sorted(glob.glob(os.path.join(csrc, "**", "cpu", "*.cpp"), recursive=True)) + [os.path.join(csrc, "ext.cpp")]


def cuda_sources(csrc: str) -> list[str]:
    found = sorted(glob.glob(os.path.join(csrc, "**", "cuda", "*.cu"), recursive=True))
    return found + sorted(glob.glob(os.path.join(csrc, "**", "cuda", "*.cpp"), recursive=True))


def default_cuda_home() -> None:
    """Point torch at the toolkit root when CUDA_HOME is unset and /usr/local/cuda exists.

    Otherwise torch takes the parent of the first nvcc on PATH, which for a wrapper script such as
    /usr/local/bin/nvcc is /usr/local, where the CUDA headers are not.
    """
    if not (os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")) and os.path.exists("/usr/local/cuda/bin/nvcc"):
        os.environ["CUDA_HOME"] = "/usr/local/cuda"


def want_cuda(torch, cuda_home: str | None) -> bool:
    """Whether to compile the CUDA half: FORCE_CUDA=1 demands it, otherwise it needs a usable toolkit."""
    headers = cuda_home is not None and os.path.exists(os.path.join(cuda_home, "include", "cuda_runtime_api.h"))
    if os.environ.get("FORCE_CUDA") == "1":
        if not headers or torch.version.cuda is None:
            raise SystemExit(
                f"FORCE_CUDA=1 needs a CUDA build of torch (torch.version.cuda={torch.version.cuda}) and the "
                f"CUDA toolkit headers under CUDA_HOME (found CUDA_HOME={cuda_home!r}); set CUDA_HOME"
            )
        return True
    return os.environ.get("OMASGAN_NO_CUDA") != "1" and headers and torch.version.cuda is not None


def compiled_features() -> list[str]:
    """The instruction-set extensions the CPU kernels are compiled for, from the flags above."""
    names = {"-mavx2": "AVX2", "-mfma": "FMA", "-mavx512f": "AVX-512F"}
    return [names[f] for f in CXX_FLAGS if f in names] or ["portable (ATen's default vectors)"]
