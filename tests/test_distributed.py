"""Sharded min_distance over 2 gloo processes equals the single-process op exactly; a dead rank errors."""
import datetime
import json
import multiprocessing
import os
import queue
import socket
import time
import traceback

import numpy as np
import pytest
import torch
import torch.distributed as dist

from omasgan import distributed, ops

WORLD = 2
SPLIT = 60  # rank 0 holds bank[:60], rank 1 bank[60:]


def tied_problem(dtype):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(8, 5, generator=g, dtype=dtype)
    bank = torch.randn(130, 5, generator=g, dtype=dtype)
    bank[70] = bank[4]  # a tie across the shards: rank 0's index 4 must win
    bank[20] = x[1] + 0.5
    bank[100] = x[1] + 0.5  # another, as the global minimum of query 1
    bank[110] = x[2]  # an exact hit on rank 1 only
    bank[111] = x[2]
    return x, bank


def run_ranks(worker, *args, timeout_s=90):
    """Runs worker(rank, *args) in WORLD spawned gloo processes -> {rank: ("ok", result) | ("error", text)}."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_rank_main, args=(worker, rank, port, results, args)) for rank in range(WORLD)]
    for proc in procs:
        proc.start()
    out = {}
    try:
        deadline = time.monotonic() + timeout_s
        while len(out) < WORLD:
            try:
                rank, status, value = results.get(timeout=1.0)
                out[rank] = (status, value)
            except queue.Empty:
                if not any(p.is_alive() for p in procs):
                    break  # the rest died without reporting
                if time.monotonic() > deadline:
                    pytest.fail(f"ranks still running after {timeout_s} s (a hang); reported: {sorted(out)}")
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
    return out


def _rank_main(worker, rank, port, results, args):
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD,
        timeout=datetime.timedelta(seconds=10),
    )
    try:
        results.put((rank, "ok", worker(rank, *args)))
    except Exception as err:
        results.put((rank, "error", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shard(bank, rank, split=SPLIT):
    return bank[:split] if rank == 0 else bank[split:]


def _sharded_cases(rank, tmp_dir):
    """Every case returns numpy arrays; the parent compares them with the single-process op."""
    out = {}
    for dtype in (torch.float32, torch.float64):
        x, bank = tied_problem(dtype)
        for p, q in ((2.0, 1.0), (1.0, 2.0), (float("inf"), 0.5)):
            v, i = ops.sharded_min_distance(x, _shard(bank, rank), p, q)
            out[f"{dtype}-{p}-{q}"] = (v.numpy(), i.numpy())
        v, i = ops.sharded_min_distance(x, _shard(bank, rank, split=bank.shape[0]))  # rank 1: empty shard
        out[f"{dtype}-empty-shard"] = (v.numpy(), i.numpy())
    x, bank = tied_problem(torch.float32)
    path = os.path.join(tmp_dir, f"shard{rank}.npy")
    np.save(path, _shard(bank, rank).numpy())
    v, i = ops.sharded_min_distance(x, path)  # a memory-mapped shard
    out["memmap-shard"] = (v.numpy(), i.numpy())
    xg = x.double().requires_grad_(True)
    v, _ = ops.sharded_min_distance(xg, _shard(bank.double(), rank), 2.0, 2.0)
    out["grad"] = (torch.autograd.grad(v.sum(), xg)[0].numpy(),)
    return out


def test_two_gloo_ranks_equal_single_process(tmp_path):
    got = run_ranks(_sharded_cases, str(tmp_path))
    assert all(status == "ok" for status, _ in got.values()), got
    expected = {}
    for dtype in (torch.float32, torch.float64):
        x, bank = tied_problem(dtype)
        for p, q in ((2.0, 1.0), (1.0, 2.0), (float("inf"), 0.5)):
            expected[f"{dtype}-{p}-{q}"] = ops.min_distance(x, bank, p, q)
        expected[f"{dtype}-empty-shard"] = ops.min_distance(x, bank)
    x, bank = tied_problem(torch.float32)
    expected["memmap-shard"] = ops.min_distance(x, bank)
    xg = x.double().requires_grad_(True)
    expected["grad"] = (torch.autograd.grad(ops.min_distance(xg, bank.double(), 2.0, 2.0)[0].sum(), xg)[0],)
    assert expected["torch.float32-2.0-1.0"][1][1:3].tolist() == [20, 110]
    for rank in range(WORLD):
        cases = got[rank][1]
        assert cases.keys() == expected.keys()
        for name, want in expected.items():
            for have, exact in zip(cases[name], want):
                assert np.array_equal(have, exact.detach().numpy()), f"rank {rank}, case {name}"


def test_single_process_is_the_plain_op():
    x, bank = tied_problem(torch.float32)
    v, i = ops.sharded_min_distance(x, bank)
    ev, ei = ops.min_distance(x, bank)
    assert torch.equal(v, ev) and torch.equal(i, ei)
    with pytest.raises(ValueError, match="not initialised"):
        ops.sharded_min_distance(x, bank, group=object())


def _die_or_score(rank):
    if rank == 1:
        os._exit(3)  # a rank that dies without a word
    x, bank = tied_problem(torch.float32)
    start = time.monotonic()
    try:
        ops.sharded_min_distance(x, bank)
    except RuntimeError as err:
        return f"{time.monotonic() - start:.1f}s {err}"
    return "no error"


def test_a_dead_rank_gives_a_clear_error_not_a_hang():
    got = run_ranks(_die_or_score, timeout_s=60)
    status, message = got[0]
    assert status == "ok" and "another rank died" in message, got
    assert float(message.split("s ", 1)[0]) < 15, message


# ------------------------------------------------------------------------------ DDP training
class _Interrupted(Exception):
    pass


def _tiny_omasgan(out_dir, batch_size, **extra):
    from omasgan.models.omasgan.model import OMASGAN

    return OMASGAN(hidden=16, latent_dim=2, epochs=(2, 1, 1, 1), batch_size=batch_size, bank_size=64,
                   score_bank_size=64, kappa=1.0, score_bank_source="generator",  # a bank of G' that ranks can shard
                   device="cpu", progress=False, out_dir=out_dir, seed=0, val_fraction=0.1, **extra)


def _normal_points():
    return torch.randn(640, 2, generator=torch.Generator().manual_seed(0))


def _weights(det):
    return {f"{net}.{k}": v.numpy().copy() for net, m in det.networks.items() for k, v in m.state_dict().items()}


def _losses(out_dir):
    with open(os.path.join(out_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def _ddp_training(rank, tmp_dir):
    """Each rank: a full 2-rank run, and one interrupted after stage 1's first epoch then resumed."""
    from omasgan.engine import Engine
    from omasgan.models.omasgan import OMASGAN, diagnostics

    torch.set_num_threads(1)  # two ranks on two cores: more threads spin against each other
    diagnostics.stage_figure = lambda *args, **kwargs: None  # figures are slow and not under test
    full = _tiny_omasgan(f"{tmp_dir}/full", 32).fit(_normal_points())

    save = Engine._save

    def stop_after_first_epoch(self, stages, index, epoch, *args):
        save(self, stages, index, epoch, *args)
        if stages[index].name == "stage1" and epoch == 1:  # stage 1's first checkpoint is written
            raise _Interrupted

    Engine._save = stop_after_first_epoch
    try:
        _tiny_omasgan(f"{tmp_dir}/resumed", 32).fit(_normal_points())
    except _Interrupted:
        pass
    finally:
        Engine._save = save
    resumed = _tiny_omasgan(f"{tmp_dir}/resumed", 32, resume=True).fit(_normal_points())
    probe = torch.randn(50, 2, generator=torch.Generator().manual_seed(5))
    scores = (full.decision_function(probe), resumed.decision_function(probe))
    # `omasgan score --bank-size` under torchrun: each rank draws a shard (rank 1's on disk) ...
    full.draw_score_bank(101, sharded=True, directory=f"{tmp_dir}/bank", memory_budget=None if rank == 0 else 0)
    sharded = full.decision_function(probe)
    # ... and scores as if one process held the shards' concatenation
    shard = full.score_bank_ if rank == 0 else torch.from_numpy(np.load(full.score_bank_))
    full.score_bank_, full.score_bank_sharded_ = torch.cat(distributed.gather_objects(shard)), False
    return {"full": _weights(full), "resumed": _weights(resumed), "scores": scores,
            "sharded_bank": (sharded, full.decision_function(probe), len(shard))}


