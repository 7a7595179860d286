"""Streamed banks (memmap, numpy, chunk iterables, other-device tensors) equal the in-memory op."""
import math
import resource

import numpy as np
import pytest
import torch

from omasgan import ops
from omasgan.ops.streaming import streamed_min_distance


def tied_problem(dtype=torch.float64, n=9, q_rows=150, d=6):
    """Queries and a bank with exact duplicates across chunk boundaries and a zero distance."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, d, generator=g, dtype=dtype)
    bank = torch.randn(q_rows, d, generator=g, dtype=dtype)
    bank[70] = bank[4]  # a tie between chunks: the lowest index (4) must win
    bank[120] = bank[4]
    bank[33] = x[2]  # an exact hit: value 0
    bank[34] = x[2]
    return x, bank


def sources(bank: torch.Tensor, tmp_path):
    path = tmp_path / "bank.npy"
    np.save(path, bank.numpy())
    return {
        "path": path,
        "str-path": str(path),
        "ndarray": bank.numpy(),
        "memmap": np.load(path, mmap_mode="r"),
        "iterable": [bank[:10], bank[10:11].numpy(), bank[11:70], bank[70:]],
        "generator": (bank[s : s + 17] for s in range(0, bank.shape[0], 17)),
    }


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, math.inf])
@pytest.mark.parametrize("q", [0.5, 1.0, 2.0])
def test_every_source_equals_in_memory(p, q, tmp_path):
    x, bank = tied_problem()
    expect_v, expect_i = ops.min_distance(x, bank, p, q)
    for name, src in sources(bank, tmp_path).items():
        v, i = streamed_min_distance(x, src, p, q, chunk_rows=13)
        assert torch.equal(v, expect_v), name
        assert torch.equal(i, expect_i), name
    assert expect_i[2] == 33 and expect_v[2] == 0


def test_public_op_delegates_non_tensor_banks(tmp_path):
    x, bank = tied_problem(torch.float32)
    expect = ops.min_distance(x, bank)
    for name, src in sources(bank, tmp_path).items():
        got = ops.min_distance(x, src)
        assert torch.equal(got[0], expect[0]) and torch.equal(got[1], expect[1]), name


def test_gradient_matches_in_memory(tmp_path):
    x, bank = tied_problem()
    x.requires_grad_(True)
    for p, q in [(2.0, 1.0), (1.0, 2.0), (math.inf, 0.5)]:
        expect = torch.autograd.grad(ops.min_distance(x, bank, p, q)[0].square().sum(), x)[0]
        got = torch.autograd.grad(streamed_min_distance(x, bank.numpy(), p, q, chunk_rows=7)[0].square().sum(), x)[0]
        assert torch.equal(got, expect)
        assert torch.equal(got[2], torch.zeros_like(got[2]))  # zero distance: zero subgradient


def test_dtypes_follow_the_in_memory_rules():
    x, bank = tied_problem(torch.float32)
    v, i = streamed_min_distance(x.half(), bank.numpy().astype(np.float16), chunk_rows=11)
    ev, ei = ops.min_distance(x.half(), bank.half())
    assert v.dtype == torch.float16 and torch.equal(v, ev) and torch.equal(i, ei)
    v, i = streamed_min_distance(x, bank.double().numpy(), chunk_rows=11)  # float64 bank: computed in float64
    ev, ei = ops.min_distance(x, bank.double())
    assert v.dtype == torch.float32 and torch.equal(v, ev) and torch.equal(i, ei)


def test_empty_queries_and_bad_banks(tmp_path):
    x, bank = tied_problem()
    v, i = streamed_min_distance(x[:0], bank.numpy())
    assert v.shape == (0,) and i.shape == (0,)
    with pytest.raises(ValueError, match="Q = 0"):
        streamed_min_distance(x, iter([]))
    with pytest.raises(ValueError, match="same number of features"):
        streamed_min_distance(x, [bank[:, :3]])
    with pytest.raises(TypeError, match="bank chunk 1"):
        streamed_min_distance(x, [bank, "nope"])
    with pytest.raises(TypeError, match="float16, float32 or float64"):
        streamed_min_distance(x, np.zeros((3, 6), dtype=np.int64))
    with pytest.raises(ValueError, match="not a file"):
        streamed_min_distance(x, tmp_path / "missing.npy")
    with pytest.raises(ValueError, match="chunk_rows"):
        streamed_min_distance(x, bank.numpy(), chunk_rows=0)
    with pytest.raises(ValueError, match="constant"):
        streamed_min_distance(x, [bank.clone().requires_grad_(True)])


def test_empty_and_big_endian_npy_banks(tmp_path):
    x, bank = tied_problem()
    for shape in [(0, 6), (0,), (0, 2, 3)]:
        path = tmp_path / f"empty{len(shape)}.npy"
        np.save(path, np.zeros(shape, dtype=np.float32))
        with pytest.raises(ValueError, match="bank must hold at least one sample, got Q = 0"):
            ops.min_distance(x, path)
    with pytest.raises(ValueError, match="bank must hold at least one sample, got Q = 0"):
        ops.min_distance(x, np.zeros((0, 6)))
    expected = ops.min_distance(x, bank)
    for dtype in (">f8", ">f4", ">f2"):
        path = tmp_path / f"big{dtype[1:]}.npy"
        big = bank.numpy().astype(dtype)
        np.save(path, big)
        want = ops.min_distance(x.to(torch.float32) if dtype != ">f8" else x, torch.from_numpy(big.astype(dtype[1:])))
        for source in (path, np.load(path, mmap_mode="r"), big, [big[:50], big[50:]]):
            v, i = ops.min_distance(x.to(want[0].dtype), source)
            assert torch.equal(v, want[0]) and torch.equal(i, want[1]), (dtype, type(source))
        got = streamed_min_distance(x.to(want[0].dtype), path, chunk_rows=7)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert torch.equal(ops.min_distance(x, tmp_path / "bigf8.npy")[1], expected[1])


def test_memmap_pass_keeps_resident_memory_flat(tmp_path):
    """A pass over a 96 MiB memmap may not leave the whole file resident in this process."""
    rows, d = 32768, 768
    path = tmp_path / "big.npy"
    bank = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, d))
    bank[:] = 1.0
    bank.flush()
    del bank
    before = _rss_bytes()
    streamed_min_distance(torch.zeros(2, d), path, chunk_rows=2048)
    after = _rss_bytes()
    assert after - before < 48 << 20, f"resident memory grew by {(after - before) >> 20} MiB"


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_bank_cuda_queries_double_buffered(tmp_path):
    x, bank = tied_problem(torch.float32)
    expect = ops.min_distance(x.cuda(), bank.cuda())
    for name, src in {"cpu-tensor": bank, **sources(bank, tmp_path)}.items():
        v, i = ops.min_distance(x.cuda(), src) if name == "cpu-tensor" else streamed_min_distance(x.cuda(), src, chunk_rows=13)
        assert v.is_cuda and torch.equal(v, expect[0]) and torch.equal(i, expect[1]), name


def test_nearest_neighbour_scores_with_a_memory_mapped_bank(tmp_path):
    from omasgan.models.knn import NearestNeighbour

    train = torch.randn(300, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    det = NearestNeighbour(progress=False, device="cpu").fit(train)
    queries = torch.randn(20, 1, 8, 8)
    expect = det.decision_function(queries)
    np.save(tmp_path / "bank.npy", det.bank_.numpy())
    det.bank_ = tmp_path / "bank.npy"
    assert np.array_equal(det.decision_function(queries), expect)
