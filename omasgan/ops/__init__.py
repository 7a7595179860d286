"""The library's hot paths as public ops, each with autograd and one dispatcher over backends.

    min_distance(x, bank, p=2.0, q=1.0)           -> (values [N], indices [N])
    pairwise_distance(x, y, p=2.0, q=1.0)         -> [N, M]
    dispersion(z, b, p=2.0, q=1.0, eps=1e-8)      -> scalar
    f_divergence_bound(v_p, v_q, "pearson")       -> scalar
    f_divergence_score(v_query, v_bank, "pearson") -> [N]

Backends: "torch" (reference), "cpu" (C++), "cuda", "triton"; "auto" or $OMASGAN_BACKEND chooses.
"""
from omasgan.ops._common import BACKENDS, available_backends
from omasgan.ops.dispersion import dispersion
from omasgan.ops.f_divergence import f_divergence_bound, f_divergence_score
from omasgan.ops.min_distance import min_distance
from omasgan.ops.pairwise_distance import pairwise_distance
from omasgan.ops import streaming as _streaming  # noqa: F401  (registers min_distance's streamed path)

__all__ = [
    "BACKENDS",
    "available_backends",
    "dispersion",
    "f_divergence_bound",
    "f_divergence_score",
    "min_distance",
    "pairwise_distance",
]