def test_two_rank_ddp_training_completes_resumes_and_follows_single_process(tmp_path, monkeypatch):
    got = run_ranks(_ddp_training, str(tmp_path), timeout_s=240)
    assert all(status == "ok" for status, _ in got.values()), got
    ranks = [got[r][1] for r in range(WORLD)]
    for name, value in ranks[0]["full"].items():
        assert np.array_equal(value, ranks[1]["full"][name]), f"ranks disagree on {name}"
        assert np.array_equal(value, ranks[0]["resumed"][name]), f"resume changed {name}"
    assert np.array_equal(*ranks[0]["scores"])
    for r in range(WORLD):
        sharded, joined, shard_rows = ranks[r]["sharded_bank"]
        assert np.array_equal(sharded, joined) and shard_rows == (51, 50)[r]
    files = sorted(os.listdir(tmp_path / "full"))
    # one checkpoint, no stray temp files (the lock file marks the run folder as guarded)
    assert files == [".omasgan.lock", "checkpoint.pt", "metrics.jsonl"], files

    from omasgan.models.omasgan import diagnostics

    monkeypatch.setattr(diagnostics, "stage_figure", lambda *args, **kwargs: None)
    _tiny_omasgan(str(tmp_path / "single"), 64).fit(_normal_points())  # 64 = 2 ranks x 32
    ddp, single = _losses(tmp_path / "full"), _losses(tmp_path / "single")
    assert [(r["stage"], r["epoch"], r["steps"]) for r in ddp] == [(r["stage"], r["epoch"], r["steps"]) for r in single]
    for a, b in zip(ddp, single):
        for key in a.keys() - {"stage", "epoch", "steps", "seconds"}:
            assert abs(a[key] - b[key]) <= 0.1 * abs(b[key]) + 0.01, (a["stage"], key, a[key], b[key])


