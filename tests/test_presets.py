"""Presets as the estimator's defaults: Model() is its "quick" preset for the kind of data fit
gets, explicit settings always win, and the settings that presets fill in stay unset until fit."""
import dataclasses

import numpy as np
import pytest
import torch
from sklearn.base import clone

from omasgan import OMASGAN, data
from omasgan.checkpoint import atomic_save, load_checked
from omasgan.models import MODELS
from omasgan.models.base import FROM_PRESET, MODEL_FORMAT, shape_kind
from omasgan.models.omasgan import losses

SHAPES = [(1, 32, 32), (1, 8, 8), (5,), (2,)]
TINY = dict(epochs=(2, 1, 1, 1), hidden=16, bank_size=64, score_bank_size=64, progress=False)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_default_estimator_is_the_quick_preset(name, shape):
    cls = MODELS[name]
    assert cls()._validated(shape) == cls.from_preset("quick", shape).config


@pytest.mark.parametrize("shape, kind", [((1, 32, 32), "dcgan"), ((3, 8, 8), "image"), ((3,), "vector"),
                                         ((2,), "plane"), ((1,), "plane")])
def test_shape_kinds(shape, kind):
    assert shape_kind(shape) == kind


def test_plane_rule_lives_in_the_presets():
    assert OMASGAN()._validated((2,)).mu == 0.1  # every preset, both forms
    assert OMASGAN(preset="paper")._validated((2,)).mu == 0.1
    assert OMASGAN()._validated((3,)).mu == 1.0


def test_explicit_settings_win_even_at_the_configs_default():
    assert OMASGAN()._validated((2,)).kappa == 1.0
    assert OMASGAN(kappa=0.0)._validated((2,)).kappa == 0.0
    assert OMASGAN(preset="quick-paper", space="unit")._validated((1, 32, 32)).space == "unit"


def test_unset_settings_survive_get_params_and_clone():
    det = OMASGAN(lr=1e-3)
    params = clone(det).get_params()
    assert params["space"] is FROM_PRESET and params["lr"] == 1e-3 and params["preset"] == "quick"


def test_fit_resolves_for_the_data_and_set_params_keeps_it():
    split = data.make_split("synthetic")
    torch.set_num_threads(1)
    model = OMASGAN(**TINY).fit(split.train, val_data=split.val)
    expected = OMASGAN.from_preset("quick", (2,), **TINY).config
    assert model.config == expected
    assert model.config.divergence == "jensen_shannon" and model.config.mu == 0.1
    model.set_params(contamination=0.05)
    assert dataclasses.replace(expected, contamination=0.05) == model.config


def test_beta1_and_gradient_penalty_reach_training():
    model = OMASGAN(beta1=0.3, gradient_penalty=10.0, **TINY)
    model._config = model._validated((2,))
    model._build((2,))
    assert model._adam("G").defaults["betas"] == (0.3, 0.999)
    torch.manual_seed(0)
    x = torch.randn(16, 2)
    critic = model.networks["V"]
    opt = torch.optim.SGD(critic.parameters(), lr=0.0)  # lr 0: the critic does not move between the two calls
    with_gp, _ = model._critic_update("V", opt, lambda: (x, critic(x)), lambda v: v.mean())
    penalty = losses.gradient_penalty(critic, x, losses.divergence_activation(model.config.divergence))
    model._config = dataclasses.replace(model.config, gradient_penalty=0.0)
    without, _ = model._critic_update("V", opt, lambda: (x, critic(x)), lambda v: v.mean())
    assert float((with_gp - without).detach()) == pytest.approx(5.0 * float(penalty.detach()), rel=1e-4)


def test_model_files_with_the_earlier_settings_still_load(tmp_path):
    split = data.make_split("synthetic")
    torch.set_num_threads(1)
    model = OMASGAN(**TINY).fit(split.train, val_data=split.val)
    model.save(tmp_path / "now.pt")
    payload = load_checked(tmp_path / "now.pt", MODEL_FORMAT)
    config = payload["config"]
    config.pop("preset")
    config["adam_betas"] = [config.pop("beta1"), 0.999]
    config.update(shell=0.0, bank_source="generator", j_input="sample")  # pixel space: J saw the same
    atomic_save(payload, tmp_path / "before.pt")
    loaded = OMASGAN.load(tmp_path / "before.pt")
    np.testing.assert_array_equal(loaded.decision_function(split.test_x), model.decision_function(split.test_x))
    config["shell"] = 3.0
    atomic_save(payload, tmp_path / "shell.pt")
    with pytest.raises(ValueError, match="shell=3.0"):
        OMASGAN.load(tmp_path / "shell.pt")


def test_space_means_the_same_in_knn_and_omasgan():
    """NearestNeighbour(space="auto") is OMASGAN's manifold term (image library form) alone: both
    choose the same space, and the standardised term is an increasing affine map of the nearest
    neighbour's score."""
    from omasgan import NearestNeighbour

    torch.manual_seed(0)
    train, test = torch.rand(120, 1, 8, 8) * 2 - 1, torch.rand(30, 1, 8, 8) * 2 - 1
    knn = NearestNeighbour(space="auto", progress=False).fit(train, val_data=train[:10])
    model = OMASGAN(epochs=(1, 1, 1, 1), hidden=16, bank_size=16, score_bank_size=16, progress=False)
    model.fit(train, val_data=train[:10])
    assert (model.space_, model.blur_, model.space_scores_) == (knn.space_, knn.blur_, knn.space_scores_)
    manifold = model.score_terms(test)["manifold"]
    scale = model.score_stats_[2, 1].item()
    shift = model.score_stats_[2, 0].item()
    np.testing.assert_allclose(manifold * scale + shift, knn.decision_function(test), rtol=1e-5, atol=1e-6)
