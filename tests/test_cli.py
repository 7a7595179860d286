"""Every `omasgan` command on tiny data, and clear errors for bad arguments."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from omasgan import cli
from omasgan.evaluation import RESULT_KEYS

# A few epochs of tiny nets: these tests check the plumbing, not the detector.
TINY = ["--set", "epochs=[1,1,1,1]", "--set", "hidden=16", "--set", "bank_size=64", "--set", "score_bank_size=64",
        "--no-progress"]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    assert cli.main(["train", "--dataset", "synthetic", "--out", str(out), *TINY]) == 0
    return out


def test_train_writes_a_model_and_the_run_files(trained, capsys):
    assert (trained / "model.pt").is_file() and (trained / "checkpoint.pt").is_file()
    assert len((trained / "metrics.jsonl").read_text().splitlines()) == 4
    assert (trained / "samples_4_stage4.png").is_file()


def test_score_a_test_split_and_an_array_file(trained, tmp_path, capsys):
    assert cli.main(["score", "--model-path", str(trained / "model.pt"), "--dataset", "synthetic"]) == 0
    assert "test AUROC" in capsys.readouterr().out
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(7, 2)).astype(np.float32))
    out = tmp_path / "scores.csv"
    assert cli.main(["score", "--model-path", str(trained / "model.pt"), "--input", str(tmp_path / "x.npy"),
                     "--out", str(out)]) == 0
    table = np.loadtxt(out, skiprows=1, delimiter=",")
    assert out.read_text().startswith("id,score,is_anomaly\n") and table.shape == (7, 3)
    assert cli.main(["score", "--model-path", str(trained / "model.pt"), "--input", str(tmp_path / "x.npy"),
                     "--out", str(tmp_path / "scores.txt")]) == 0
    assert (tmp_path / "scores.txt").is_file() and not (tmp_path / "scores.txt.npy").exists()
    assert cli.main(["score", "--model-path", str(trained / "model.pt"), "--input", str(tmp_path / "x.npy"),
                     "--out", str(tmp_path / "s.npy")]) == 0
    assert np.allclose(np.load(tmp_path / "s.npy"), table[:, 1], rtol=1e-6)


def test_loo_writes_results_json_md_and_figures(tmp_path, capsys):
    out = tmp_path / "loo"
    assert cli.main(["loo", "--dataset", "digits", "--abnormal-class", "2,5", "--model", "omasgan",
                     "--preset", "quick", "--out", str(out), *TINY]) == 0
    rows = json.loads((out / "results.json").read_text())
    assert [r["abnormal_class"] for r in rows] == [2, 5]
    assert all(tuple(r) == RESULT_KEYS and 0 <= r["auroc"] <= 1 for r in rows)
    table = (out / "results.md").read_text()
    assert "| 2 |" in table and "**mean**" in table
    for name in ("roc.png", "histograms.png", "class_2/histogram.png", "class_5/model.pt"):
        assert (out / name).is_file(), name
    # --resume skips finished classes.
    assert cli.main(["loo", "--dataset", "digits", "--abnormal-class", "2,5", "--out", str(out), "--resume", *TINY]) == 0
    assert "already in" in capsys.readouterr().out


def test_demo_runs_on_embedded_data(tmp_path, capsys):
    assert cli.main(["demo", "--out", str(tmp_path), "--digits-class", "1", *TINY[:-1]]) == 0
    printed = capsys.readouterr().out
    assert "boundary figure" in printed and str(tmp_path) in printed
    assert (tmp_path / "synthetic" / "boundary.png").is_file()
    assert (tmp_path / "digits-loo" / "omasgan" / "results.md").is_file()
    assert (tmp_path / "digits-loo" / "knn" / "results.md").is_file()
    assert "pixel kNN AUROC" in printed and "**mean**" in printed


@pytest.mark.parametrize(
    "argv, message",
    [
        (["loo", "--dataset", "digits", "--abnormal-class", "12", "--out", "x"], "must be in 0..9"),
        (["loo", "--dataset", "digits", "--abnormal-class", "seven", "--out", "x"], "must be 'all'"),
        (["loo", "--dataset", "synthetic", "--out", "x"], "has no classes"),
        (["train", "--dataset", "digits", "--out", "x"], "--abnormal-class is required"),
        (["train", "--dataset", "mnist", "--data-root", "/nonexistent", "--abnormal-class", "0", "--out", "x",
          "--no-download"], "could not load mnist"),
        (["train", "--dataset", "synthetic", "--out", "x", "--set", "lamda=2"], "unknown setting"),
        (["train", "--dataset", "synthetic", "--out", "x", "--set", "alpha"], "--set expects key=value"),
        (["score", "--model-path", "missing.pt", "--dataset", "synthetic"], "no checkpoint at missing.pt"),
        (["score", "--model-path", "m.pt"], "exactly one of --input"),
    ],
)
def test_bad_arguments_get_clear_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_argparse_rejects_unknown_choices(capsys):
    with pytest.raises(SystemExit):
        cli.main(["loo", "--dataset", "imagenet", "--out", "x"])
    assert "invalid choice" in capsys.readouterr().err


def test_console_script_and_module_entry_point():
    done = subprocess.run([sys.executable, "-m", "omasgan", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    for command in ("train", "score", "loo", "demo"):
        assert command in done.stdout
