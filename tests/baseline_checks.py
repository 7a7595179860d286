"""Checks every baseline detector (GANomaly, AnoGAN, nearest neighbour) must pass, on the synthetic
set: 2-D ring modes as normal data, off-support points as the planted anomalies."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from omasgan.data import make_split
from omasgan.engine import Engine
from omasgan.models import Detector, load


def synthetic_split(n_test: int = 400):
    """The synthetic split with a smaller, balanced test set (fast to score)."""
    split = make_split("synthetic")
    keep = torch.cat([torch.nonzero(split.test_y == k).squeeze(1)[: n_test // 2] for k in (0, 1)])
    return split.train, split.val, split.test_x[keep], split.test_y[keep]


def check_fit_score_save_load(detector: Detector, tmp_path, min_auroc: float) -> np.ndarray:
    """Trains, scores (finite, planted anomalies ranked above normals), predicts, and reloads with
    the same scores; returns the test scores."""
    train, val, test_x, test_y = synthetic_split()
    detector.fit(train, val_data=val)
    scores = detector.decision_function(test_x)
    assert scores.shape == (len(test_x),) and np.isfinite(scores).all()
    assert roc_auc_score(test_y.numpy(), scores) > min_auroc
    assert set(np.unique(detector.predict(test_x))) <= {0, 1}
    path = detector.save(tmp_path / f"{detector.name}.pt")
    loaded = load(path)
    assert type(loaded) is type(detector) and loaded.threshold_ == detector.threshold_
    np.testing.assert_allclose(loaded.decision_function(test_x), scores, rtol=1e-5, atol=1e-6)
    return scores


def check_resume_matches_uninterrupted(model: type[Detector], settings: dict, tmp_path, monkeypatch) -> None:
    """A run killed after its first epoch and resumed gives the uninterrupted run's scores."""
    train, val, test_x, _ = synthetic_split(100)
    whole = model(out_dir=str(tmp_path / "whole"), **settings).fit(train, val_data=val).decision_function(test_x)

    run_epoch = Engine._run_epoch
    calls = {"n": 0}

    def dies_in_second_epoch(self, stage, index, epoch, bar=None):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return run_epoch(self, stage, index, epoch, bar)

    monkeypatch.setattr(Engine, "_run_epoch", dies_in_second_epoch)
    try:
        model(out_dir=str(tmp_path / "cut"), **settings).fit(train, val_data=val)
    except KeyboardInterrupt:
        pass
    monkeypatch.setattr(Engine, "_run_epoch", run_epoch)
    assert calls["n"] == 2
    resumed = model(out_dir=str(tmp_path / "cut"), resume=True, **settings).fit(train, val_data=val).decision_function(test_x)
    np.testing.assert_allclose(resumed, whole, rtol=1e-5, atol=1e-6)
