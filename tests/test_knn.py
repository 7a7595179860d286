import numpy as np
import pytest
import torch

from baseline_checks import check_fit_score_save_load, check_resume_matches_uninterrupted, synthetic_split
from omasgan.models import get_model
from omasgan.models.knn import NearestNeighbour

FAST = dict(progress=False, device="cpu")


@pytest.mark.parametrize("p, q", [(2.0, 1.0), (1.0, 1.0), (2.0, 2.0), (float("inf"), 1.0)])
def test_score_is_the_distance_to_the_nearest_training_sample(p, q):
    train, val, test_x, _ = synthetic_split(50)
    detector = NearestNeighbour(p=p, q=q, **FAST).fit(train, val_data=val)
    expected = torch.cdist(test_x.double(), train.double(), p=p).min(dim=1).values.pow(q)
    # atol: the fast p = 2 kernels rank candidates by ||x||^2 + ||y||^2 - 2 x.y in float32
    np.testing.assert_allclose(detector.decision_function(test_x), expected.numpy(), rtol=1e-5, atol=1e-4)


def test_bank_is_the_training_split_without_validation():
    train, val, _, _ = synthetic_split()
    detector = NearestNeighbour(**FAST).fit(train, val_data=val)
    assert detector.bank_.shape == (len(train), 2)
    assert detector.decision_function(train).max() < 1e-3  # its own neighbour, up to float32 rounding
    assert np.all(detector.decision_function(val) > 0)


def test_pixel_space_trains_scores_saves_and_loads(tmp_path):
    check_fit_score_save_load(NearestNeighbour(**FAST), tmp_path, min_auroc=0.99)


def test_critic_space_trains_scores_saves_and_loads(tmp_path):
    detector = NearestNeighbour(space="critic", latent_dim=8, epochs=5, batch_size=128, lr=1e-3, **FAST)
    check_fit_score_save_load(detector, tmp_path, min_auroc=0.8)
    assert set(detector.networks) == {"discriminator"}


def test_critic_space_resumes(tmp_path, monkeypatch):
    settings = dict(space="critic", latent_dim=8, hidden=32, epochs=2, steps_per_epoch=3, **FAST)
    check_resume_matches_uninterrupted(NearestNeighbour, settings, tmp_path, monkeypatch)


def test_images_use_the_flattened_pixels():
    images = torch.rand(40, 1, 32, 32) * 2 - 1
    detector = NearestNeighbour(**FAST).fit(images[:30], val_data=images[30:35])
    expected = torch.cdist(images[35:].flatten(1), images[:30].flatten(1)).min(dim=1).values
    np.testing.assert_allclose(detector.decision_function(images[35:]), expected.numpy(), rtol=1e-4)


def test_registered_and_validates_settings():
    assert get_model("knn") is NearestNeighbour
    with pytest.raises(ValueError, match="space"):
        NearestNeighbour(space="latent")
    with pytest.raises(ValueError, match="p must"):
        NearestNeighbour(p=0.5)
    with pytest.raises(ValueError, match="backend"):
        NearestNeighbour(backend="gpu")
