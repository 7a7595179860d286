"""Files a run leaves behind, safely: atomic writes, weights-only loads, and protected run folders.

- `atomic_write` / `atomic_save`: a temp file in the target's folder, then a rename, so a kill never
  leaves half a file; `clean_temp_files` removes the temp files of writes that a kill interrupted.
- `safe_load`: the package's one torch.load: weights-only (no pickle code runs), and its refusal
  names the cause without torch's advice to retry with weights_only=False.
- `load_checked`: `safe_load` of a file this library wrote, with its format checked.
- `rng_state` / `set_rng_state`: what a checkpoint needs to resume with the same random numbers.
- `RunFolder`: one training at a time per folder (a file lock), and no silent reuse of a folder
  that already holds a run (resume it or overwrite it, explicitly).
"""
from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import BinaryIO, Callable, Mapping

import torch

from omasgan import distributed

class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, foreign or does not match the model."""



def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """write(f) into a temp file in path's folder, then rename: a kill never leaves half a file.

    Under torchrun only rank 0 writes (every rank holds the same results); the others return `path`.
    """
    path = Path(path)
    if not distributed.is_main_process():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp: its files are private (0600); this one gets the umask's permissions
    # like any other file the user writes.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_save(payload: dict, path: str | Path) -> Path:
    """torch.save(payload) through `atomic_write`."""
    return atomic_write(path, lambda f: torch.save(payload, f))


class UnsafeLoadError(ValueError):
    """torch.load(weights_only=True) refused a file: corrupt, truncated, not a torch file, or holding
    objects outside the weights-only safe set (`unsafe`: which this library never unpickles)."""

    def __init__(self, reason: str, unsafe: bool = False):
        super().__init__(reason)
        self.unsafe = unsafe


def safe_load(path: str | Path) -> object:
    """torch.load(path, weights_only=True) onto the CPU: the one torch.load of this package.

    A refusal raises UnsafeLoadError whose message is one line naming the cause, without torch's
    advice to retry with weights_only=False or to allowlist globals (either would run or trust the
    file's code: this library never does)."""
    import warnings

    try:
        with warnings.catch_warnings():  # torch's note on the pickle protocol of a foreign file
            warnings.filterwarnings("ignore", message=r".*pickle protocol", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds for a truncated, foreign or unsafe file
        text = str(err)
        unsafe = "Weights only load failed" in text or "WeightsUnpickler" in text
        raise UnsafeLoadError(load_failure_reason(err), unsafe) from None


def load_checked(path: str | Path, expected_format: str) -> dict:
    """`safe_load` of a file written by this library, else a CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = safe_load(path)
    except UnsafeLoadError as err:
        if err.unsafe:
            raise CheckpointError(f"{path} is refused: {err}") from None
        raise CheckpointError(
            f"{path} is not a readable omasgan file (corrupt, truncated or not written by omasgan): {err}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path} is not an {expected_format} file (found format {found!r})")
    return payload


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
_OPERAND = re.compile(r"Unsupported operand \d+")
# Sentences of torch's advice: retry unsafely, allowlist the file's globals, trust its source.
_ADVICE = re.compile(r"weights_only|safe_globals|trust|arbitrary code|file an issue", re.IGNORECASE)
_UNSAFE = "it holds pickled objects outside the weights-only safe set"
_NEVER = "omasgan never runs code from a file"


def load_failure_reason(err: Exception) -> str:
    """The cause in torch.load's error, on one line, without its advice to retry with
    weights_only=False or to allowlist the file's globals (which would run arbitrary code from the
    file: this library never does)."""
    text = _ANSI.sub("", str(err))
    if "Weights only load failed" in text or "WeightsUnpickler" in text:
        found = _GLOBAL.search(text)
        if found:
            return f"{_UNSAFE} ({found.group(1)}); {_NEVER}"
        found = _OPERAND.search(text)
        if found:
            return f"{_UNSAFE} ({found.group(0)}); {_NEVER}"
        return f"{_UNSAFE}; {_NEVER}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if _ADVICE.search(first):  # an unknown wording of the advice: keep none of it
        kept = [part for part in re.split(r"(?<=[.!?])\s+", first) if not _ADVICE.search(part)]
        first = " ".join(kept)
    return first or type(err).__name__


# ---------------------------------------------------------------------------------- run folders
_TEMP_FILE = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.tmp$")  # atomic_write's temp names
RUN_FILES = ("checkpoint.pt", "metrics.jsonl", "model.pt")  # a folder holding one of these holds a run
LOCK_NAME = ".omasgan.lock"


class RunFolderError(ValueError):
    """A run folder is in use by another training, or already holds a run that was not meant to be reused."""


def clean_temp_files(folder: str | Path) -> list[Path]:
    """Removes the temp files that killed `atomic_write`s left in `folder`; returns them. Call it
    only while holding the folder's lock: then no write is in flight."""
    folder = Path(folder)
    stale = [p for p in folder.iterdir() if p.is_file() and _TEMP_FILE.match(p.name)] if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


class RunFolder:
    """Guards a run folder for the length of a `with` block.

        with RunFolder(out_dir, resume=False, overwrite=False) as folder:
            detector.fit(X, run_folder=folder)   # fit takes no lock of its own
            ...save...

    - A second training into the same folder (another process, or another guard in this one)
      fails at once with a clear error: a run takes the lock once, where it starts, and hands the
      guard on (Detector.fit's `run_folder`).
    - A folder that already holds a run (RUN_FILES) is refused unless `resume` (continue it) or
      `overwrite` (its run files are removed first).
    - Temp files of interrupted writes are removed.
    """

    def __init__(self, folder: str | Path, *, resume: bool = False, overwrite: bool = False):
        self.folder = Path(folder).resolve()
        self.resume, self.overwrite = resume, overwrite
        self._lock = None
        self._entered = False

    def holds(self, folder: str | Path) -> bool:
        """Whether this guard is entered (inside its `with` block) and guards `folder`."""
        return self._entered and Path(folder).resolve() == self.folder

    def __enter__(self) -> "RunFolder":
        if self._entered:
            raise RunFolderError(f"this guard of {self.folder} is already entered")
        if not distributed.is_main_process():
            self._entered = True
            return self  # rank 0 owns the files; the other ranks write none
        from filelock import FileLock, Timeout

        if self.folder.exists() and not self.folder.is_dir():
            raise RunFolderError(f"run folder {self.folder} is a file; give a folder path")
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.folder / LOCK_NAME)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise RunFolderError(f"run folder {self.folder} is in use by another training; wait for it "
                                 "or choose another folder") from None
        try:
            self._check_contents()
        except BaseException:
            lock.release()
            raise
        self._lock, self._entered = lock, True
        return self

    def _check_contents(self) -> None:
        clean_temp_files(self.folder)
        found = [name for name in RUN_FILES if (self.folder / name).exists()]
        if not found or self.resume:
            return
        if not self.overwrite:
            raise RunFolderError(
                f"{self.folder} already holds a run ({', '.join(found)}); resume it (--resume, resume=True), "
                "replace it (--overwrite, overwrite=True) or choose another folder")
        for name in found:
            (self.folder / name).unlink()
        for figure in self.folder.glob("*.png"):
            figure.unlink()

    def __exit__(self, *exc) -> None:
        lock, self._lock, self._entered = self._lock, None, False
        if lock is not None:
            lock.release()
