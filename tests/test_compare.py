import json

import pytest

from omasgan.cli import main
from omasgan.compare import comparison_table, merge_results, parse_models


def _row(model, c, auroc, seed=0, dataset="mnist"):
    return {"dataset": dataset, "model": model, "abnormal_class": c, "seed": seed, "auroc": auroc,
            "auprc": 0.5, "train_seconds": 1.0}


def test_table_has_a_row_per_class_a_column_per_model_and_the_mean_last():
    rows = [_row("knn", 0, 0.9), _row("knn", 1, 0.5), _row("ganomaly", 0, 0.7), _row("ganomaly", 0, 0.8, seed=1)]
    lines = comparison_table(rows, ["ganomaly", "knn"], [0, 1]).splitlines()
    assert lines[0] == "| left-out class | ganomaly | knn | anchor (pixel kNN) |"
    assert lines[2] == "| 0 | 0.750 | 0.900 | 0.981 |"  # seeds are averaged
    assert lines[3] == "| 1 | – | 0.500 | 0.433 |"  # a missing run shows as a dash
    assert lines[4] == "| **mean** | **–** | **0.700** | 0.707 |"  # no mean over an incomplete column


def test_merge_keeps_other_rows_and_replaces_the_same_run(tmp_path):
    shared = tmp_path / "results.json"
    shared.write_text(json.dumps([_row("omasgan", 0, 0.9), _row("knn", 0, 0.1)]))
    merged = merge_results(shared, [_row("knn", 0, 0.98), _row("knn", 1, 0.43)])
    assert [(r["model"], r["abnormal_class"], r["auroc"]) for r in merged] == [
        ("omasgan", 0, 0.9), ("knn", 0, 0.98), ("knn", 1, 0.43)]
    assert json.loads(shared.read_text()) == merged


def test_parse_models_checks_the_registry():
    assert parse_models("knn, anogan,knn") == ["knn", "anogan"]
    with pytest.raises(ValueError, match="--models"):
        parse_models("knn,vae")


def test_cli_runs_every_model_and_writes_table_plot_and_rows(tmp_path, capsys):
    out, shared = tmp_path / "cmp", tmp_path / "shared.json"
    args = ["compare", "--dataset", "digits", "--models", "knn", "--abnormal-class", "0,1", "--no-progress"]
    assert main([*args, "--out", str(out), "--merge-into", str(shared)]) == 0
    assert (out / "compare.png").stat().st_size > 0
    assert (out / "knn" / "results.json").is_file()
    table = (out / "compare.md").read_text()
    assert table in capsys.readouterr().out and "| **mean** |" in table
    rows = json.loads((out / "results.json").read_text())
    assert [(r["model"], r["abnormal_class"]) for r in rows] == [("knn", 0), ("knn", 1)]
    assert json.loads(shared.read_text()) == rows
    # the same table again from the recorded rows, without training
    again = tmp_path / "again"
    assert main([*args, "--out", str(again), "--from-results", str(out / "results.json")]) == 0
    assert (again / "compare.md").read_text() == table
