"""AnoGAN's scoring throughput: the batched latent search against one query at a time.

Both cases run the same `latent_search` (same networks, steps and learning rate, so the same
scores: tests/test_anogan.py checks that), on the `quick` preset's DCGAN for 1x32x32 images
(width 16, nz 100, untrained: the cost does not depend on the weights), frozen in eval mode.
    batched: 1000 queries in one [1000, nz] search (the detector's scoring batch);
    loop:    20 queries, each searched alone (a [1, nz] search per query).
extra_info["images_per_s"] = queries / median time; the target is batched >= 50 x loop.
Run: `.venv/bin/python -m pytest benchmarks/bench_anogan.py -q --benchmark-columns=min,median,max,rounds`
"""
from __future__ import annotations

import pytest
import torch

from omasgan.models.anogan import AnoGAN
from omasgan.engine import frozen
from omasgan.models.anogan.search import latent_search

STEPS = 5  # the quick preset's search_steps
QUERIES = {"batched": 1000, "loop": 20}


@pytest.fixture(scope="module")
def networks():
    detector = AnoGAN.from_preset("quick", (1, 32, 32), device="cpu")
    detector._build((1, 32, 32))
    nets = detector.networks
    for net in nets.values():
        net.eval()
    return nets["generator"], nets["discriminator"].features


@pytest.mark.benchmark(group=f"anogan latent search, {STEPS} steps, 1x32x32, width 16")
@pytest.mark.parametrize("mode", ["batched", "loop"])
def test_search_throughput(benchmark, measure, rng, networks, mode):
    generate, features = networks
    n = QUERIES[mode]
    x = torch.rand(n, 1, 32, 32, generator=rng) * 2 - 1
    z0 = torch.randn(n, 100, generator=rng)
    size = n if mode == "batched" else 1

    def search():
        with frozen(generate, features):
            return torch.cat([
                latent_search(generate, features, x[i : i + size], z0[i : i + size], steps=STEPS, lr=0.2, lam=0.1)[0]
                for i in range(0, n, size)
            ])

    scores = measure(search)
    assert torch.isfinite(scores).all()
    benchmark.extra_info["queries"] = n
    benchmark.extra_info["images_per_s"] = round(n / benchmark.stats.stats.median, 1)
