"""The compiled extension `omasgan._C`, where it comes from, and what it offers.

Loaded on first use (`has`, `kernel`, `load`; ops.available_backends calls `has`), not at import.
The first of these that works:

1. installed: omasgan/_C*.so, built by setup.py when torch was importable at install time
   (`pip install --no-build-isolation`, `make install`);
2. the JIT cache: compiled on first use by torch.utils.cpp_extension.load with ninja (DeepSpeed's
   op builder is the model) from the sources every install carries (omasgan/csrc in a wheel, csrc/
   in a checkout), with the flags of setup.py (omasgan/_build.py). One build per omasgan sources,
   torch version, Python version, machine and CPU capability, in `cache_root()/<key>`:
   $OMASGAN_EXT_DIR, else $TORCH_EXTENSIONS_DIR/omasgan, else $XDG_CACHE_HOME/omasgan/ext
   (~/.cache/omasgan/ext). A file lock keeps two processes from compiling at once (the second
   waits, then loads the first one's build). Compiling prints two lines to stderr: what, and how long.
3. neither (no compiler, no ninja, no Python headers, a failed compile): the ops run on their
   pure-torch backend, and one RuntimeWarning says why.

$OMASGAN_EXT_MODE: "auto" (default, the order above), "installed" (never compile), "jit" (skip an
installed build: how the tests exercise the JIT path).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import platform
import shutil
import sys
import sysconfig
import threading
import time
import warnings
from pathlib import Path

import torch

from omasgan import __version__, _build

# x86-64 builds of the CPU kernels use AVX2 (omasgan/_build.py): on an x86-64 CPU without it they
# would die of an illegal instruction, so there they are not offered and the torch backend runs instead.
_X86_64 = platform.machine().lower() in ("x86_64", "amd64")
CPU_KERNELS_USABLE = not _X86_64 or torch.backends.cpu.get_cpu_capability() not in ("DEFAULT", "NO AVX")

MODES = ("auto", "installed", "jit")

_C = None  # the module, once `load` found or built it
LOAD_ERROR: str | None = None  # why there is none, once `load` has run
ORIGIN: str | None = None  # "installed" or "jit cache"
LOCATION: str | None = None  # the shared library's path
BUILD_INFO: dict | None = None  # for a JIT build: its key, seconds, date, flags (build.json)
BUILT_NOW = False  # this process compiled it

_loaded = False
_lock = threading.RLock()
_warned = False


class _CannotBuild(Exception):
    """Why the first-use compile cannot run or did not succeed (one line)."""


# ------------------------------------------------------------------------------------ where
def source_dir() -> Path | None:
    """The kernels' sources: omasgan/csrc in an installed wheel, else csrc/ of a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "csrc", here.parent / "csrc"):
        if (candidate / "ext.cpp").is_file():
            return candidate
    return None


def cache_root() -> Path:
    if os.environ.get("OMASGAN_EXT_DIR"):
        return Path(os.environ["OMASGAN_EXT_DIR"]).expanduser()
    if os.environ.get("TORCH_EXTENSIONS_DIR"):
        return Path(os.environ["TORCH_EXTENSIONS_DIR"]).expanduser() / "omasgan"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "omasgan" / "ext"


def _cuda_home() -> str | None:
    _build.default_cuda_home()
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    nvcc = shutil.which("nvcc")
    return home or (os.path.dirname(os.path.dirname(nvcc)) if nvcc else None)


def _jit_with_cuda() -> bool:
    """The first-use compile includes the CUDA half on the same terms as setup.py."""
    return bool(_build.cuda_sources(str(source_dir() or "")) and _build.want_cuda(torch, _cuda_home()))


