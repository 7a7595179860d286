"""Builds `omasgan._C` from csrc/: the CPU sources always, the CUDA sources when a CUDA toolkit and a
CUDA build of torch are there (a GPU is not needed to compile; the half costs about 90 s of CPU time).

Environment:
  CUDA_HOME           the toolkit root; default /usr/local/cuda when it exists, else torch's guess
  FORCE_CUDA=1        build the CUDA half, and fail loudly if the toolkit or a CUDA torch is missing
  OMASGAN_NO_CUDA=1   skip the CUDA half even where nvcc exists
  OMASGAN_NO_EXT=1    build no extension at all (the torch backend still works)
"""
import glob
import os
import platform
import re
import sys

from setuptools import find_packages, setup

# torch adds its own -std. On x86-64 the CPU kernels use ATen's AVX2 vector types
# (at::vec::Vectorized, with Sleef from libtorch), which need the CPU_CAPABILITY macros as well as
# the instruction set; omasgan._ext declines them on a CPU without AVX2. Elsewhere (ARM) they use
# ATen's portable vectors. at::parallel_for is OpenMP in the headers of Linux builds of torch.
X86_64 = platform.machine().lower() in ("x86_64", "amd64")
CXX_FLAGS = (
    ["-g0", "-O3"]
    + ([] if sys.platform == "darwin" else ["-fopenmp"])
    + (["-mavx2", "-mfma", "-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2"] if X86_64 else [])
)
# No --use_fast_math: the kernels are checked against a float64 oracle and their own results are exact
# where the method needs them to be (a duplicate at distance 0, stable f-divergence forms).
NVCC_FLAGS = ["-O3", "-lineinfo", "-Xcompiler", "-g0"]
# OpenMP at link time too, and for the same platforms: Apple's clang has no -fopenmp.
LINK_FLAGS = [] if sys.platform == "darwin" else ["-fopenmp"]


def _version():
    """__version__ from omasgan/__init__.py, read as text: importing the package here would need its
    dependencies before they are installed. The one place the version is written."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "omasgan", "__init__.py")) as f:
        match = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", f.read(), re.MULTILINE)
    if match is None:
        raise SystemExit("setup.py: no __version__ = \"...\" line in omasgan/__init__.py")
    return match.group(1)


def _default_cuda_home():
    """Point torch at the toolkit root when CUDA_HOME is unset and /usr/local/cuda exists.

    Otherwise torch takes the parent of the first nvcc on PATH, which for a wrapper script such as
    /usr/local/bin/nvcc is /usr/local, where the CUDA headers are not.
    """
    if not (os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")) and os.path.exists("/usr/local/cuda/bin/nvcc"):
        os.environ["CUDA_HOME"] = "/usr/local/cuda"


def _want_cuda(torch, cuda_home):
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


def _extensions():
    if os.environ.get("OMASGAN_NO_EXT") == "1":
        return [], {}
    _default_cuda_home()
    try:
        import torch
        from torch.utils import cpp_extension
    except ImportError:
        print("omasgan: torch is not installed, building no extension (torch backend only)")
        return [], {}

    sources = sorted(glob.glob("csrc/**/cpu/*.cpp", recursive=True)) + ["csrc/ext.cpp"]
    cuda_sources = sorted(glob.glob("csrc/**/cuda/*.cu", recursive=True))
    cuda_sources += sorted(glob.glob("csrc/**/cuda/*.cpp", recursive=True))
    define_macros = []
    if cuda_sources and _want_cuda(torch, cpp_extension.CUDA_HOME):
        # Without a visible GPU torch would compile for every architecture it knows: pin Hopper.
        if not torch.cuda.is_available():
            os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "9.0")
        define_macros.append(("OMASGAN_WITH_CUDA", None))
        ext = cpp_extension.CUDAExtension(
            "omasgan._C",
            sources + cuda_sources,
            define_macros=define_macros,
            extra_compile_args={"cxx": CXX_FLAGS, "nvcc": NVCC_FLAGS},
            extra_link_args=LINK_FLAGS,
        )
    else:
        ext = cpp_extension.CppExtension(
            "omasgan._C",
            sources,
            extra_compile_args={"cxx": CXX_FLAGS},
            extra_link_args=LINK_FLAGS,
        )
    return [ext], {"build_ext": cpp_extension.BuildExtension.with_options(use_ninja=True)}


ext_modules, cmdclass = _extensions()

setup(
    name="omasgan",
    version=_version(),
    description="Fast, correct GAN-based anomaly detection: OMASGAN, GANomaly, AnoGAN on fused kernels",
    packages=find_packages(include=["omasgan", "omasgan.*"]) + ["omasgan.kernels"],
    package_dir={"omasgan.kernels": "kernels"},
    python_requires=">=3.10",
    install_requires=["torch>=2.4", "torchvision", "numpy", "scikit-learn", "tqdm", "matplotlib"],
    extras_require={
        "test": ["pytest", "pytest-benchmark", "hypothesis"],
        "bench": ["pytest-benchmark", "faiss-cpu", "pykeops"],
    },
    entry_points={"console_scripts": ["omasgan=omasgan.cli:main"]},
    ext_modules=ext_modules,
    cmdclass=cmdclass,
)
