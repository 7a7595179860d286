import importlib
import re

import pytest
import torch

import omasgan
from omasgan import ops
from omasgan.ops import _common
from tests.conftest import BACKENDS, required_backends


@pytest.mark.parametrize("name", required_backends())
def test_required_backend_is_built(name):
    assert name in _common.REGISTRY, f"$OMASGAN_REQUIRE_BACKENDS names {name!r}, which is no backend"
    assert name in BACKENDS, f"backend {name!r} is required here but missing; have {BACKENDS}"


# The one table of backends (omasgan.ops._common.REGISTRY) and each op's KernelTable.
# (the modules by name: omasgan.ops exports the functions min_distance, ... under the same names)
OP_TABLES = {op: importlib.import_module(f"omasgan.ops.{module}").KERNELS for op, module in [
    ("min_distance", "min_distance"), ("pairwise_distance", "pairwise_distance"),
    ("dispersion", "dispersion"), ("f_divergence_bound", "f_divergence")]}


def test_backends_come_from_the_registry():
    assert ops.BACKENDS == ("auto", "torch", "cpu", "cuda", "triton") == ("auto", *_common.REGISTRY)
    assert _common.auto_preference("cpu") == ("cpu",)
    assert _common.auto_preference("cuda") == ("cuda", "triton")
    assert _common.auto_preference("meta") == ()
    for table in OP_TABLES.values():
        assert list(table.loaders) == list(_common.REGISTRY), table.op
    assert set(BACKENDS) <= set(_common.REGISTRY) and BACKENDS[0] == "torch"


def test_a_kernel_table_without_every_backend_is_refused():
    with pytest.raises(TypeError, match=r"foo's KernelTable .* missing: \['triton'\], not backends: \['tpu'\]"):
        _common.KernelTable("foo", torch=_common.given(min), cpu=_common.given(min), cuda=_common.given(min),
                            tpu=_common.given(min))


@pytest.mark.parametrize("name", [b for b in _common.REGISTRY if b not in BACKENDS])
def test_each_unavailable_backend_says_what_it_needs(name):
    needs = _common.REGISTRY[name].needs
    with pytest.raises(ValueError, match=rf"backend='{name}' needs {re.escape(needs)}; tensors are on cpu"):
        ops.min_distance(torch.zeros(2, 3), torch.zeros(4, 3), backend=name)


def test_a_new_backend_is_one_record_and_one_entry_per_op(monkeypatch):
    """A backend added as a Backend record and one KernelTable entry per op runs every op, is
    listed, chosen by name and by "auto" where it is preferred, and says what it needs elsewhere."""
    calls = []

    def counted(table):
        torch_entry = table.loaders["torch"]
        return lambda: calls.append(table.op) or torch_entry()

    toy = _common.Backend("toy", needs="a toy device", devices=("cpu",), usable=lambda device: True, auto=("cpu",))
    monkeypatch.setattr(_common, "REGISTRY", {"toy": toy, **_common.REGISTRY})
    monkeypatch.setattr(_common, "BACKENDS", ("auto", *_common.REGISTRY))
    for table in OP_TABLES.values():
        monkeypatch.setitem(table.loaders, "toy", counted(table))
    assert ops.available_backends("cpu")[0] == "toy" and _common.resolve_backend("auto", torch.device("cpu")) == "toy"
    x, y = torch.randn(5, 3, dtype=torch.float64), torch.randn(7, 3, dtype=torch.float64)
    torch.testing.assert_close(ops.min_distance(x, y, backend="toy")[0], ops.min_distance(x, y, backend="torch")[0])
    ops.pairwise_distance(x, y, backend="toy")
    ops.dispersion(x, x[:, :2], backend="toy")
    ops.f_divergence_bound(x[:, 0], y[:, 0], backend="toy")
    assert calls == ["min_distance", "pairwise_distance", "dispersion", "f_divergence_bound"]
    monkeypatch.setitem(_common.REGISTRY, "toy", _common.Backend("toy", needs="a toy device", devices=("cuda",)))
    with pytest.raises(ValueError, match="backend='toy' needs a toy device; tensors are on cpu"):
        ops.min_distance(x, y, backend="toy")


def test_unknown_backend_is_named():
    with pytest.raises(ValueError, match="backend must be one of"):
        ops.min_distance(torch.zeros(2, 3), torch.zeros(4, 3), backend="fast")