def build_key(csrc: Path, with_cuda: bool) -> str:
    """The cache folder's name: what the build depends on, and a digest of the sources and flags."""
    digest = hashlib.sha256()
    for path in sorted(p for p in csrc.rglob("*") if p.is_file() and p.suffix in (".cpp", ".h", ".cu", ".cuh")):
        digest.update(path.relative_to(csrc).as_posix().encode() + b"\0" + path.read_bytes())
    digest.update(repr((_build.CXX_FLAGS, _build.LINK_FLAGS, _build.NVCC_FLAGS if with_cuda else None)).encode())
    cuda = f"cu{torch.version.cuda}" if with_cuda else "cpu"
    python = f"py{sys.version_info.major}{sys.version_info.minor}"
    capability = torch.backends.cpu.get_cpu_capability().replace(" ", "_")
    torch_version = torch.__version__.replace("+", "_")
    return f"omasgan{__version__}-{python}-torch{torch_version}-{cuda}-{platform.machine()}-{capability}-{digest.hexdigest()[:12]}"


# -------------------------------------------------------------------------------- building
def _import_library(path: Path):
    """The shared library at `path` as the module omasgan._C (its init function is PyInit__C)."""
    spec = importlib.util.spec_from_file_location("omasgan._C", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _toolchain_problem() -> str | None:
    """What the first-use compile lacks, found before printing that it starts; None if nothing."""
    cxx = os.environ.get("CXX", "c++")
    if shutil.which(cxx) is None:
        return f"there is no C++ compiler (`{cxx}` is not on PATH; install g++ or clang++, or set CXX)"
    if shutil.which("ninja") is None:
        # The ninja wheel (a dependency) puts its binary next to the interpreter's scripts, which is
        # not on PATH when the venv is not activated (/venv/bin/python -c ...).
        try:
            import ninja

            os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")
        except ImportError:
            pass
    if shutil.which("ninja") is None:
        return "ninja is missing (`pip install ninja`; torch.utils.cpp_extension.load needs it)"
    include = sysconfig.get_paths()["include"]
    if not os.path.isfile(os.path.join(include, "Python.h")):
        return f"Python's C headers are missing (no Python.h in {include}; install python{sys.version_info.major}.{sys.version_info.minor}-dev)"
    return None


def _compile(csrc: Path, folder: Path, with_cuda: bool):
    from torch.utils import cpp_extension

    sources = _build.cpu_sources(str(csrc)) + (_build.cuda_sources(str(csrc)) if with_cuda else [])
    macros = ["-DOMASGAN_WITH_CUDA"] if with_cuda else []
    if with_cuda and not torch.cuda.is_available():
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "9.0")  # as setup.py: not every architecture torch knows
    what = "CPU and CUDA kernels" if with_cuda else "CPU kernels"
    print(f"omasgan: compiling the {what} ({len(sources)} sources in {csrc}; {', '.join(_build.compiled_features())}) "
          f"for torch {torch.__version__}, Python {platform.python_version()} into {folder} "
          "(once per torch/Python/CPU; the install had not built them)", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        module = cpp_extension.load(
            name="_C", sources=sources, extra_cflags=_build.CXX_FLAGS + macros, extra_ldflags=_build.LINK_FLAGS,
            extra_cuda_cflags=_build.NVCC_FLAGS + macros if with_cuda else None, extra_include_paths=[str(csrc)],
            build_directory=str(folder), with_cuda=with_cuda, verbose=False,
        )
    except Exception as err:  # the compiler's output: kept in a log, one line in the warning
        log = folder / "build.log"
        log.write_text(f"{type(err).__name__}: {err}\n")
        print(f"omasgan: compiling failed after {time.perf_counter() - start:.1f} s; log: {log}", file=sys.stderr, flush=True)
        raise _CannotBuild(f"compiling them failed (the compiler's output is in {log})") from err
    seconds = time.perf_counter() - start
    info = {"key": folder.name, "seconds": round(seconds, 1), "built_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "sources": str(csrc), "cxx_flags": _build.CXX_FLAGS, "with_cuda": with_cuda}
    (folder / "build.json").write_text(json.dumps(info, indent=1) + "\n")  # written last: marks the build complete
    print(f"omasgan: compiled omasgan._C in {seconds:.1f} s; cached in {folder}", file=sys.stderr, flush=True)
    return module, info


def _load_jit():
    """(module, build info, whether this process compiled it) from the JIT cache, compiling if needed."""
    csrc = source_dir()
    if csrc is None:
        raise _CannotBuild("this install carries no kernel sources (omasgan/csrc); reinstall omasgan")
    with_cuda = _jit_with_cuda()
    folder = cache_root() / build_key(csrc, with_cuda)
    library, done = folder / "_C.so", folder / "build.json"
    if library.is_file() and done.is_file():
        return _import_library(library), json.loads(done.read_text()), False
    problem = _toolchain_problem()
    if problem:
        raise _CannotBuild(problem)
    from filelock import FileLock, Timeout

    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder) + ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"omasgan: another process is compiling the kernels into {folder}; waiting for it", file=sys.stderr, flush=True)
        lock.acquire()
    try:
        if library.is_file() and done.is_file():  # the other process finished it
            return _import_library(library), json.loads(done.read_text()), False
        module, info = _compile(csrc, folder, with_cuda)
        return module, info, True
    finally:
        lock.release()


