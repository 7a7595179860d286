"""The library's hot paths as public ops, each with autograd and one dispatcher over backends.

    min_distance(x, bank, p=2.0, q=1.0)           -> (values [N], indices [N])
    sharded_min_distance(x, local_bank, p, q, group=None) -> the same over every rank's shard
    leave_self_out_min_distance(bank, p, q)       -> (values [Q], indices [Q]) to the nearest other row
    pairwise_distance(x, y, p=2.0, q=1.0)         -> [N, M]
    dispersion(z, b, p=2.0, q=1.0, eps=1e-8)      -> scalar
    f_divergence_bound(v_p, v_q, "pearson")       -> scalar
    f_divergence_score(v_query, v_bank, "pearson") -> [N]

Backends: "torch" (reference), "cpu" (C++), "cuda", "triton"; "auto" or $OMASGAN_BACKEND chooses.
"""
from omasgan.ops._common import BACKENDS, available_backends
from omasgan.ops.dispersion import dispersion
from omasgan.ops.f_divergence import f_divergence_bound, f_divergence_score
from omasgan.ops.nearest import leave_self_out_min_distance, min_distance, sharded_min_distance
from omasgan.ops.pairwise_distance import pairwise_distance

__all__ = [
    "BACKENDS",
    "available_backends",
    "dispersion",
    "f_divergence_bound",
    "f_divergence_score",
    "leave_self_out_min_distance",
    "min_distance",
    "pairwise_distance",
    "sharded_min_distance",
]
