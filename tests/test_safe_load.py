"""Every torch.load path refuses a malicious pickle with one clear line, never advising an unsafe load.

The files here hold a pickle whose `__reduce__` would call os.system (or a local class); a test
that ran it would leave a marker file, so each test also checks that no code of the file ran.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import omasgan
from omasgan import cli
from omasgan.checkpoint import CheckpointError, UnsafeLoadError, load_checked, load_failure_reason, safe_load
from omasgan.inputs import read_input

TINY = ["--set", "epochs=[1,1,1,1]", "--set", "hidden=16", "--set", "bank_size=64", "--set", "score_bank_size=64",
        "--no-progress"]
UNSAFE_ADVICE = ("weights_only=False", "`weights_only` set to `False`", "safe_globals", "trust")


class _RunsAShellCommand:
    """Pickles as a call of os.system(command): what a malicious .pt file does on an unsafe load."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class _LocalClass:
    """Any object of a class outside the weights-only safe set."""

    def __init__(self):
        self.weights = torch.ones(3)


@pytest.fixture(params=["os.system", "local class"])
def evil(request, tmp_path):
    """(path of a malicious .pt, marker file that exists only if the file's code ran)."""
    marker = tmp_path / "code-ran"
    payload = _RunsAShellCommand(f"touch '{marker}'") if request.param == "os.system" else _LocalClass()
    path = tmp_path / "evil.pt"
    # Saving only records the call: torch.save pickles __reduce__'s result and runs nothing.
    torch.save({"format": "omasgan-model", "model": "knn", "payload": payload}, path)
    yield path
    assert not marker.exists(), "the malicious file's code ran"


def _check_one_clear_line(text: str, path) -> None:
    assert "Traceback" not in text
    for advice in UNSAFE_ADVICE:
        assert advice not in text, text
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert str(path) in lines[0] and "refused" in lines[0] and "weights-only safe set" in lines[0]


@pytest.fixture
def model_path(tmp_path):
    from omasgan import NearestNeighbour

    path = tmp_path / "m.pt"
    NearestNeighbour(progress=False).fit(np.random.default_rng(0).normal(size=(20, 2))).save(path)
    return path


def test_the_helper_refuses_with_the_cause_and_no_advice(evil):
    with pytest.raises(UnsafeLoadError) as err:
        safe_load(evil)
    assert err.value.unsafe
    _check_one_clear_line(f"{evil} is refused: {err.value}", evil)


@pytest.mark.parametrize("load", [omasgan.load, lambda p: load_checked(p, "omasgan-model"),
                                  lambda p: omasgan.NearestNeighbour.load(p)],
                         ids=["omasgan.load", "load_checked", "Detector.load"])
def test_python_api_loads_refuse_it(evil, load):
    with pytest.raises(CheckpointError) as err:
        load(evil)
    _check_one_clear_line(str(err.value), evil)


def test_read_input_refuses_it(evil):
    with pytest.raises(ValueError) as err:
        read_input(evil)
    _check_one_clear_line(str(err.value), evil)


def _cli_refuses(argv, path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    out, err = capsys.readouterr()
    assert exit_.value.code == 2
    _check_one_clear_line(err, path)
    for advice in UNSAFE_ADVICE:
        assert advice not in out


def test_score_model_path_refuses_it(evil, capsys):
    _cli_refuses(["score", "--model-path", str(evil), "--dataset", "synthetic"], evil, capsys)


def test_score_input_refuses_it(evil, model_path, capsys):
    _cli_refuses(["score", "--model-path", str(model_path), "--input", str(evil)], evil, capsys)


def test_train_input_refuses_it(evil, tmp_path, capsys):
    _cli_refuses(["train", "--input", str(evil), "--model", "knn", "--out", str(tmp_path / "run")], evil, capsys)


def test_resume_refuses_a_malicious_checkpoint(evil, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    checkpoint = run / "checkpoint.pt"
    evil.rename(checkpoint)
    _cli_refuses(["train", "--dataset", "synthetic", "--out", str(run), "--resume", *TINY], checkpoint, capsys)


def test_the_real_process_prints_one_line_and_no_traceback(tmp_path, model_path):
    """The CLI as a user runs it: stderr and stdout of a separate process, warnings included."""
    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil.pt"
    torch.save(_RunsAShellCommand(f"touch '{marker}'"), evil)
    done = subprocess.run([sys.executable, "-m", "omasgan", "score", "--model-path", str(model_path),
                           "--input", str(evil)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and not marker.exists()
    _check_one_clear_line(done.stderr, evil)
    assert "weights_only" not in done.stdout + done.stderr


def test_a_foreign_pickle_without_a_global_is_refused_too(tmp_path):
    import pickle

    path = tmp_path / "plain.pt"
    path.write_bytes(pickle.dumps({"a": 1}, protocol=4))
    with pytest.raises(UnsafeLoadError) as err:
        safe_load(path)
    _check_one_clear_line(f"{path} is refused: {err.value}", path)


@pytest.mark.parametrize("message", [
    "Weights only load failed. Re-running `torch.load` with `weights_only` set to `False` will likely succeed.",
    "Something new. Re-run torch.load with weights_only=False if you trust the file.",
])
def test_no_wording_of_the_advice_survives(message):
    reason = load_failure_reason(RuntimeError(message))
    assert reason and not any(advice in reason for advice in UNSAFE_ADVICE), reason


def test_a_truncated_file_is_still_called_truncated(tmp_path):
    whole = tmp_path / "whole.pt"
    torch.save({"w": torch.ones(1000)}, whole)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(whole.read_bytes()[:300])
    with pytest.raises(CheckpointError, match="truncated") as err:
        load_checked(cut, "omasgan-model")
    assert "weights_only" not in str(err.value)
