"""A small stage runner shared by every model (no Lightning).

A model is trained as a sequence of `Stage`s. A stage is a set of networks with their optimisers
and a `step(batch) -> {loss name: value}` function; the engine owns everything around it:

- seeds (each stage starts from a known seed, so a stage is reproducible on its own), optional
  deterministic algorithms, device auto-selection, bf16 autocast on CUDA;
- batching of the stage's in-memory data (shuffled by torch's global RNG, which checkpoints save);
- a tqdm progress bar with the live losses; per-epoch mean losses appended to `metrics.jsonl`;
- a checkpoint after every epoch, written atomically (temp file + rename), holding every network,
  the stage's optimisers, the RNG state and the position (stage, epoch) as tensors and plain types,
  so it loads with `torch.load(weights_only=True)`; `resume=True` continues from the last complete
  epoch with the same result as an uninterrupted run;
- a guard that stops on a NaN/inf loss with a clear message and keeps the last good checkpoint;
- one figure per stage (the stage's `snapshot`, e.g. a sample grid) in the output folder.

Without an output folder the engine trains in memory only (no files at all).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import torch
from torch import nn

from omasgan import distributed
from omasgan.checkpoint import CheckpointError, atomic_save, load_checked, rng_state, set_rng_state
from omasgan.data import batches

CHECKPOINT_FORMAT = "omasgan-checkpoint"
CHECKPOINT_VERSION = 1
PRECISIONS = ("auto", "fp32", "bf16")


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or inf; training stopped and the last good checkpoint was kept."""