def test_env_override(monkeypatch):
    monkeypatch.setenv("OMASGAN_BACKEND", "torch")
    x, bank = torch.randn(3, 4), torch.randn(5, 4)
    assert torch.equal(ops.min_distance(x, bank)[1], ops.min_distance(x, bank, backend="torch")[1])
    monkeypatch.setenv("OMASGAN_BACKEND", "nope")
    with pytest.raises(ValueError, match="OMASGAN_BACKEND"):
        ops.min_distance(x, bank)


def test_unavailable_backend_says_why():
    with pytest.raises(ValueError, match="backend='cuda' needs"):
        ops.min_distance(torch.zeros(2, 3), torch.zeros(4, 3), backend="cuda")


def test_public_names():
    assert set(omasgan.divergences.NAMES) == {
        "kl", "reverse_kl", "pearson", "neyman", "squared_hellinger", "jensen_shannon", "gan", "total_variation",
    }
    for name in ("min_distance", "pairwise_distance", "dispersion", "f_divergence_bound", "f_divergence_score"):
        assert callable(getattr(ops, name))


def test_torch_compile_matches_eager():
    x, bank = torch.randn(6, 5), torch.randn(40, 5)
    z, b = torch.randn(6, 3), torch.randn(6, 5)

    def loss(x, bank, z, b):
        return (ops.min_distance(x, bank)[0].mean() + ops.dispersion(z, b)
                + ops.f_divergence_bound(x[:, 0], b[:, 0]) + ops.pairwise_distance(x, b).mean())

    compiled = torch.compile(loss, fullgraph=True)
    torch.testing.assert_close(compiled(x, bank, z, b), loss(x, bank, z, b))
    # and through AOTAutograd: the backward ops (dispersion's, f_divergence_bound's) in the graph
    grads = []
    for fn in (compiled, loss):
        leaves = [t.clone().requires_grad_() for t in (x, bank, z, b)]
        grads.append(torch.autograd.grad(fn(*leaves), leaves))
    for got, expect in zip(*grads):
        torch.testing.assert_close(got, expect)


@pytest.mark.parametrize(
    "op, args",
    [
        ("min_distance", lambda: (torch.randn(4, 3, dtype=torch.float64, requires_grad=True),
                                  torch.randn(9, 3, dtype=torch.float64, requires_grad=True), 2.0, 1.0)),
        ("pairwise_distance", lambda: (torch.randn(4, 3, dtype=torch.float64, requires_grad=True),
                                       torch.randn(5, 3, dtype=torch.float64, requires_grad=True), 3.0, 1.0)),
        ("dispersion", lambda: (torch.randn(4, 2, dtype=torch.float64, requires_grad=True),
                                torch.randn(4, 3, dtype=torch.float64, requires_grad=True), 2.0, 1.0, 1e-8)),
        ("f_divergence_bound", lambda: (torch.randn(7, dtype=torch.float64, requires_grad=True),
                                        torch.randn(5, dtype=torch.float64, requires_grad=True), 2)),
    ],
)
def test_opcheck(op, args, backend):
    """torch.library's own check of the registration: schema, fake kernel, autograd."""
    torch.library.opcheck(getattr(torch.ops.omasgan, op).default, (*args(), backend))


def test_an_x86_cpu_without_avx2_falls_back_to_torch(monkeypatch):
    """The x86-64 build of the CPU kernels uses AVX2; where the CPU lacks it they are not offered
    (they would die of an illegal instruction) and auto runs the torch backend, with a warning
    that says why."""
    from omasgan import _ext

    monkeypatch.setattr(_ext, "CPU_KERNELS_USABLE", False)
    monkeypatch.setattr(_ext, "_warned", False)
    assert "cpu" not in ops.available_backends("cpu")
    with pytest.warns(RuntimeWarning, match="lacks AVX2"):
        assert _common.resolve_backend("auto", torch.device("cpu")) == "torch"
    with pytest.raises(ValueError, match="backend='cpu' needs"):
        ops.min_distance(torch.randn(2, 3), torch.randn(4, 3), backend="cpu")
    with pytest.raises(RuntimeError, match="lacks AVX2"):
        _ext.kernel("min_distance_cpu")
