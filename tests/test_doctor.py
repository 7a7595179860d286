"""`omasgan doctor`, and omasgan._ext's fallback where the first-use compile cannot run (fast: no compile)."""
import os
import subprocess
import sys
import textwrap

from omasgan import _build, _ext, cli
from omasgan.ops import available_backends


def test_doctor_reports_versions_backends_cpu_features_and_origin(capsys):
    status = cli.main(["doctor"])
    out = capsys.readouterr().out
    assert status == (0 if "cpu" in available_backends("cpu") else 1)
    for label in ("omasgan ", "python ", "torch ", "CUDA ", "triton ", "backends  cpu: torch", "CPU ",
                  "kernels compiled for:", "torch's CPU capability:", "JIT cache folder:"):
        assert label in out, (label, out)
    for feature in _build.compiled_features():
        assert feature in out
    if _ext._C is not None:
        assert f"extension {'installed' if _ext.ORIGIN == 'installed' else 'JIT cache'}: {_ext.LOCATION}" in out


def test_doctor_is_listed_by_help():
    done = subprocess.run([sys.executable, "-m", "omasgan", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "doctor" in done.stdout


def _without_a_compiler(tmp_path, code):
    """Runs `code` where omasgan must compile (OMASGAN_EXT_MODE=jit, an empty cache) but cannot (no CXX)."""
    env = {**os.environ, "OMASGAN_EXT_MODE": "jit", "OMASGAN_EXT_DIR": str(tmp_path / "cache"),
           "CXX": str(tmp_path / "no-such-c++"), "PYTHONWARNINGS": "default"}
    env.pop("OMASGAN_BACKEND", None)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=300)


def test_no_compiler_means_the_torch_backend_and_one_warning_that_says_why(tmp_path):
    done = _without_a_compiler(tmp_path, """
        import warnings, torch
        from omasgan import ops
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            print(ops.available_backends("cpu"))
            x, bank = torch.randn(5, 3), torch.randn(40, 3)
            for _ in range(3):
                values, indices = ops.min_distance(x, bank)
            ref = torch.cdist(x, bank).min(1)
            assert torch.allclose(values, ref.values, atol=1e-5) and torch.equal(indices, ref.indices)
        print([str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)])
    """)
    assert done.returncode == 0, done.stderr
    backends, warned = done.stdout.strip().splitlines()[-2:]
    assert "'cpu'" not in backends
    messages = eval(warned)
    assert len(messages) == 1, messages
    assert "pure-torch backend" in messages[0] and "no C++ compiler" in messages[0] and "no-such-c++" in messages[0]
    assert "compiling" not in done.stderr  # nothing was started, so nothing claims to compile


def test_doctor_without_a_compiler_says_why_and_exits_1(tmp_path):
    done = _without_a_compiler(tmp_path, "import sys; from omasgan import cli; sys.exit(cli.main(['doctor']))")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "extension not available:" in done.stdout and "no C++ compiler" in done.stdout
    assert "backends  cpu: torch" in done.stdout


def test_the_cache_key_names_torch_python_and_the_cpu():
    key = _ext.build_key(_ext.source_dir(), with_cuda=False)
    assert f"py{sys.version_info.major}{sys.version_info.minor}" in key and "-cpu-" in key
    import torch

    assert torch.__version__.replace("+", "_") in key and torch.backends.cpu.get_cpu_capability().replace(" ", "_") in key


def test_first_use_inside_torch_compile_fullgraph_loads_the_extension():
    """The extension loads on first use; where that first use is traced by Dynamo (fullgraph), the
    load runs eagerly during tracing instead of breaking the graph."""
    code = textwrap.dedent("""
        import torch
        from omasgan import _ext, ops
        assert not _ext._loaded
        x, bank = torch.randn(6, 5), torch.randn(40, 5)
        f = torch.compile(lambda x, b: ops.min_distance(x, b)[0], fullgraph=True, backend="eager")
        torch.testing.assert_close(f(x, bank), torch.cdist(x, bank).min(1).values)
        print(_ext._loaded, _ext._C is not None)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-2:] == ["True", str(_ext._C is not None)]