def load():
    """omasgan._C (see the module's docstring), found or built once per process; None if neither."""
    global _C, LOAD_ERROR, ORIGIN, LOCATION, BUILD_INFO, BUILT_NOW, _loaded, _warned
    with _lock:
        if _loaded:
            return _C
        _loaded = True
        mode = os.environ.get("OMASGAN_EXT_MODE", "auto")
        if mode not in MODES:
            raise ValueError(f"$OMASGAN_EXT_MODE must be one of {', '.join(MODES)}; got {mode!r}")
        installed_error = None
        if mode != "jit":
            try:
                from omasgan import _C as module  # type: ignore[attr-defined]

                _C, ORIGIN, LOCATION = module, "installed", module.__file__
                return _C
            except ImportError as err:  # a pip install with build isolation builds none
                installed_error = err
        # Only a library that is there but does not load (built for another torch) is worth naming.
        stale = "" if installed_error is None or "No module named" in str(installed_error) else f" ({installed_error})"
        if mode == "installed":
            LOAD_ERROR = f"the extension is not installed{stale} and OMASGAN_EXT_MODE=installed forbids compiling it"
        else:
            try:
                module, BUILD_INFO, BUILT_NOW = _load_jit()
                _C, ORIGIN, LOCATION = module, "jit cache", str(Path(module.__file__))
                sys.modules["omasgan._C"] = module  # `from omasgan import _C` finds it too
                return _C
            except _CannotBuild as err:
                LOAD_ERROR = f"the CPU kernels were not built at install time{stale}, and {err}"
            except ImportError as err:  # a cached library that no longer loads
                LOAD_ERROR = f"the CPU kernels were not built at install time, and the cached build does not load ({err})"
        if not _warned:  # the one warning; warn_torch_fallback will not repeat it
            _warned = True
            warnings.warn(f"omasgan.ops runs on its pure-torch backend (slow for large banks): {LOAD_ERROR}; "
                          "pass backend='torch' to silence this", RuntimeWarning, stacklevel=2)
        return None


def _load_once() -> bool:
    """load() for `has`: whether omasgan._C is there. Marked as torch.compiler.assume_constant_result
    does (set here without importing torch._dynamo at import): when the first use of an op is inside
    torch.compile(fullgraph=True), Dynamo runs it eagerly while tracing instead of failing on its lock."""
    return load() is not None


_load_once._dynamo_marked_constant = True  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------ queries
def has(symbol: str) -> bool:
    if symbol.endswith("_cpu") and not CPU_KERNELS_USABLE:
        return False
    if not _loaded:
        _load_once()
    return _C is not None and hasattr(_C, symbol)


def why_missing(symbol: str) -> str:
    if not _loaded:
        load()
    if _C is not None and symbol.endswith("_cpu") and not CPU_KERNELS_USABLE:
        return "this CPU lacks AVX2, which the x86-64 build of omasgan's CPU kernels needs; pass backend='torch'"
    if _C is not None:
        return f"omasgan._C ({ORIGIN}, {LOCATION}) was built without it (no CUDA toolkit or no CUDA torch at build time)"
    return f"{LOAD_ERROR}. Fix that and it compiles on next use, or pass backend='torch'"


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
