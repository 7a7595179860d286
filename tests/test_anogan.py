import math

import numpy as np
import pytest
import torch
from torch import nn

from baseline_checks import check_fit_score_save_load, check_resume_matches_uninterrupted
from omasgan.models import get_model
from omasgan.models.anogan import AnoGAN
from omasgan.models.anogan.losses import search_loss
from omasgan.models.dcgan import discriminator_loss, generator_loss
from omasgan.engine import frozen
from omasgan.models.anogan.search import latent_search

FAST = dict(latent_dim=8, lr=1e-3, batch_size=64, progress=False, device="cpu")


def test_search_loss_matches_hand_computed_value():
    x = torch.tensor([[[[0.0, 1.0]]], [[[1.0, 1.0]]]])  # [2, 1, 1, 2]
    x_hat = torch.tensor([[[[0.5, 0.0]]], [[[1.0, -1.0]]]])  # L1 residuals: 0.5 + 1 = 1.5 and 0 + 2 = 2
    feat_x = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    feat_hat = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])  # L1 feature residuals: 3 and 1
    # (1 - 0.1) * 1.5 + 0.1 * 3 = 1.65;  0.9 * 2 + 0.1 * 1 = 1.9
    assert search_loss(x, x_hat, feat_x, feat_hat, lam=0.1).tolist() == pytest.approx([1.65, 1.9])
    assert search_loss(x, x_hat, feat_x, feat_hat, lam=0.0).tolist() == pytest.approx([1.5, 2.0])


def test_dcgan_losses_match_hand_computed_values():
    # logit ln 3 -> D = 3/4: -log D(real) = log(4/3); the fake at logit -ln 3: -log(1 - 1/4) = log(4/3)
    real = torch.tensor([math.log(3.0)])
    assert discriminator_loss(real, -real).item() == pytest.approx(2 * math.log(4 / 3))
    assert generator_loss(real).item() == pytest.approx(math.log(4 / 3))


def _tiny_networks():
    torch.manual_seed(0)
    gen = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 6)).eval()
    feat = nn.Sequential(nn.Linear(6, 8), nn.LeakyReLU(0.2)).eval()
    return gen, feat


def test_batched_search_equals_one_query_at_a_time():
    # One Adam over [B, nz] with summed per-sample losses = B independent searches (eval mode).
    gen, feat = _tiny_networks()
    x, z0 = torch.randn(5, 6), torch.randn(5, 4)
    with frozen(gen, feat):
        scores, z = latent_search(gen, feat, x, z0, steps=25, lr=0.05, lam=0.1)
        for i in range(len(x)):
            s_i, z_i = latent_search(gen, feat, x[i : i + 1], z0[i : i + 1], steps=25, lr=0.05, lam=0.1)
            torch.testing.assert_close(s_i, scores[i : i + 1], rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(z_i, z[i : i + 1], rtol=1e-4, atol=1e-5)
    start, _ = latent_search(gen, feat, x, z0, steps=0, lr=0.05, lam=0.1)
    assert (scores < start).all()  # the search improves every query
    assert all(p.requires_grad for p in gen.parameters())  # `frozen` restores the flags


def test_registered_and_validates_settings():
    assert get_model("anogan") is AnoGAN
    with pytest.raises(ValueError, match="lam"):
        AnoGAN(lam=1.5)
    with pytest.raises(ValueError, match="search_steps"):
        AnoGAN(search_steps=-1)
    with pytest.raises(ValueError, match="same batch size"):
        latent_search(nn.Identity(), nn.Identity(), torch.zeros(2, 3), torch.zeros(3, 3), steps=1, lr=0.1, lam=0.1)


def test_trains_scores_saves_and_loads(tmp_path):
    detector = AnoGAN(epochs=30, search_steps=50, search_lr=0.1, **FAST)
    check_fit_score_save_load(detector, tmp_path, min_auroc=0.65)


def test_resume_gives_the_uninterrupted_result(tmp_path, monkeypatch):
    settings = dict(epochs=2, steps_per_epoch=3, search_steps=3, hidden=32, **FAST)
    check_resume_matches_uninterrupted(AnoGAN, settings, tmp_path, monkeypatch)


def test_dcgan_search_on_images_is_finite_and_batch_independent():
    images = torch.rand(72, 1, 32, 32) * 2 - 1
    detector = AnoGAN(width=4, latent_dim=16, epochs=1, batch_size=16, search_steps=3, progress=False, device="cpu")
    detector.fit(images[:48], val_data=images[48:64])
    scores = detector.decision_function(images[64:])
    assert np.isfinite(scores).all()
    np.testing.assert_allclose(detector.decision_function(images[64:65]), scores[:1], rtol=1e-4)
