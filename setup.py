"""Builds `omasgan._C` from csrc/: the CPU sources always, the CUDA sources when a CUDA toolkit and a
CUDA build of torch are there (a GPU is not needed to compile; the half costs about 90 s of CPU time).

That needs torch importable while building (`pip install --no-build-isolation`, as `make install`
does). With pip's defaults (build isolation: no torch) nothing is compiled here; every wheel and
install carries csrc/ as omasgan/csrc, and omasgan._ext compiles it on first use. Flags and source
lists: omasgan/_build.py, shared by both.

Environment:
  CUDA_HOME           the toolkit root; default /usr/local/cuda when it exists, else torch's guess
  FORCE_CUDA=1        build the CUDA half, and fail loudly if the toolkit or a CUDA torch is missing
  OMASGAN_NO_CUDA=1   skip the CUDA half even where nvcc exists
  OMASGAN_NO_EXT=1    build no extension at all (the torch backend still works)
"""
import importlib.util
import os
import re
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def _load_build():
    """omasgan/_build.py (flags and sources, shared with the first-use compile in omasgan._ext), by
    its path: importing the package here would need torch and the other dependencies."""
    spec = importlib.util.spec_from_file_location("_omasgan_build", os.path.join(HERE, "omasgan", "_build.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()
CXX_FLAGS, NVCC_FLAGS, LINK_FLAGS = build.CXX_FLAGS, build.NVCC_FLAGS, build.LINK_FLAGS


class BuildPyWithSources(build_py):
    """Also copies csrc/ (the sources' one home in the repository) to omasgan/csrc in the build, so
    every wheel and install carries them: omasgan._ext compiles them on first use where the install
    could not (no torch in pip's isolated build environment). An editable install reads csrc/ itself."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        source = os.path.join(HERE, "csrc")
        if not os.path.isdir(source):
            raise SystemExit("setup.py: csrc/ is missing (an sdist must include it: MANIFEST.in)")
        target = os.path.join(self.build_lib, "omasgan", "csrc")
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.o", "*.so", "__pycache__"))


def _version():
    """__version__ from omasgan/__init__.py, read as text: importing the package here would need its
    dependencies before they are installed. The one place the version is written."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "omasgan", "__init__.py")) as f:
        match = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", f.read(), re.MULTILINE)
    if match is None:
        raise SystemExit("setup.py: no __version__ = \"...\" line in omasgan/__init__.py")
    return match.group(1)


def _extensions():
    if os.environ.get("OMASGAN_NO_EXT") == "1":
        return [], {}
    build.default_cuda_home()
    try:
        import torch
        from torch.utils import cpp_extension
    except ImportError:
        # pip's default build isolation: torch is not here. The wheel ships csrc/ instead and
        # omasgan._ext compiles it on first use (cached per torch, Python and CPU).
        print("omasgan: torch is not importable at build time: no extension now; it compiles on first use")
        return [], {}

    sources = build.cpu_sources("csrc")
    cuda_sources = build.cuda_sources("csrc")
    define_macros = []
    if cuda_sources and build.want_cuda(torch, cpp_extension.CUDA_HOME):
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
cmdclass["build_py"] = BuildPyWithSources

setup(
    name="omasgan",
    version=_version(),
    description="Fast, correct GAN-based anomaly detection: OMASGAN, GANomaly, AnoGAN on fused kernels",
    packages=find_packages(include=["omasgan", "omasgan.*"]) + ["omasgan.kernels"],
    package_dir={"omasgan.kernels": "kernels"},
    python_requires=">=3.10",
    # ninja and filelock: omasgan._ext compiles the kernels on first use where the install did not.
    install_requires=["torch>=2.4", "torchvision", "numpy", "scikit-learn", "tqdm", "matplotlib", "ninja", "filelock"],
    extras_require={
        "test": ["pytest", "pytest-benchmark", "hypothesis"],
        "bench": ["pytest-benchmark", "faiss-cpu", "pykeops"],
    },
    entry_points={"console_scripts": ["omasgan=omasgan.cli:main"]},
    ext_modules=ext_modules,
    cmdclass=cmdclass,
)