def test_torchrun_score_with_a_sharded_bank(tmp_path):
    """`torchrun --nproc-per-node 2 -m omasgan score --bank-size Q`: one score file, from rank 0."""
    import subprocess
    import sys

    from omasgan.models.omasgan.model import OMASGAN

    det = OMASGAN(hidden=16, latent_dim=2, epochs=(1, 1, 1, 1), batch_size=64, bank_size=64, score_bank_size=64,
                  kappa=1.0, device="cpu", progress=False, seed=0).fit(_normal_points())
    det.save(tmp_path / "model.pt")
    np.save(tmp_path / "queries.npy", torch.randn(30, 2).numpy())
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "omasgan", "score", "--model-path", "model.pt", "--input", "queries.npy",
           "--bank-size", "301", "--bank-dir", "bank", "--out", "scores.npy"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("scored 30 samples") == 1  # rank 1 prints nothing
    scores = np.load(tmp_path / "scores.npy")
    assert scores.shape == (30,) and np.isfinite(scores).all()


def test_torchrun_loo_writes_each_result_file_once(tmp_path):
    """`torchrun --nproc-per-node 2 -m omasgan loo`: DDP training, rank 0 alone reports and writes."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "omasgan", "loo", "--dataset", "digits", "--abnormal-class", "3", "--model", "omasgan",
           "--set", "epochs=[1,1,1,1]", "--set", "hidden=16", "--set", "bank_size=64", "--set", "score_bank_size=64",
           "--no-progress", "--out", "loo"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("class 3: AUROC") == 1  # rank 1 prints nothing
    rows = json.loads((tmp_path / "loo" / "results.json").read_text())
    assert [r["abnormal_class"] for r in rows] == [3] and 0 <= rows[0]["auroc"] <= 1
    written = sorted(p.name for p in (tmp_path / "loo").rglob("*"))
    assert not [name for name in written if name.endswith(".tmp")], written
    assert {"results.md", "roc.png", "histograms.png", "model.pt", "test_scores.npz"} <= set(written)
