"""Every detector is a scikit-learn estimator with PyOD's detector interface (README "Estimator
interface"): parameters, clone, fit(X, y=None), decision_function, threshold, labels, predict,
predict_proba, predict_confidence, fit_predict, NotFittedError, Pipeline and GridSearchCV."""
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import omasgan
from omasgan.models import MODELS, registry

RUN = dict(progress=False, device="cpu")
# Tiny settings per registered model (a new model adds its own): these tests check the interface,
# not the detectors.
TINY = {
    "knn": {},
    "ganomaly": dict(latent_dim=4, hidden=16, epochs=2, batch_size=32),
    "anogan": dict(latent_dim=4, hidden=16, epochs=2, batch_size=32, search_steps=3),
    "omasgan": dict(latent_dim=4, hidden=16, epochs=(1, 1, 1, 1), batch_size=32, bank_size=32, score_bank_size=32,
                    kappa=1.0, score_bank_source="data"),
}


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def blobs(n_normal=200, n_anomalies=0, seed=0):
    """Normal points around the origin, anomalies scattered on a ring of radius 6: X [N, 2], y [N]."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, n_anomalies)
    x = np.vstack([rng.normal(size=(n_normal, 2)), 6 * np.c_[np.cos(angle), np.sin(angle)]]).astype(np.float32)
    return x, np.r_[np.zeros(n_normal, int), np.ones(n_anomalies, int)]


@pytest.fixture(scope="module", params=sorted(MODELS))
def fitted(request):
    torch.set_num_threads(1)
    x, _ = blobs()
    return getattr(omasgan, registry.ENTRIES[request.param].class_name)(**TINY[request.param], **RUN).fit(x), x


def test_top_level_names_are_the_registered_models():
    for key, entry in registry.ENTRIES.items():
        assert getattr(omasgan, entry.class_name) is MODELS[key]
    assert omasgan.load is omasgan.models.load


@pytest.mark.parametrize("name", sorted(MODELS))
def test_parameters_clone_and_set_params(name):
    cls = MODELS[name]
    det = cls(contamination=0.2, seed=3, **TINY[name])
    params = det.get_params()
    assert params["contamination"] == 0.2 and params["seed"] == 3 and "device" in params
    twin = clone(det)
    assert type(twin) is cls and twin.get_params() == params and twin is not det
    assert det.set_params(seed=5) is det and det.seed == 5 and det.config.seed == 5
    with pytest.raises(ValueError, match="Invalid parameter"):
        det.set_params(nonsense=1)
    with pytest.raises(ValueError, match="contamination must be in"):
        det.set_params(contamination=0.7)
    assert "contamination=0.2" in repr(cls(contamination=0.2))


@pytest.mark.parametrize("bad, error, message", [
    (dict(seed="abc"), TypeError, "seed must be an int"),
    (dict(seed=-1), ValueError, "seed must be >= 0"),
    (dict(progress="no"), TypeError, "progress must be True or False"),
    (dict(device=3), TypeError, "device must be a string"),
    (dict(contamination=0), ValueError, "contamination must be in"),
    (dict(threshold_from="test"), ValueError, "threshold_from must be one of"),
    (dict(lamda=1), TypeError, "unknown setting"),
])
def test_ill_typed_settings_fail_at_construction(bad, error, message):
    for cls in MODELS.values():
        with pytest.raises(error, match=message):
            cls(**bad)


def test_pyod_interface(fitted):
    det, x = fitted
    test, y = blobs(50, 50, seed=1)
    scores = det.decision_function(test)
    assert scores.shape == (100,) and scores.dtype == np.float64
    assert roc_auc_score(y, scores) > 0.7  # higher = more abnormal
    assert det.n_features_in_ == 2 and det.input_shape_ == (2,)
    assert det.decision_scores_.shape == (len(x),)  # every row of X, held-out rows included
    assert np.array_equal(det.labels_, (det.decision_scores_ > det.threshold_).astype(int))
    assert np.array_equal(det.predict(test), (scores > det.threshold_).astype(int))
    for method in ("linear", "unify"):
        proba = det.predict_proba(test, method=method)
        assert proba.shape == (100, 2) and np.allclose(proba.sum(1), 1) and (proba >= 0).all() and (proba <= 1).all()
        assert roc_auc_score(y, proba[:, 1]) > 0.7
    confidence = det.predict_confidence(test)
    assert confidence.shape == (100,) and ((confidence >= 0) & (confidence <= 1)).all()
    # The threshold: the 1 - contamination quantile of held-out normal scores.
    assert det.threshold_ == pytest.approx(np.quantile(det.calibration_scores_, 0.9))
    assert det.decision_function(np.zeros((0, 2))).shape == (0,)


def test_y_is_ignored_and_validation_comes_as_a_keyword():
    x, y = blobs(100, 10)
    a = omasgan.NearestNeighbour(**RUN).fit(x, y)
    b = omasgan.NearestNeighbour(**RUN).fit(x)
    assert np.array_equal(a.decision_function(x), b.decision_function(x))
    c = omasgan.NearestNeighbour(**RUN).fit(x[:80], val_data=x[80:])
    assert len(c.calibration_scores_) == 30
    with pytest.raises(TypeError, match="val_data="):
        omasgan.NearestNeighbour(**RUN).fit(x[:80], x[80:])  # samples given where y (labels) goes


def test_contamination_and_threshold_sources():
    x, _ = blobs(400)
    for contamination in (0.05, 0.2):
        det = omasgan.NearestNeighbour(contamination=contamination, threshold_from="train", q=1.0, **RUN)
        det.fit(x)
        # PyOD's rule exactly: the (1 - contamination) quantile of the training data's scores.
        assert det.threshold_ == pytest.approx(np.quantile(det.decision_scores_, 1 - contamination))
    validation = omasgan.NearestNeighbour(contamination=0.2, **RUN).fit(x[:300], val_data=x[300:])
    assert validation.threshold_ == pytest.approx(np.quantile(validation.decision_function(x[300:]), 0.8))
    assert abs(validation.predict(x[300:]).mean() - 0.2) < 0.02


def test_fit_predict_returns_the_training_labels():
    x, _ = blobs(200)
    det = omasgan.NearestNeighbour(threshold_from="train", **RUN)
    labels = det.fit_predict(x)
    assert np.array_equal(labels, det.labels_) and labels.shape == (200,)  # one label per row of X


@pytest.mark.parametrize("name", sorted(MODELS))
def test_not_fitted_errors(name):
    det = MODELS[name](**RUN)
    for call in (lambda: det.decision_function(np.zeros((2, 2))), lambda: det.predict(np.zeros((2, 2))),
                 lambda: det.labels_, lambda: det.save("never.pt")):
        with pytest.raises(NotFittedError, match="not fitted"):
            call()


def test_pipeline_and_grid_search():
    x, y = blobs(300, 30)
    pipe = make_pipeline(StandardScaler(), omasgan.NearestNeighbour(**RUN)).fit(x[y == 0])
    assert roc_auc_score(y, pipe.decision_function(x)) > 0.95
    assert set(np.unique(pipe.predict(x))) <= {0, 1}
    search = GridSearchCV(omasgan.NearestNeighbour(**RUN), {"p": [1.0, 2.0], "q": [1.0, 2.0]}, scoring="roc_auc",
                          cv=StratifiedKFold(3, shuffle=True, random_state=0)).fit(x, y)
    assert set(search.best_params_) == {"p", "q"} and search.best_score_ > 0.5
    assert isinstance(search.best_estimator_, omasgan.NearestNeighbour)


def test_save_load_keeps_scores_threshold_and_records(fitted, tmp_path):
    det, _ = fitted
    test, _ = blobs(20, 20, seed=2)
    loaded = omasgan.load(det.save(tmp_path / "m.pt"), device="cpu")
    assert type(loaded) is type(det) and loaded.get_params() == {**det.get_params(), "device": "cpu"}
    np.testing.assert_allclose(loaded.decision_function(test), det.decision_function(test), rtol=1e-5, atol=1e-6)
    assert loaded.threshold_ == det.threshold_ and np.array_equal(loaded.predict_proba(test), det.predict_proba(test))
    assert loaded.preprocessing_["input_shape"] == [2] and loaded.trained_on_["n_train"] == 190
    with pytest.raises(TypeError, match="runtime settings only"):
        omasgan.load(tmp_path / "m.pt", lr=1.0)
    with pytest.raises(AttributeError, match="not stored"):
        loaded.decision_scores_


def test_degenerate_inputs_get_clear_errors_or_empty_results():
    for cls in MODELS.values():
        with pytest.raises(ValueError, match="X holds 0 samples"):
            cls(**RUN).fit(np.zeros((0, 2)), val_data=np.zeros((3, 2)))
        with pytest.raises(ValueError, match="at least 2 normal samples"):
            cls(**RUN).fit(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="OMASGAN needs at least 2 training samples"):
        omasgan.OMASGAN(**RUN).fit(np.zeros((1, 2)), val_data=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        omasgan.OMASGAN(batch_size=1)
    with pytest.raises(ValueError, match="val_data holds 0 samples"):
        omasgan.NearestNeighbour(**RUN).fit(np.ones((5, 2)), val_data=np.zeros((0, 2)))
    two = omasgan.OMASGAN(**TINY["omasgan"], **RUN).fit(np.array([[0.0, 0.0], [1.0, 1.0]]), val_data=np.ones((2, 2)))
    assert np.isfinite(two.decision_function(np.zeros((3, 2)))).all()
    assert two.decision_function(np.zeros((0, 2))).shape == (0,)
    assert all(v.shape == (0,) for v in two.score_terms(np.zeros((0, 2))).values())
    with pytest.raises(ValueError, match=r"samples of shape \(2,\)"):
        two.score_terms(np.zeros((4, 3)))


def test_inputs_in_other_forms_are_read_or_refused():
    det = omasgan.NearestNeighbour(**RUN).fit(np.random.default_rng(0).normal(size=(50, 2)))
    big_endian = np.zeros((3, 2), dtype=">f8")
    assert det.decision_function(big_endian).shape == (3,)
    assert det.decision_function(np.zeros((3, 2), dtype=np.int64)).shape == (3,)
    with pytest.raises(TypeError, match="must hold numbers"):
        det.decision_function(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="NaN or inf"):
        det.decision_function(np.array([[np.inf, 0.0]]))


def test_images_in_another_value_range_are_refused():
    images = torch.rand(30, 1, 32, 32) * 2 - 1
    det = omasgan.NearestNeighbour(**RUN).fit(images)
    with pytest.raises(ValueError, match=r"holds values in \[0.0\d+, 255\], but this model was trained on images in \[-1, 0.99"):
        det.decision_function((images[:2] + 1) * 127.5)  # uint8 0-255 values, unscaled
    assert det.decision_function(images[:2] * 1.2).shape == (2,)  # a bit outside: an anomaly, not an error
