"""A streamed bank (and leave-self-out's row chunks) checks x and the settings once per pass, each
chunk only for what is new about it; bad input still gets the in-memory op's messages."""
import math

import numpy as np
import pytest
import torch

from omasgan import ops
from omasgan.ops import _common
from omasgan.ops.streaming import streamed_min_distance


@pytest.fixture
def counted(monkeypatch):
    """Records the name passed to every check_finite and every resolve_backend call."""
    seen = {"finite": [], "backend": 0}
    check_finite, resolve_backend = _common.check_finite, _common.resolve_backend

    def finite(t, name):
        seen["finite"].append(name)
        return check_finite(t, name)

    def resolve(backend, device):
        seen["backend"] += 1
        return resolve_backend(backend, device)

    monkeypatch.setattr(_common, "check_finite", finite)
    monkeypatch.setattr(_common, "resolve_backend", resolve)
    return seen


@pytest.mark.parametrize("kind", ["ndarray", "tensor", "iterable"])
def test_x_is_checked_once_for_all_chunks(counted, kind):
    x, bank = torch.randn(6, 5, dtype=torch.float64), torch.randn(50, 5, dtype=torch.float64)
    source = {"ndarray": bank.numpy(), "tensor": bank, "iterable": [bank[:20], bank[20:]]}[kind]
    v, i = streamed_min_distance(x, source, chunk_rows=7)
    assert counted["finite"].count("x") == 1
    chunks = math.ceil(50 / 7) if kind != "iterable" else 2
    assert counted["finite"].count("bank") == chunks  # each chunk's own values, once
    assert counted["backend"] == 1
    expect = ops.min_distance(x, bank, backend="torch")
    torch.testing.assert_close(v, expect[0])
    assert torch.equal(i, expect[1])


def test_bad_input_keeps_its_messages():
    x, bank = torch.randn(6, 5), torch.randn(50, 5)
    bad_x = x.clone()
    bad_x[3, 1] = math.nan
    with pytest.raises(ValueError, match="x contains NaN or inf values"):
        streamed_min_distance(bad_x, bank.numpy(), chunk_rows=7)
    late = bank.clone()
    late[45, 0] = math.inf  # in the last chunk: found when that chunk is read
    with pytest.raises(ValueError, match="bank contains NaN or inf values"):
        streamed_min_distance(x, late.numpy(), chunk_rows=7)
    with pytest.raises(ValueError, match="same number of features D after flattening, got x: 5 and bank: 4"):
        streamed_min_distance(x, [bank[:10], bank[10:, :4]])
    with pytest.raises(ValueError, match="bank must hold at least one sample, got Q = 0"):
        streamed_min_distance(x, [bank[:10], bank[:0]])
    with pytest.raises(ValueError, match="at least one feature, got D = 0"):
        streamed_min_distance(x[:, :0], np.zeros((3, 0), dtype=np.float32))
    with pytest.raises(ValueError, match="backend must be one of"):
        streamed_min_distance(x, bank.numpy(), backend="fast")
    with pytest.raises(ValueError, match="p must be a number"):
        streamed_min_distance(x, bank.numpy(), p=0.5)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        streamed_min_distance(x.numpy(), bank.numpy())


def test_non_contiguous_chunks_are_searched_as_such():
    x = torch.randn(4, 3, dtype=torch.float64)
    bank = torch.randn(3, 30, dtype=torch.float64).T  # [30, 3], not contiguous
    v, i = streamed_min_distance(x, [bank[:11], bank[11:]])
    expect = ops.min_distance(x, bank.contiguous(), backend="torch")
    torch.testing.assert_close(v, expect[0])
    assert torch.equal(i, expect[1])


def test_leave_self_out_checks_the_bank_once(counted):
    bank = torch.randn(40, 3, dtype=torch.float64)
    values, indices = ops.leave_self_out_min_distance(bank, chunk_size=8)
    assert counted["finite"] == ["bank"] * 5  # each row chunk once, not the bank again per chunk
    assert counted["backend"] == 1
    full = torch.cdist(bank, bank).fill_diagonal_(math.inf)
    torch.testing.assert_close(values, full.min(1).values)
    bad = bank.clone()
    bad[33, 2] = math.nan
    with pytest.raises(ValueError, match="bank contains NaN or inf values"):
        ops.leave_self_out_min_distance(bad, chunk_size=8)
    with pytest.raises(ValueError, match="p must be a number"):
        ops.leave_self_out_min_distance(bank, p=0.0)
    with pytest.raises(ValueError, match="bank must have at least one feature"):
        ops.leave_self_out_min_distance(torch.zeros(4, 0))


def test_leave_self_out_keeps_half_banks_in_their_dtype():
    bank = torch.randn(30, 4).half()
    values, indices = ops.leave_self_out_min_distance(bank, chunk_size=7)
    assert values.dtype == torch.float16
    full = torch.cdist(bank.float(), bank.float()).fill_diagonal_(math.inf)
    torch.testing.assert_close(values.float(), full.min(1).values, rtol=2e-3, atol=2e-3)
