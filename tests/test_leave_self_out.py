"""leave_self_out_min_distance: each bank row's distance to its nearest OTHER row, against a
float64 reference (the full pairwise matrix with its diagonal masked)."""
import math

import pytest
import torch

from omasgan import ops
from tests import oracle


def reference(bank, p, q):
    """[Q, D] -> (values [Q], the set of minimisers per row) from the float64 matrix."""
    full = oracle.pairwise(bank.double(), bank.double(), p, q)
    full.fill_diagonal_(math.inf)
    return full.min(dim=1).values, full


@pytest.mark.parametrize("p", [1.0, 2.0, math.inf])
@pytest.mark.parametrize("q", [1.0, 2.0])
@pytest.mark.parametrize("n, d, chunk", [(2, 1, 1), (7, 3, 3), (40, 5, 16), (33, 2, 1024)])
def test_matches_the_float64_reference_with_duplicates(backend, p, q, n, d, chunk):
    g = torch.Generator().manual_seed(n * 7 + d)
    bank = torch.randn(n, d, generator=g, dtype=torch.float64)
    if n > 2:  # exact duplicates, within one chunk and across chunks: their distance is 0, not masked
        bank[1], bank[n - 1] = bank[0], bank[2]
    values, indices = ops.leave_self_out_min_distance(bank, p, q, chunk_size=chunk, backend=backend)
    expect, full = reference(bank, p, q)
    assert values.shape == (n,) and values.dtype == bank.dtype and indices.dtype == torch.long
    torch.testing.assert_close(values, expect, rtol=1e-9, atol=1e-9)
    assert (indices != torch.arange(n)).all()  # never the row itself
    torch.testing.assert_close(full.gather(1, indices[:, None]).squeeze(1), expect, rtol=1e-9, atol=1e-9)
    if n > 2:
        assert values[0] == 0 and values[1] == 0 and values[2] == 0 and values[n - 1] == 0


def test_float32_bank_and_images():
    bank = torch.randn(50, 1, 3, 3)
    values, _ = ops.leave_self_out_min_distance(bank, 2.0, 1.0, chunk_size=8)
    expect, _ = reference(bank.flatten(1), 2.0, 1.0)
    torch.testing.assert_close(values.double(), expect, rtol=1e-4, atol=1e-4)


def test_a_bank_of_one_row_has_no_other_row():
    values, indices = ops.leave_self_out_min_distance(torch.ones(1, 3))
    assert values.tolist() == [math.inf] and indices.tolist() == [-1]
    with pytest.raises(ValueError, match="chunk_size"):
        ops.leave_self_out_min_distance(torch.ones(3, 3), chunk_size=0)
