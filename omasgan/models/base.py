"""The Detector base class: the PyOD / scikit-learn API every model shares.

    det = Model(**config)             # unknown or ill-typed settings -> TypeError / ValueError
    det.fit(x_train)                  # x: [N, ...] tensor or array of NORMAL samples
    det.score_samples(x)              # -> np.ndarray [N], higher = more anomalous (PyOD convention)
    det.decision_function(x)          # -> score - threshold_ (> 0: anomalous)
    det.predict(x)                    # -> np.ndarray [N] int, 1 = anomaly, 0 = normal
    det.save(path); Model.load(path)  # weights_only-loadable file; same scores after loading

`threshold_` is the `threshold_quantile` (default 0.95) quantile of the scores of held-out normal
validation data: either `fit(x, val_data=v)` or a `val_fraction` of x held out by `fit`.

A subclass sets `name` and `Config` (a dataclass derived from `DetectorConfig`) and implements:

- `_fit(train, val, engine)`: build and train its networks (in `self.networks`, a dict of
  nn.Modules, trained on `training_subset(train)`) and any other state on `train` [Nt, ...]; `val` [Nv, ...] may be used for
  calibration (never test data);
- `_score(x)`: [B, ...] tensor on `self.device` -> [B] scores, under no_grad and eval mode;
- optionally `_extra_state()` / `_load_extra_state(state)`: tensors and plain types beyond the
  networks' weights (e.g. score statistics, a sample bank);
- optionally `_build(input_shape)`: create `self.networks` (needed by `load`).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from omasgan import distributed
from omasgan.data import batches, split_validation
from omasgan.engine import Engine, atomic_save, load_checked, resolve_device

MODEL_FORMAT = "omasgan-model"


@dataclass
class DetectorConfig:
    """Settings every detector has.

    val_fraction: share of the training data held out as normal validation data when `fit` gets
        no `val_data`. threshold_quantile: quantile of validation scores used as threshold.
    max_train_samples: train on a seeded random subset of at most this many samples (None = all).
    batch_size: training batch size; score_batch_size: batch size when scoring.
    seed, device ("auto"/"cpu"/"cuda"), deterministic, precision ("auto"/"fp32"/"bf16"): engine.
    out_dir: folder for checkpoints, metrics and figures (None = train in memory only).
    resume: continue from out_dir's checkpoint. progress: show progress bars.
    """

    val_fraction: float = 0.05
    threshold_quantile: float = 0.95
    max_train_samples: int | None = None
    batch_size: int = 64
    score_batch_size: int = 512
    seed: int = 0
    device: str = "auto"
    deterministic: bool = False
    precision: str = "auto"
    out_dir: str | None = None
    resume: bool = False
    progress: bool = True

    def __post_init__(self):
        check_number(self, "val_fraction", low=0, high=1, low_open=True, high_open=True)
        check_number(self, "threshold_quantile", low=0, high=1)
        check_int(self, "batch_size", low=1)
        check_int(self, "score_batch_size", low=1)
        if self.max_train_samples is not None:
            check_int(self, "max_train_samples", low=2)


def check_number(cfg, name: str, *, low=None, high=None, low_open=False, high_open=False) -> None:
    """Raises TypeError / ValueError naming `name` unless getattr(cfg, name) is a number in range."""
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise TypeError(f"{name} must be a number, got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"{name} must be in {lo}{low}, {high}{hi}, got {value!r}")


def check_int(cfg, name: str, *, low: int | None = None) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def as_tensor(x, name: str = "x") -> torch.Tensor:
    """Array-like [N, ...] -> float32 CPU tensor; a clear error for anything else."""
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
    elif isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x))
    else:
        raise TypeError(f"{name} must be a torch.Tensor or numpy array of shape [N, ...], got {type(x).__name__}")
    if t.dim() < 2:
        raise ValueError(f"{name} must have shape [N, features...] with N samples, got shape {tuple(t.shape)}")
    if not (t.is_floating_point() or t.dtype in (torch.uint8, torch.int32, torch.int64)):
        raise TypeError(f"{name} must hold numbers, got dtype {t.dtype}")
    t = t.float()
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf values")
    return t


class Detector:
    """Base class of every anomaly detector (see the module docstring for the contract)."""

    name: ClassVar[str] = "detector"
    Config: ClassVar[type[DetectorConfig]] = DetectorConfig
    presets: ClassVar[dict[str, dict]] = {}

    def __init__(self, **config):
        fields = {f.name for f in dataclasses.fields(self.Config)}
        unknown = sorted(set(config) - fields)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unknown setting(s) {', '.join(unknown)}; "
                f"valid settings: {', '.join(sorted(fields))}"
            )
        self.config = self.Config(**config)
        self.networks: dict[str, nn.Module] = {}
        self.input_shape: tuple[int, ...] | None = None
        self.threshold_: float | None = None
        self.train_seconds_: float | None = None

    @classmethod
    def from_preset(cls, preset: str, input_shape: tuple[int, ...], **overrides) -> "Detector":
        """A detector with the named preset's settings for data of `input_shape`, then `overrides`."""
        if preset not in cls.presets:
            raise ValueError(f"preset must be one of {', '.join(cls.presets) or '(none)'}; got {preset!r}")
        settings = cls.preset_settings(preset, input_shape)
        settings.update(overrides)
        return cls(**settings)

    @classmethod
    def preset_settings(cls, preset: str, input_shape: tuple[int, ...]) -> dict:
        """Settings of a preset; subclasses may specialise them by input shape."""
        return dict(cls.presets[preset])

    @property
    def device(self) -> torch.device:
        return distributed.rank_device(resolve_device(self.config.device))  # cuda:LOCAL_RANK under torchrun

    def make_engine(self) -> Engine:
        c = self.config
        return Engine(c.out_dir, device=c.device, seed=c.seed, deterministic=c.deterministic,
                      precision=c.precision, progress=c.progress)

    # ------------------------------------------------------------------------------ fitting
    def fit(self, train_data, val_data=None) -> "Detector":
        """Trains on normal samples [N, ...]; sets `threshold_` from normal validation scores."""
        train = as_tensor(train_data, "train_data")
        if val_data is None:
            train, val = split_validation(train, self.config.val_fraction, self.config.seed)
        else:
            val = as_tensor(val_data, "val_data")
            if val.shape[1:] != train.shape[1:]:
                raise ValueError(f"val_data samples have shape {tuple(val.shape[1:])}, train_data's {tuple(train.shape[1:])}")
        self.input_shape = tuple(train.shape[1:])
        started = time.perf_counter()
        self._fit(train, val, self.make_engine())
        self.train_seconds_ = time.perf_counter() - started
        self.threshold_ = float(np.quantile(self.score_samples(val), self.config.threshold_quantile))
        return self

    def _fit(self, train: torch.Tensor, val: torch.Tensor, engine: Engine) -> None:
        raise NotImplementedError

    def training_subset(self, train: torch.Tensor) -> torch.Tensor:
        """[N, ...] -> the seeded random subset of at most `max_train_samples` rows that networks
        train on (all of `train` when None). Sample banks of normal data keep the whole of it."""
        cap = self.config.max_train_samples
        if cap is None or len(train) <= cap:
            return train
        return train[torch.randperm(len(train), generator=torch.Generator().manual_seed(self.config.seed))[:cap]]

    # ------------------------------------------------------------------------------ scoring
    def _check_fitted(self) -> None:
        if self.input_shape is None:
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet; call fit(x) or load(path) first")

    def score_samples(self, x) -> np.ndarray:
        """[N, ...] -> np.ndarray [N] float64 anomaly scores, higher = more anomalous."""
        self._check_fitted()
        x = as_tensor(x)
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"x must have samples of shape {self.input_shape}, got {tuple(x.shape[1:])}")
        for net in self.networks.values():
            net.eval()
        with torch.no_grad():
            out = [self._score(b.to(self.device)).float().cpu() for b in batches(x, self.config.score_batch_size)]
        return torch.cat(out).double().numpy()

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decision_function(self, x) -> np.ndarray:
        """[N, ...] -> [N] score minus the validation threshold; > 0 means anomalous."""
        if self.threshold_ is None:
            self._check_fitted()
        return self.score_samples(x) - self.threshold_

    def predict(self, x) -> np.ndarray:
        """[N, ...] -> [N] int64, 1 = anomaly (score above the validation threshold), 0 = normal."""
        return (self.decision_function(x) > 0).astype(np.int64)

    # -------------------------------------------------------------------------- persistence
    def _build(self, input_shape: tuple[int, ...]) -> None:
        """Creates `self.networks` for data of `input_shape` (untrained). Default: no networks."""

    def _extra_state(self) -> dict:
        return {}

    def _load_extra_state(self, state: dict) -> None:
        pass

    def save(self, path: str | Path) -> Path:
        """Writes config, weights and calibration to `path` (atomic; loads with weights_only=True)."""
        self._check_fitted()
        return atomic_save(
            {
                "format": MODEL_FORMAT,
                "model": self.name,
                "config": dataclasses.asdict(self.config),
                "input_shape": list(self.input_shape),
                "threshold": self.threshold_,
                "networks": {k: {n: t.cpu() for n, t in m.state_dict().items()} for k, m in self.networks.items()},
                "extra": self._extra_state(),
            },
            path,
        )

    @classmethod
    def load(cls, path: str | Path, **overrides) -> "Detector":
        """A fitted detector from `save`'s file; `overrides` change runtime settings (e.g. device)."""
        payload = load_checked(path, MODEL_FORMAT)
        if cls.name not in ("detector", payload["model"]):
            raise ValueError(f"{path} holds a {payload['model']!r} model, not {cls.name!r}")
        if cls.name == "detector":
            from omasgan.models import get_model

            cls = get_model(payload["model"])
        det = cls(**{**payload["config"], **overrides})
        det.input_shape = tuple(payload["input_shape"])
        det._build(det.input_shape)
        for name, net in det.networks.items():
            net.load_state_dict(payload["networks"][name])
        det._load_extra_state(payload["extra"])
        det.threshold_ = payload["threshold"]
        return det
