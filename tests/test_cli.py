"""Every `omasgan` command on tiny data, and clear errors for bad arguments."""
import json
import subprocess
import sys
from pathlib import Path

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


# ------------------------------------------------------------------------- your own data
def _image_folder(folder, n=24, size=(20, 26), colour=False, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        shape = (*size, 3) if colour else size
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"img_{i:02d}.png")
    return folder


def test_train_and_score_an_image_folder(tmp_path, capsys):
    import omasgan

    run = tmp_path / "run"
    assert cli.main(["train", "--input", str(_image_folder(tmp_path / "normal")), "--model", "knn",
                     "--out", str(run), "--no-progress"]) == 0
    det = omasgan.load(run / "model.pt")
    assert det.input_shape_ == (1, 32, 32)
    assert det.preprocessing_["kind"] == "images" and det.preprocessing_["channels"] == 1
    assert det.trained_on_["source"] == str(tmp_path / "normal") and det.trained_on_["n_samples"] == 24
    settings = json.loads((run / "settings.json").read_text())
    assert settings["model"] == "knn" and settings["settings"]["contamination"] == 0.1
    assert (run / "scores.png").is_file()
    # Colour images of another size are read the model's way: grey, 32x32.
    new = _image_folder(tmp_path / "new", n=3, size=(40, 30), colour=True, seed=1)
    out = tmp_path / "scores.csv"
    assert cli.main(["score", "--model-path", str(run / "model.pt"), "--input", str(new), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "id,score,is_anomaly" and [line.split(",")[0] for line in lines[1:]] == [
        "img_00.png", "img_01.png", "img_02.png"]
    assert all(line.split(",")[2] in ("0", "1") for line in lines[1:])


def test_train_and_score_a_csv_table(tmp_path):
    rng = np.random.default_rng(0)
    table = tmp_path / "normal.csv"
    np.savetxt(table, rng.normal(size=(60, 3)), delimiter=",", header="a,b,c", comments="")
    assert cli.main(["train", "--input", str(table), "--model", "knn", "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    new = tmp_path / "new.csv"
    np.savetxt(new, [[0, 0, 0], [9, 9, 9]], delimiter=",")
    out = tmp_path / "s.csv"
    assert cli.main(["score", "--model-path", str(tmp_path / "run" / "model.pt"), "--input", str(new), "--out", str(out)]) == 0
    rows = [line.split(",") for line in out.read_text().splitlines()[1:]]
    assert [r[0] for r in rows] == ["0", "1"] and float(rows[1][1]) > float(rows[0][1]) and rows[1][2] == "1"


def test_config_files_and_the_resolved_settings(tmp_path):
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("model: knn\np: 1.0\nq: 2.0\n")
    assert cli.main(["train", "--dataset", "synthetic", "--config", str(yaml_file), "--set", "q=3.0",
                     "--out", str(tmp_path / "a"), "--no-progress"]) == 0
    resolved = json.loads((tmp_path / "a" / "settings.json").read_text())
    assert resolved["model"] == "knn" and resolved["settings"]["p"] == 1.0 and resolved["settings"]["q"] == 3.0
    json_file = tmp_path / "c.json"
    json_file.write_text(json.dumps({"model": "knn", "preset": "paper", "contamination": 0.2}))
    assert cli.main(["train", "--dataset", "synthetic", "--config", str(json_file), "--out", str(tmp_path / "b"),
                     "--no-progress"]) == 0
    resolved = json.loads((tmp_path / "b" / "settings.json").read_text())
    assert resolved["preset"] == "paper" and resolved["settings"]["contamination"] == 0.2


def test_settings_listing_and_version(capsys):
    assert cli.main(["settings", "--model", "omasgan", "--preset", "quick"]) == 0
    printed = capsys.readouterr().out
    assert "presets quick, quick-paper, large, paper" in printed
    assert "contamination" in printed and "device (runtime)" in printed and "'klwgan'" in printed
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    from omasgan import __version__

    assert capsys.readouterr().out.strip() == f"omasgan {__version__}"


def test_cli_lists_match_the_library():
    from omasgan import data
    from omasgan.models import registry

    assert cli.DATASETS == data.DATASETS and cli.PROTOCOLS == data.PROTOCOLS
    choices = {a.dest: a.choices for a in cli.build_parser()._subparsers._group_actions[0].choices["train"]._actions}
    assert tuple(choices["model"]) == registry.names() and tuple(choices["preset"]) == registry.preset_names()


def test_run_folders_are_protected_from_the_cli(trained, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--dataset", "synthetic", "--out", str(trained), *TINY])
    assert exit_.value.code == 2 and "already holds a run" in capsys.readouterr().err
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(trained, copy)
    assert cli.main(["train", "--dataset", "synthetic", "--out", str(copy), "--resume", "--device", "cpu", *TINY]) == 0
    assert cli.main(["train", "--dataset", "synthetic", "--out", str(copy), "--overwrite", *TINY]) == 0


@pytest.mark.parametrize("argv, message", [
    (["--threads", "-1", "settings"], "--threads must be >= 1"),
    (["train", "--dataset", "synthetic", "--out", "afile"], "--out afile is a file"),
    (["score", "--model-path", "m.pt", "--input", "truncated.pt"], "not a readable"),
    (["score", "--model-path", "truncated.pt", "--dataset", "synthetic"], "truncated"),
    (["compare", "--dataset", "digits", "--models", "knn", "--out", "c", "--from-results", "missing.json"],
     "--from-results missing.json does not exist"),
    (["train", "--input", "nowhere", "--out", "x"], "--input nowhere does not exist"),
    (["train", "--dataset", "synthetic", "--input", "x.npy", "--out", "x"], "exactly one of --dataset"),
    (["train", "--dataset", "synthetic", "--config", "bad.yaml", "--out", "x"], "is not valid YAML"),
    (["train", "--dataset", "synthetic", "--config", "list.json", "--out", "x"], "must hold a mapping"),
    (["score", "--model-path", "m.pt", "--input", "empty.npy"], "holds 0 samples"),
])
def test_more_bad_arguments_get_one_clear_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    torch.save({"weights": torch.ones(1000)}, tmp_path / "whole.pt")
    (tmp_path / "truncated.pt").write_bytes((tmp_path / "whole.pt").read_bytes()[:300])
    (tmp_path / "bad.yaml").write_text("a: [1, 2\n")
    (tmp_path / "list.json").write_text("[1, 2]")
    np.save(tmp_path / "empty.npy", np.zeros((0, 2), dtype=np.float32))
    from omasgan import NearestNeighbour

    NearestNeighbour(progress=False).fit(np.random.default_rng(0).normal(size=(20, 2))).save(tmp_path / "m.pt")
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err
    assert "Traceback" not in err and "weights_only=False" not in err and len(err.strip().splitlines()) <= 2


def test_the_parser_imports_neither_torch_nor_sklearn():
    code = "import sys, omasgan.cli; omasgan.cli.build_parser(); print(sorted({'torch', 'sklearn'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_data_root_defaults_to_omasgan_data_else_the_user_cache(monkeypatch, capsys):
    monkeypatch.setenv("OMASGAN_DATA", "/somewhere/data")
    assert cli.build_parser().parse_args(["loo", "--dataset", "mnist", "--out", "x"]).data_root == "/somewhere/data"
    monkeypatch.delenv("OMASGAN_DATA")
    args = cli.build_parser().parse_args(["train", "--dataset", "mnist", "--out", "x"])
    assert args.data_root == str(Path("~/.cache/omasgan/data").expanduser())
    with pytest.raises(SystemExit):
        cli.main(["score", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "$OMASGAN_DATA" in help_text and "~/.cache/omasgan/data" in help_text
