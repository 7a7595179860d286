import math

import numpy as np
import pytest
import torch

from baseline_checks import check_fit_score_save_load, check_resume_matches_uninterrupted
from omasgan.models import get_model
from omasgan.models.dcgan import discriminator_loss
from omasgan.models.ganomaly import GANomaly
from omasgan.models.ganomaly.losses import anomaly_score, generator_losses

FAST = dict(latent_dim=8, hidden=64, lr=1e-3, batch_size=128, progress=False, device="cpu")

# A fixed tiny batch (B = 2) whose losses are worked out by hand below.
X = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
X_REC = torch.tensor([[0.5, 1.0], [0.0, 0.0]])  # |x - x_rec| = .5 0 1 0     -> con = 1.5 / 4 = 0.375
Z = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
Z_REC = torch.tensor([[1.0, 0.0], [1.0, 1.0]])  # (z - z_rec)^2 = 0 4 1 1    -> enc = 6 / 4 = 1.5
F_REAL = torch.tensor([[0.0, 0.0], [2.0, 2.0]])
F_FAKE = torch.tensor([[1.0, 0.0], [2.0, 0.0]])  # (f - f')^2 = 1 0 0 4     -> adv = 5 / 4 = 1.25


def test_generator_loss_matches_hand_computed_value():
    parts = generator_losses(X, X_REC, Z, Z_REC, F_REAL, F_FAKE)
    assert parts["adv"].item() == pytest.approx(1.25)
    assert parts["con"].item() == pytest.approx(0.375)
    assert parts["enc"].item() == pytest.approx(1.5)
    assert parts["loss"].item() == pytest.approx(1 * 1.25 + 50 * 0.375 + 1 * 1.5)  # defaults: 21.5
    weighted = generator_losses(X, X_REC, Z, Z_REC, F_REAL, F_FAKE, w_adv=2, w_con=10, w_enc=0.5)
    assert weighted["loss"].item() == pytest.approx(2 * 1.25 + 10 * 0.375 + 0.5 * 1.5)  # 7.0


def test_anomaly_score_is_latent_mean_squared_error():
    # per sample: (0 + 4) / 2 = 2 and (1 + 1) / 2 = 1
    assert anomaly_score(Z, Z_REC).tolist() == [2.0, 1.0]


def test_discriminator_loss_matches_hand_computed_value():
    # logit ln 3 -> D = 3/4, so -log D(real) = -log(1 - D(fake at -ln 3)) = log(4/3); logit 0 -> log 2
    real = torch.tensor([math.log(3.0), 0.0])
    expected = 2 * (math.log(4 / 3) + math.log(2)) / 2
    assert discriminator_loss(real, -real).item() == pytest.approx(expected)


def test_registered_and_validates_settings():
    assert get_model("ganomaly") is GANomaly
    with pytest.raises(ValueError, match="w_con"):
        GANomaly(w_con=-1.0)
    with pytest.raises(TypeError, match="latent_dim"):
        GANomaly(latent_dim=2.5)
    with pytest.raises(TypeError, match="unknown setting"):
        GANomaly(nz=100)


def test_trains_scores_saves_and_loads(tmp_path):
    detector = GANomaly(epochs=10, max_train_samples=800, **FAST)
    check_fit_score_save_load(detector, tmp_path, min_auroc=0.8)


def test_resume_gives_the_uninterrupted_result(tmp_path, monkeypatch):
    check_resume_matches_uninterrupted(GANomaly, dict(epochs=2, steps_per_epoch=3, **FAST), tmp_path, monkeypatch)


def test_dcgan_networks_score_in_eval_mode():
    # BatchNorm in eval mode: a sample's score does not depend on the batch it is scored in.
    images = torch.rand(96, 1, 32, 32) * 2 - 1
    detector = GANomaly(width=4, latent_dim=16, epochs=1, batch_size=16, progress=False, device="cpu")
    detector.fit(images[:64], val_data=images[64:80])
    alone = detector.decision_function(images[80:81])
    in_batch = detector.decision_function(images[80:])
    np.testing.assert_allclose(alone, in_batch[:1], rtol=1e-5)
    assert np.isfinite(in_batch).all()
