"""Run folders: one training at a time, no silent reuse, no stale temp files, consistent metrics
after a resume, and a copied folder resumes (also on another device setting)."""
import json
import shutil

import numpy as np
import pytest
import torch
from filelock import FileLock

from omasgan import NearestNeighbour, OMASGAN
from omasgan.checkpoint import LOCK_NAME, RunFolder, RunFolderError, atomic_write, clean_temp_files
from omasgan.engine import Engine

TINY = dict(latent_dim=4, hidden=16, epochs=(2, 1, 1, 1), batch_size=32, bank_size=32, score_bank_size=32,
            kappa=1.0, score_bank_source="data", progress=False, device="cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def points(n=160, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, 2)).astype(np.float32))


def test_a_folder_in_use_is_refused(tmp_path):
    other = FileLock(tmp_path / LOCK_NAME)  # another process's lock, as far as this one can tell
    with other:
        with pytest.raises(RunFolderError, match="in use by another training"):
            OMASGAN(out_dir=str(tmp_path), **TINY).fit(points())
    OMASGAN(out_dir=str(tmp_path), **TINY).fit(points())  # free again


def test_a_folder_holding_a_run_needs_resume_or_overwrite(tmp_path):
    first = OMASGAN(out_dir=str(tmp_path), **TINY).fit(points())
    first.save(tmp_path / "model.pt")
    saved = (tmp_path / "model.pt").read_bytes()
    with pytest.raises(RunFolderError, match=r"already holds a run \(checkpoint.pt, metrics.jsonl, model.pt\)"):
        OMASGAN(out_dir=str(tmp_path), **TINY).fit(points(seed=1))
    assert (tmp_path / "model.pt").read_bytes() == saved  # untouched
    OMASGAN(out_dir=str(tmp_path), overwrite=True, **TINY).fit(points(seed=1))
    assert not (tmp_path / "model.pt").exists()  # the old run's files went with --overwrite
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 5  # the new run's epochs only, nothing appended to the old log


def test_a_run_locks_its_folder_once_and_a_guard_rejects_a_file(tmp_path):
    with RunFolder(tmp_path / "run") as folder:
        assert (tmp_path / "run" / LOCK_NAME).exists() and folder.holds(tmp_path / "run")
        with pytest.raises(RunFolderError, match="in use by another training"):
            with RunFolder(tmp_path / "run"):  # a second guard, even in this process, fails at once
                pass
        # fit under the run's guard takes no lock of its own; a guard of another folder is refused
        NearestNeighbour(out_dir=str(tmp_path / "run"), progress=False).fit(points(), run_folder=folder)
        with pytest.raises(ValueError, match="run_folder must be the entered RunFolder"):
            NearestNeighbour(out_dir=str(tmp_path / "other"), progress=False).fit(points(), run_folder=folder)
        with pytest.raises(RunFolderError, match="in use by another training"):
            NearestNeighbour(out_dir=str(tmp_path / "run"), progress=False).fit(points())
    assert not folder.holds(tmp_path / "run")
    with RunFolder(tmp_path / "run", resume=True):  # free again
        pass
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match="is a file"):
        with RunFolder(tmp_path / "file"):
            pass


def test_stale_temp_files_are_removed(tmp_path):
    stale = tmp_path / ".checkpoint.pt.12345.0123abcd.tmp"
    stale.write_bytes(b"half a checkpoint")
    keep = tmp_path / "notes.tmp"
    keep.write_text("mine")
    with RunFolder(tmp_path, resume=True):
        pass
    assert not stale.exists() and keep.exists()
    atomic_write(tmp_path / "a.bin", lambda f: f.write(b"1"))
    assert clean_temp_files(tmp_path) == []


def test_metrics_stay_consistent_when_a_kill_falls_between_log_and_checkpoint(tmp_path, monkeypatch):
    whole = OMASGAN(out_dir=str(tmp_path / "whole"), **TINY).fit(points())
    save = Engine._save
    calls = {"n": 0}

    def dies_before_the_second_checkpoint(self, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # epoch 2's metrics line is written, its checkpoint is not
        return save(self, *args)

    monkeypatch.setattr(Engine, "_save", dies_before_the_second_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        OMASGAN(out_dir=str(tmp_path / "cut"), **TINY).fit(points())
    monkeypatch.setattr(Engine, "_save", save)
    resumed = OMASGAN(out_dir=str(tmp_path / "cut"), resume=True, **TINY).fit(points())
    keys = lambda p: [(r["stage"], r["epoch"]) for r in map(json.loads, p.read_text().splitlines())]  # noqa: E731
    assert keys(tmp_path / "cut" / "metrics.jsonl") == keys(tmp_path / "whole" / "metrics.jsonl")
    probe = points(20, seed=5)
    assert np.array_equal(resumed.decision_function(probe), whole.decision_function(probe))


def test_a_copied_run_folder_resumes_also_with_other_runtime_settings(tmp_path, monkeypatch):
    save = Engine._save
    calls = {"n": 0}

    def dies_after_the_second_checkpoint(self, *args):
        save(self, *args)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(Engine, "_save", dies_after_the_second_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        OMASGAN(out_dir=str(tmp_path / "here"), **TINY).fit(points())
    monkeypatch.setattr(Engine, "_save", save)
    shutil.copytree(tmp_path / "here", tmp_path / "elsewhere")
    moved = {**TINY, "device": "auto", "score_batch_size": 7, "progress": True}
    resumed = OMASGAN(out_dir=str(tmp_path / "elsewhere"), resume=True, **moved).fit(points())
    whole = OMASGAN(out_dir=str(tmp_path / "whole"), **TINY).fit(points())
    probe = points(20, seed=5)
    # Equal up to float32 rounding: another score_batch_size sums in another order.
    np.testing.assert_allclose(resumed.decision_function(probe), whole.decision_function(probe), rtol=1e-6, atol=1e-6)


def test_knn_run_folders_are_guarded_too(tmp_path):
    from omasgan.evaluation import evaluate_split
    from omasgan.data import make_split

    split = make_split("synthetic")
    evaluate_split(split, "knn", "quick", out=tmp_path, overrides={"progress": False})
    with pytest.raises(RunFolderError, match="already holds a run"):
        evaluate_split(split, "knn", "quick", out=tmp_path, overrides={"progress": False})
    assert json.loads((tmp_path / "settings.json").read_text())["settings"]["p"] == 2.0
    NearestNeighbour.load(tmp_path / "model.pt")
