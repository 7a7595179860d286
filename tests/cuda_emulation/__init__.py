r"""The CUDA kernels of csrc/*/cuda, compiled for the host and run on CPU tensors.

`build(folder)` copies the CUDA sources, rewrites every `kernel<<<...>>>(args);` launch into an
`emu::launch(...)` call (emu.h emulates blocks, threads, __syncthreads and warp shuffles), compiles
them with harness.cpp into one shared library with g++, and returns `EmulatedKernels`: the same
names and signatures as omasgan._C's `*_cuda` functions, on contiguous float32/float64 CPU tensors.
It does not check arguments (the real bindings do, and tests/test_cuda_kernels.py tests them).

What it proves: the kernels' indexing, tiling, reductions, barriers and numerics on CI machines
without a GPU. What it cannot: timing, memory coalescing, races between blocks (blocks run one
after another), and anything about the real compiler for sm_90 (setup.py's nvcc build covers that).

$OMASGAN_EMULATION_CFLAGS adds compiler flags, e.g. sanitizers for out-of-bounds accesses:
    OMASGAN_EMULATION_CFLAGS="-fsanitize=address,undefined" \
    LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libubsan.so)" \
    ASAN_OPTIONS=detect_leaks=0 pytest tests/test_cuda_kernels.py -k emulated
"""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
CSRC = HERE.parents[1] / "csrc"
# kernel<<<grid, block, shared, stream>>>(args); -> emu::launch(grid, block, shared, stream, [&] { kernel(args); });
# Plain C++ headers outside */cuda that the CUDA sources include (shared with the CPU kernels).
_SHARED_HEADERS = ("common/op_constants.h",)
_LAUNCH = re.compile(r"([\w:]+(?:<[^<>;]*>)?)<<<(.*?)>>>\((.*?)\);", re.S)


def build(folder: Path) -> "EmulatedKernels":
    """Compiles the emulated kernels in `folder` (needs g++ with C++20); raises CalledProcessError."""
    sources = folder / "src"
    shutil.rmtree(sources, ignore_errors=True)
    for path in CSRC.rglob("*"):
        shared = path.relative_to(CSRC).as_posix() in _SHARED_HEADERS
        if path.suffix in (".cu", ".cuh", ".h") and ("cuda" in path.parts or shared):
            target = sources / path.relative_to(CSRC).with_suffix(".cpp" if path.suffix == ".cu" else path.suffix)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_LAUNCH.sub(r"emu::launch(\2, [&] { \1(\3); });", path.read_text()))
    library = folder / "libemulated_cuda.so"
    units = sorted(str(p) for p in sources.glob("*/cuda/*.cpp")) + [str(HERE / "harness.cpp")]
    subprocess.run(
        ["g++", "-std=c++20", "-O1", "-shared", "-fPIC", "-ffp-contract=off", f"-I{HERE}", f"-I{sources}",
         *os.environ.get("OMASGAN_EMULATION_CFLAGS", "").split(), *units, "-o", str(library)],
        check=True, capture_output=True, text=True,
    )
    return EmulatedKernels(ctypes.CDLL(str(library)))


class EmulatedKernels:
    """omasgan._C's CUDA entry points, emulated: `kernels.min_distance(x, bank, p, q)` etc."""

    def __init__(self, lib: ctypes.CDLL):
        self._lib = lib

    def _call(self, name: str, dtype: torch.dtype, *args) -> None:
        suffix = {torch.float32: "f32", torch.float64: "f64"}[dtype]
        converted = [
            ctypes.c_void_p(a.data_ptr()) if isinstance(a, torch.Tensor)
            else ctypes.c_double(a) if isinstance(a, float)
            else ctypes.c_int64(a)
            for a in args
        ]
        status = getattr(self._lib, f"{name}_{suffix}")(*converted)
        if status != 0:
            raise RuntimeError(f"emulated {name} launch failed with CUDA error {status}")

    def min_distance(self, x, bank, p, q):
        values, indices = x.new_empty(x.shape[0]), torch.empty(x.shape[0], dtype=torch.long)
        self._call("md", x.dtype, x, bank, x.shape[0], bank.shape[0], x.shape[1], float(p), float(q), values, indices)
        return values, indices

    def pairwise_distance(self, x, y, p, q):
        out = x.new_empty(x.shape[0], y.shape[0])
        self._call("pw", x.dtype, x, x.shape[0], y, y.shape[0], x.shape[1], float(p), float(q), out)
        return out

    def pairwise_distance_backward(self, grad, x, y, dist, p, q):
        grad_x, grad_y = torch.empty_like(x), torch.empty_like(y)
        self._call("pwb", x.dtype, grad, x, x.shape[0], y, y.shape[0], x.shape[1], dist, float(p), float(q),
                   grad_x, grad_y)
        return grad_x, grad_y

    def dispersion(self, z, b, p, q, eps):
        out = z.new_empty(())
        self._call("ds", z.dtype, z, z.shape[1], b, b.shape[1], z.shape[0], float(p), float(q), float(eps), out)
        return out

    def dispersion_backward(self, grad, z, b, p, q, eps):
        grad_z, grad_b = torch.empty_like(z), torch.empty_like(b)
        self._call("dsb", z.dtype, grad.to(z.dtype).reshape(()), z, z.shape[1], b, b.shape[1], z.shape[0],
                   float(p), float(q), float(eps), grad_z, grad_b)
        return grad_z, grad_b

    def f_divergence_bound(self, v_p, v_q, code):
        out = v_p.new_empty(())
        self._call("fd", v_p.dtype, v_p, v_p.shape[0], v_q, v_q.shape[0], int(code), out)
        return out

    def f_divergence_bound_backward(self, grad, v_p, v_q, code):
        grad_p, grad_q = torch.empty_like(v_p), torch.empty_like(v_q)
        self._call("fdb", v_p.dtype, grad.to(v_p.dtype).reshape(()), v_p, v_p.shape[0], v_q, v_q.shape[0],
                   int(code), grad_p, grad_q)
        return grad_p, grad_q