@dataclass
class Stage:
    """One training stage.

    name: short identifier ("stage1", ...), used in logs, checkpoints and figure names.
    networks: the networks this stage trains (put in train mode during the stage).
    optimizers: their optimisers, by name; saved in the checkpoint after every epoch.
    step: called with one batch [B, ...] on the engine's device; does its own backward/optimiser
        steps and returns {loss name: 0-d tensor or float} for the progress bar and metrics.
    data: [N, ...] samples the stage iterates over, `epochs` times, in shuffled batches.
    setup: run when the stage starts, fresh or resumed, before a checkpoint's state is restored
        (e.g. copy G into B, draw a sample bank). It runs right after the stage's seed is set.
    snapshot: writes the stage's figure to the given path (PNG) when the stage ends.
    steps_per_epoch: cap on the batches of one epoch (None = one pass over `data`).
    """

    name: str
    networks: Mapping[str, nn.Module]
    optimizers: Mapping[str, torch.optim.Optimizer]
    step: Callable[[torch.Tensor], Mapping[str, torch.Tensor | float]]
    data: torch.Tensor
    epochs: int
    batch_size: int
    setup: Callable[[], None] | None = None
    snapshot: Callable[[Path], None] | None = None
    steps_per_epoch: int | None = None

    def __post_init__(self):
        if self.epochs < 0:
            raise ValueError(f"{self.name}: epochs must be >= 0, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"{self.name}: batch_size must be >= 1, got {self.batch_size}")


# ----------------------------------------------------------------------------------- utilities
def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" -> the first CUDA device if there is one, else the CPU."""
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"device must be a str or torch.device, got {type(device).__name__}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but CUDA is not available here")
    return resolved


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seeds torch (CPU and CUDA); `deterministic` also forces deterministic kernels."""
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def _as_float(value) -> float:
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


# --------------------------------------------------------------------------------------- engine
class Engine:
    """Runs stages with checkpoints, metrics, figures and a NaN guard.

    Args:
        out_dir: folder for `checkpoint.pt`, `metrics.jsonl` and figures; None = no files.
        device: "auto", "cpu", "cuda", "cuda:N" or a torch.device.
        seed: base seed; stage k starts from seed `seed + 1000 * k`.
        deterministic: use deterministic algorithms (slower on CUDA).
        precision: "auto" (bf16 autocast on CUDA, fp32 elsewhere), "fp32" or "bf16".
        progress: show a tqdm bar per epoch.
    """

    def __init__(
        self,
        out_dir: str | Path | None = None,
        *,
        device: str | torch.device = "auto",
        seed: int = 0,
        deterministic: bool = False,
        precision: str = "auto",
        progress: bool = True,
    ):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.device = distributed.rank_device(resolve_device(device))
        self.seed = int(seed)
        self.deterministic = bool(deterministic)
        self.bf16 = precision == "bf16" or (precision == "auto" and self.device.type == "cuda")
        self.progress = progress
        self._parallel: dict[int, nn.Module] = {}

    # -------------------------------------------------------------------------------- paths
    @property
    def checkpoint_path(self) -> Path | None:
        return self.out_dir / "checkpoint.pt" if self.out_dir else None

    @property
    def metrics_path(self) -> Path | None:
        return self.out_dir / "metrics.jsonl" if self.out_dir else None

    def autocast(self):
        """Autocast context for forward passes: bf16 on CUDA by default, a no-op elsewhere."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def log(self, record: Mapping) -> None:
        """Appends one JSON line to metrics.jsonl (no-op without an output folder)."""
        if self.metrics_path is None or not distributed.is_main_process():
            return
        self.metrics_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(dict(record)) + "\n")

    # --------------------------------------------------------------------------- checkpoints
    def _save(self, stages, index: int, epoch: int, modules, config) -> None:
        if self.checkpoint_path is None:
            return
        rng_of_every_rank = distributed.gather_objects(rng_state())  # so each rank resumes its own noise
        atomic_save(
            {
                "format": CHECKPOINT_FORMAT,
                "version": CHECKPOINT_VERSION,
                "stage_index": index,
                "stage_name": stages[index].name,
                "epoch": epoch,
                "networks": {k: m.state_dict() for k, m in modules.items()},
                "optimizers": {k: o.state_dict() for k, o in stages[index].optimizers.items()},
                "rng": rng_state(),
                "rng_ranks": rng_of_every_rank,
                "config": config,
            },
            self.checkpoint_path,
        )
        distributed.barrier()  # no rank runs ahead of the checkpoint rank 0 is writing

    def load_checkpoint(self, path: str | Path | None = None) -> dict:
        """The engine's checkpoint (default: out_dir/checkpoint.pt), checked."""
        path = path or self.checkpoint_path
        if path is None:
            raise CheckpointError("this engine has no output folder, so there is no checkpoint to load")
        return load_checked(path, CHECKPOINT_FORMAT)

    def _resume_point(self, stages, modules, config) -> tuple[dict | None, int, int]:
        if self.checkpoint_path is None or not self.checkpoint_path.is_file():
            return None, 0, 0
        ckpt = self.load_checkpoint()
        if ckpt.get("config") != config:
            saved, now = ckpt.get("config") or {}, config or {}
            changed = sorted(k for k in set(saved) | set(now) if saved.get(k, "(unset)") != now.get(k, "(unset)"))
            detail = ", ".join(f"{k}: {saved.get(k, '(unset)')!r} -> {now.get(k, '(unset)')!r}" for k in changed[:6])
            raise CheckpointError(
                f"{self.checkpoint_path} was written with other model settings ({detail}); resume with the "
                "same settings, or overwrite the run (--overwrite) or choose a fresh --out folder"
            )
        index = int(ckpt["stage_index"])
        if index >= len(stages) or stages[index].name != ckpt["stage_name"] or set(ckpt["networks"]) != set(modules):
            raise CheckpointError(f"{self.checkpoint_path} does not match this model's stages or networks")
        return ckpt, index, int(ckpt["epoch"])

    # ------------------------------------------------------------------------ several ranks
    def parallel(self, module: nn.Module) -> nn.Module:
        """`module` under DistributedDataParallel when this is one of several torchrun ranks (one
        wrapper per module, reused by every stage), else `module` itself. Models wrap the networks
        a stage trains; checkpoints always hold the unwrapped modules."""
        if id(module) not in self._parallel:
            self._parallel[id(module)] = distributed.parallel(module)
        return self._parallel[id(module)]

    def _rank_rng(self, ckpt: Mapping) -> Mapping:
        """This rank's RNG state from a checkpoint; the same number of ranks must resume it."""
        states = ckpt.get("rng_ranks") or [ckpt["rng"]]
        if distributed.world_size() > 1 and len(states) != distributed.world_size():
            raise CheckpointError(
                f"{self.checkpoint_path} was written by {len(states)} rank(s); resume it with as many, "
                f"not {distributed.world_size()}"
            )
        return states[distributed.rank()] if distributed.world_size() > 1 else states[0]

    # ---------------------------------------------------------------------------------- run
    def fit(
        self,
        stages: Sequence[Stage],
        modules: Mapping[str, nn.Module],
        *,
        config: dict | None = None,
        resume: bool = False,
    ) -> None:
        """Runs `stages` in order. `modules` = every network of the model (all are checkpointed).

        `config` (plain types) is stored in the checkpoint; resuming with another one is refused.
        """
        from tqdm.auto import tqdm

        ckpt, start_index, start_epoch = self._resume_point(stages, modules, config) if resume else (None, 0, 0)
        if ckpt is not None:
            self._trim_metrics(stages, start_index, start_epoch)
        elif self.metrics_path is not None and distributed.is_main_process():
            self.metrics_path.unlink(missing_ok=True)  # a fresh run starts a fresh log
        todo = [(i, e) for i, st in enumerate(stages) for e in range(st.epochs)
                if (i, e) >= (start_index, start_epoch)]
        run_bar = tqdm(total=sum(self._batches_per_epoch(stages[i]) for i, _ in todo), unit="step",
                       disable=not self.progress or not distributed.is_main_process(), dynamic_ncols=True)
        try:
            for index in range(start_index, len(stages)):
                self._run_stage(stages, index, modules, config, ckpt if index == start_index else None,
                                start_epoch if index == start_index else 0, run_bar)
        finally:
            run_bar.close()

    def _run_stage(self, stages, index: int, modules, config, ckpt, first_epoch: int, run_bar) -> None:
        stage = stages[index]
        if ckpt is not None and first_epoch >= stage.epochs:
            # The kill came after this stage's last epoch: only its weights are needed.
            for name, module in modules.items():
                module.load_state_dict(ckpt["networks"][name])
            return
        seed_everything(self.seed + 1000 * index + distributed.RANK_SEED_STRIDE * distributed.rank(),
                        self.deterministic)
        if stage.setup is not None:
            stage.setup()
        if ckpt is not None:
            for name, module in modules.items():
                module.load_state_dict(ckpt["networks"][name])
            for name, opt in stage.optimizers.items():
                opt.load_state_dict(ckpt["optimizers"][name])
            set_rng_state(self._rank_rng(ckpt))
        for epoch in range(first_epoch, stage.epochs):
            run_bar.set_description(f"stage {index + 1}/{len(stages)} {stage.name}, epoch {epoch + 1}/{stage.epochs}")
            self._run_epoch(stage, index, epoch, run_bar)
            self._save(stages, index, epoch + 1, modules, config)
        if stage.snapshot is not None and self.out_dir is not None and distributed.is_main_process():
            stage.snapshot(self.out_dir / f"samples_{index + 1}_{stage.name}.png")

    def _trim_metrics(self, stages, start_index: int, start_epoch: int) -> None:
        """Drops the metrics lines of epochs after the checkpoint (a kill between an epoch's line
        and its checkpoint), so a resumed run logs each epoch once."""
        if self.metrics_path is None or not self.metrics_path.is_file() or not distributed.is_main_process():
            return
        order = {st.name: i for i, st in enumerate(stages)}
        records = [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]
        kept = [json.dumps(r) for r in records
                if (order.get(r.get("stage"), len(stages)), r.get("epoch", 0)) <= (start_index, start_epoch)]
        self.metrics_path.write_text("".join(line + "\n" for line in kept))

    def _batches_per_epoch(self, stage: Stage) -> int:
        n_batches = len(stage.data) // (stage.batch_size * distributed.world_size()) or 1
        return n_batches if stage.steps_per_epoch is None else min(n_batches, stage.steps_per_epoch)

    def _run_epoch(self, stage: Stage, index: int, epoch: int, bar=None) -> dict:
        """One epoch of `stage`; `bar` (a tqdm over the whole run) advances a step per batch."""
        for net in stage.networks.values():
            net.train()
        n_batches = self._batches_per_epoch(stage)
        sums: dict[str, float] = defaultdict(float)
        started = time.perf_counter()
        if distributed.is_distributed():  # each rank its share (DistributedSampler), one order for all ranks
            epoch_batches = distributed.shard_batches(stage.data, stage.batch_size, self.seed + 1000 * index, epoch)
        else:
            drop_last = len(stage.data) >= stage.batch_size
            epoch_batches = batches(stage.data, stage.batch_size, shuffle=True, drop_last=drop_last)
        for step, batch in enumerate(epoch_batches):
            if step == n_batches:
                break
            losses = {k: _as_float(v) for k, v in stage.step(batch.to(self.device, non_blocking=True)).items()}
            for name, value in losses.items():
                if not math.isfinite(value):
                    kept = (
                        f"the last good checkpoint is kept at {self.checkpoint_path}"
                        if self.checkpoint_path and self.checkpoint_path.is_file()
                        else "no checkpoint was written yet"
                    )
                    raise NonFiniteLossError(
                        f"{stage.name}, epoch {epoch + 1}, step {step + 1}: loss {name!r} became {value}; "
                        f"training stopped and {kept}. Try a lower learning rate, a larger gradient "
                        "penalty or spectral norm."
                    )
                sums[name] += value
            if bar is not None:
                bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
                bar.update()
        means = distributed.mean_over_ranks({k: v / max(1, n_batches) for k, v in sums.items()})
        self.log({"stage": stage.name, "epoch": epoch + 1, "steps": n_batches,
                  "seconds": round(time.perf_counter() - started, 3), **means})
        return means


@contextlib.contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Inside the block the modules' parameters need no gradient (their backward is skipped), e.g.
    a critic that only scores a generator's samples, or a generator under AnoGAN's latent search.

    A DistributedDataParallel module also enters `no_sync`: its backward brings no gradients here,
    and DDP must not wait for them.
    """
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    with contextlib.ExitStack() as stack:
        for m in modules:
            if hasattr(m, "no_sync"):
                stack.enter_context(m.no_sync())
        for p in params:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in params:
                p.requires_grad_(True)
