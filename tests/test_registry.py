"""The model registry (omasgan.models.registry): its light entries agree with the classes, and a
new detector is its class plus one entry: the CLI, loading, the top-level names and the
capability defaults then work for it with no other edit (README "Adding a model")."""
import dataclasses
import json

import numpy as np
import pytest
import torch

import omasgan
from omasgan import cli
from omasgan.data import make_split
from omasgan.models import MODELS, get_model, load, registry
from omasgan.models.base import Detector, by_shape


@pytest.mark.parametrize("name", registry.names())
def test_each_entry_agrees_with_its_class(name):
    entry = registry.ENTRIES[name]
    cls = entry.load()
    assert issubclass(cls, Detector) and cls.name == name and cls.__name__ == entry.class_name
    assert entry.presets == tuple(cls.presets)
    assert registry.DEFAULT_PRESET in entry.presets
    assert MODELS[name] is cls and get_model(name) is cls
    assert getattr(omasgan, entry.class_name) is cls and entry.class_name in omasgan.__all__


def test_the_registry_lists():
    assert registry.DEFAULT_MODEL in registry.names()
    assert list(MODELS) == list(registry.names()) and len(MODELS) == len(registry.ENTRIES)
    assert set(registry.preset_names()) == {p for cls in MODELS.values() for p in cls.presets}
    with pytest.raises(ValueError, match="model must be one of anogan, ganomaly, knn, omasgan; got 'nope'"):
        get_model("nope")


class MeanDistance(Detector):
    """A toy detector: the distance to the mean of the normal training data."""

    name = "toy"
    presets = {"quick": by_shape({}, {})}

    mean_: torch.Tensor  # fitted: [F] the training mean

    def _fit(self, train, val, engine):
        self.mean_ = train.flatten(1).mean(dim=0).to(self.torch_device)

    def _score(self, x):
        return (x.flatten(1) - self.mean_).norm(dim=1)

    def _extra_state(self):
        return {"mean": self.mean_.cpu()}

    def _load_extra_state(self, state):
        self.mean_ = state["mean"].to(self.torch_device)


@pytest.fixture
def toy(monkeypatch):
    """MeanDistance registered as "toy" for this test only (one registry entry, nothing else)."""
    monkeypatch.setitem(registry.ENTRIES, "toy", registry.Entry("toy", f"{__name__}:MeanDistance", ("quick",)))
    return MeanDistance


def test_a_toy_detector_registered_once_runs_through_the_cli(toy, tmp_path, capsys):
    assert get_model("toy") is toy and omasgan.MeanDistance is toy
    run = tmp_path / "run"
    assert cli.main(["train", "--dataset", "synthetic", "--model", "toy", "--out", str(run), "--no-progress"]) == 0
    assert json.loads((run / "settings.json").read_text())["model"] == "toy"
    # The capability defaults: one score term and no stage report, so no files for them.
    assert not (run / "score_terms_auroc.json").exists() and not (run / "stages.json").exists()
    capsys.readouterr()
    scores = tmp_path / "scores.npy"
    assert cli.main(["score", "--model-path", str(run / "model.pt"), "--dataset", "synthetic",
                     "--out", str(scores)]) == 0
    assert "test AUROC" in capsys.readouterr().out
    split = make_split("synthetic")
    det = load(run / "model.pt")
    assert isinstance(det, toy)
    expect = (split.test_x.flatten(1) - det.mean_).norm(dim=1).double().numpy()
    np.testing.assert_allclose(np.load(scores), expect, rtol=1e-6)
    # What it does not offer is refused in one line naming the model.
    for argv, message in [(["score", "--model-path", str(run / "model.pt"), "--dataset", "synthetic",
                            "--bank-size", "10"], "'toy' has none"),
                          (["export", "--model-path", str(run / "model.pt"), "--out", str(tmp_path / "t.onnx")],
                           "toy cannot be exported to ONNX")]:
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert cli.main(["settings", "--model", "toy"]) == 0
    assert "toy (MeanDistance): presets quick" in capsys.readouterr().out
    parser = cli.build_parser()
    assert parser.parse_args(["compare", "--dataset", "digits", "--out", "c"]).models.split(",")[-1] == "toy"


def test_a_refit_clears_the_fitted_state(toy):
    det = toy(progress=False).fit(np.random.default_rng(0).normal(size=(20, 2)))
    det.extra_ = "left over"
    det.fit(np.random.default_rng(1).normal(size=(20, 3)))
    assert not hasattr(det, "extra_") and det.mean_.shape == (3,)
    assert [f.name for f in dataclasses.fields(det.Config)] == [f.name for f in dataclasses.fields(Detector.Config)]
