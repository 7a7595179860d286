"""The stage runner: checkpoints (atomic, weights_only, resumable), metrics, NaN guard, devices."""
import json

import pytest
import torch
from torch import nn

from omasgan.checkpoint import CheckpointError, atomic_save, atomic_write, load_checked
from omasgan.engine import Engine, NonFiniteLossError, Stage, resolve_device


class Kill(Exception):
    """Stands in for a kill: raised right after an epoch's checkpoint was written."""


class KilledEngine(Engine):
    """An Engine killed right after it writes the checkpoint of epoch `kill_at` = (stage, epoch)."""

    def __init__(self, *args, kill_at, **kwargs):
        super().__init__(*args, **kwargs)
        self.kill_at = kill_at

    def _save(self, stages, index, epoch, modules, config):
        super()._save(stages, index, epoch, modules, config)
        if (stages[index].name, epoch) == self.kill_at:
            raise Kill


def two_stage_model():
    """Two linear nets trained in two stages on noisy data (the batch shuffle uses the global RNG)."""
    torch.manual_seed(0)
    nets = {"a": nn.Linear(3, 1), "b": nn.Linear(3, 1)}
    data = torch.randn(40, 3)

    def stage(name, net, epochs):
        opt = torch.optim.Adam(nets[net].parameters(), lr=0.05)

        def step(x):
            opt.zero_grad()
            loss = (nets[net](x) - x.sum(1, keepdim=True) + 0.1 * torch.randn(len(x), 1)).pow(2).mean()
            loss.backward()
            opt.step()
            return {"loss": loss}

        return Stage(name, {net: nets[net]}, {net: opt}, step, data, epochs, batch_size=8)

    return nets, [stage("first", "a", 3), stage("second", "b", 3)]


def weights(nets):
    return {k: v.detach().clone() for k, m in nets.items() for k, v in m.state_dict().items()}


def run(out, *, kill_at=None, resume=False):
    nets, stages = two_stage_model()
    engine = Engine(out, progress=False, seed=3) if kill_at is None else KilledEngine(out, progress=False, seed=3,
                                                                                     kill_at=kill_at)
    engine.fit(stages, nets, config={"lr": 0.05}, resume=resume)
    return nets, engine


@pytest.mark.parametrize("kill_at", [("first", 1), ("first", 3), ("second", 2)])
def test_resume_after_a_kill_matches_an_uninterrupted_run(tmp_path, kill_at):
    full, _ = run(tmp_path / "full")
    with pytest.raises(Kill):
        run(tmp_path / "killed", kill_at=kill_at)
    resumed, _ = run(tmp_path / "killed", resume=True)
    for (name, a), b in zip(weights(full).items(), weights(resumed).values()):
        assert torch.equal(a, b), name


def test_checkpoint_is_weights_only_and_written_atomically(tmp_path):
    _, engine = run(tmp_path)
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["stage_name"] == "second" and ckpt["epoch"] == 3
    assert set(ckpt["networks"]) == {"a", "b"} and "rng" in ckpt
    assert not list(tmp_path.glob("*.tmp")), "a temp file was left behind"
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["epoch"]) for r in records] == [("first", e) for e in (1, 2, 3)] + [("second", e) for e in (1, 2, 3)]
    assert all(r["steps"] == 5 and r["loss"] >= 0 for r in records)


def test_corrupt_or_foreign_checkpoints_are_rejected(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checked(bad, "omasgan-checkpoint")
    foreign = atomic_save({"state_dict": {"w": torch.ones(1)}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not an omasgan-checkpoint file"):
        load_checked(foreign, "omasgan-checkpoint")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checked(tmp_path / "missing.pt", "omasgan-checkpoint")


def test_resume_with_another_configuration_is_refused(tmp_path):
    run(tmp_path)
    nets, stages = two_stage_model()
    with pytest.raises(CheckpointError, match=r"other model settings \(lr: 0.05 -> 0.5\)"):
        Engine(tmp_path, progress=False).fit(stages, nets, config={"lr": 0.5}, resume=True)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    net = nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    calls = {"n": 0}

    def step(x):
        calls["n"] += 1
        return {"loss": float("nan") if calls["n"] > 6 else 1.0}  # 4 steps per epoch: NaN in epoch 2

    stage = Stage("s", {"net": net}, {"net": opt}, step, torch.randn(16, 2), epochs=3, batch_size=4)
    with pytest.raises(NonFiniteLossError, match=r"s, epoch 2, step 3: loss 'loss' became nan.*last good checkpoint"):
        Engine(tmp_path, progress=False).fit([stage], {"net": net})
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["epoch"] == 1


def test_device_selection_and_bad_arguments():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("tpu")
    with pytest.raises(ValueError, match="precision must be one of"):
        Engine(precision="fp8")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        Stage("s", {}, {}, lambda x: {}, torch.zeros(4, 1), epochs=1, batch_size=0)


def test_without_an_output_folder_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nets, stages = two_stage_model()
    Engine(None, progress=False).fit(stages, nets)
    assert not list(tmp_path.iterdir())


def test_atomic_write_gives_files_the_usual_permissions(tmp_path):
    """A results file or checkpoint is readable like any other file the user writes (umask), not
    private to the writer as tempfile.mkstemp's files are."""
    import os


    old = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "results.json", lambda f: f.write(b"[]\n"))
    finally:
        os.umask(old)
    assert path.read_bytes() == b"[]\n" and (path.stat().st_mode & 0o777) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
