"""The Detector base class: PyOD's detector interface on scikit-learn's estimator protocol.

    det = Model(contamination=0.1, seed=0)  # keyword parameters; get_params / set_params / clone
    det.fit(X)                        # X: [N, ...] NORMAL samples (array or tensor); y is ignored
    det.decision_function(X)          # -> np.ndarray [N] raw anomaly scores, higher = more abnormal
    det.predict(X)                    # -> np.ndarray [N] int, 1 = anomaly (score > threshold_)
    det.predict_proba(X)              # -> [N, 2] (normal, anomaly) probabilities
    det.predict(X, return_confidence=True)  # -> (labels [N], confidence [N]); predict_proba likewise
    det.threshold_, det.n_features_in_
    det.decision_scores_, det.labels_ # [N] fit's X, every row in X's order; fit_predict(X) = labels_
    det.save(path); omasgan.load(path)  # weights_only-loadable file; the same scores after loading

The threshold: `threshold_` is the (1 - contamination) quantile of the scores of the calibration
data. With `threshold_from="validation"` (the default) that is normal data held out from training
(`fit(X, val_data=V)`, or a `val_fraction` of X): scores of samples never trained on.
`threshold_from="train"` is PyOD's rule exactly: the quantile of `decision_scores_`, which expects
a `contamination` share of X itself to be anomalous. Detectors whose bank holds the training data
(a sample is its own nearest neighbour there) score each training row without itself
(`_training_scores`, as PyOD's KNN does), so that rule gives a threshold above 0, not one that
flags nearly every normal sample. The validation rule's quantile is noisy when the held-out share
is small (10 of 200 rows at val_fraction=0.05): pass val_data or raise val_fraction there.

A subclass sets `name` and `Config` (a dataclass derived from `DetectorConfig`; its fields are
the estimator's parameters) and implements:

- `_fit(train, val, engine)`: build and train its networks (in `self.networks`, a dict of
  nn.Modules, trained on `training_subset(train)`) and any other state on `train` [Nt, ...]; `val`
  [Nv, ...] may be used for calibration (never test data);
- `_score(x)`: [B, ...] tensor on `self.torch_device` -> [B] scores, under no_grad and eval mode;
- `_training_scores(train)` when its bank holds the training data: [Nt] scores of the training
  rows, each left out of its own bank (default: decision_function(train));
- optionally `_extra_state()` / `_load_extra_state(state)`: tensors and plain types beyond the
  networks' weights (e.g. score statistics, a sample bank);
- optionally `_build(input_shape)`: create `self.networks` (needed by `load`).

Fitted state is named with a trailing underscore (`threshold_`, a model's `bank_`), as in
scikit-learn and PyOD: every fit deletes all of it first (and empties `networks`), so a refit
starts from nothing. A model registers in `omasgan.models.registry` (one entry).

Capabilities: what a detector offers beyond this interface it declares by overriding these
methods (shared code asks them, never a model's name or attributes):

- `score_terms(X)`: the named parts of a composite score (default {}: one term);
- `stage_report(data, labels)`: what each training stage achieved (default None: nothing);
- `export_module()`: the score as a module of standard operators, for ONNX (default: refused);
- `can_draw_score_bank()` / `draw_score_bank(size, ...)`: a score bank that can be redrawn, e.g.
  larger than at fit (`omasgan score --bank-size`; default: none).
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import inspect
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.exceptions import NotFittedError
from torch import nn

from omasgan import distributed
from omasgan.checkpoint import RunFolder, atomic_save, load_checked
from omasgan.data import batches, split_validation
from omasgan.engine import PRECISIONS, Engine, resolve_device

MODEL_FORMAT = "omasgan-model"
THRESHOLD_SOURCES = ("validation", "train")
# Where and how a detector runs, not what it computes: a checkpoint written under other values
# still resumes (a copied run folder, --device cpu), and `load` may change them.
RUNTIME_SETTINGS = ("device", "out_dir", "resume", "overwrite", "progress", "score_batch_size")


@dataclass
class DetectorConfig:
    """Settings every detector has.

    preset: the named set of settings (the detector's `presets`, e.g. "quick" for a CPU, "paper"
        for a GPU) that fills in, for the kind of sample fit gets (see `shape_kind`), every setting
        the preset sets and the caller left unset; an explicit setting always wins.
    contamination: the share of anomalies the threshold expects (PyOD's meaning, default 0.1):
        threshold_ is the (1 - contamination) quantile of the calibration scores.
    threshold_from: "validation" (held-out normal data, see val_fraction) or "train" (PyOD's rule:
        decision_scores_, X's own scores, each training row left out of a bank that holds it).
    val_fraction: share of the training data held out as normal validation data when `fit` gets
        no `val_data`.
    max_train_samples: train the networks on a seeded random subset of at most this many samples
        (None = all).
    batch_size: training batch size.
    seed, deterministic, precision ("auto"/"fp32"/"bf16"): the engine's.
    Runtime settings (not part of the model; see RUNTIME_SETTINGS): device ("auto"/"cpu"/"cuda"/
        "cuda:N"), out_dir (folder for checkpoints, metrics and figures; None = in memory only),
        resume (continue from out_dir's checkpoint), overwrite (replace the run out_dir holds; without
        resume or overwrite a folder that holds a run is refused), progress (progress bars),
        score_batch_size.
    """

    preset: str = "quick"
    contamination: float = 0.1
    threshold_from: str = "validation"
    val_fraction: float = 0.05
    max_train_samples: int | None = None
    batch_size: int = 64
    seed: int = 0
    deterministic: bool = False
    precision: str = "auto"
    device: str = "auto"
    out_dir: str | None = None
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    score_batch_size: int = 512

    @classmethod
    def upgrade(cls, saved: dict) -> dict:
        """Settings as an earlier version saved them -> today's settings (a model file's config);
        raises ValueError for a model that today's code cannot reproduce. Default: as saved."""
        return dict(saved)

    def __post_init__(self):
        if not isinstance(self.preset, str):
            raise TypeError(f"preset must be a preset's name, got {self.preset!r}")
        check_number(self, "contamination", low=0, high=0.5, low_open=True)
        check_choice(self, "threshold_from", THRESHOLD_SOURCES)
        check_number(self, "val_fraction", low=0, high=1, low_open=True, high_open=True)
        check_int(self, "batch_size", low=1)
        check_int(self, "score_batch_size", low=1)
        check_int(self, "seed", low=0)
        if self.max_train_samples is not None:
            check_int(self, "max_train_samples", low=2)
        for name in ("deterministic", "resume", "overwrite", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        check_choice(self, "precision", PRECISIONS)
        if not isinstance(self.device, (str, torch.device)):
            raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda:0', got {self.device!r}")
        if self.out_dir is not None and not isinstance(self.out_dir, (str, Path)):
            raise TypeError(f"out_dir must be a folder path or None, got {self.out_dir!r}")


# Presets differ by the kind of sample: [1 or 3, 32, 32] images get DCGAN networks, other images
# ([C, H, W], e.g. the 8x8 digits) and vectors get MLPs; OMASGAN's score also treats images
# differently from vectors, and points in the plane (at most 2 features) from longer vectors.
SHAPE_KINDS = ("dcgan", "image", "vector", "plane")


def shape_kind(input_shape: tuple[int, ...]) -> str:
    """"dcgan" for [1 or 3, 32, 32], "image" for any other [C, H, W], "plane" for samples of at
    most 2 values, "vector" for the rest."""
    from omasgan.nets import is_dcgan_shape

    if is_dcgan_shape(tuple(input_shape)):
        return "dcgan"
    if len(input_shape) == 3:
        return "image"
    return "plane" if int(np.prod(input_shape)) <= 2 else "vector"


def by_shape(dcgan: dict, image: dict, vector: dict | None = None, plane: dict | None = None) -> dict:
    """A preset: its settings per SHAPE_KINDS entry (vector defaults to image's, plane to vector's)."""
    vector = image if vector is None else vector
    return {"dcgan": dcgan, "image": image, "vector": vector, "plane": vector if plane is None else plane}


class _FromPreset:
    """The default of every setting a detector's presets set: `fit` takes its value from the
    chosen preset for the data's kind of sample (see Detector.resolved_settings)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "FROM_PRESET"

    def __reduce__(self):  # copies and pickles are the one instance (scikit-learn's clone checks identity)
        return "FROM_PRESET"


FROM_PRESET = _FromPreset()


def model_settings(config: DetectorConfig) -> dict:
    """The settings that define a model (all but RUNTIME_SETTINGS), as plain types: what a
    checkpoint records and a resume must match."""
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in RUNTIME_SETTINGS}


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
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def check_choice(cfg, name: str, allowed) -> None:
    if getattr(cfg, name) not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {getattr(cfg, name)!r}")


class NotExportableError(ValueError):
    """This detector's score cannot be written as a fixed graph (see Detector.export_module)."""


class ScoreModule(nn.Module):
    """x -> score(x).float() as an nn.Module holding `networks` (so an exporter sees their
    weights): what a model's `export_module` returns."""

    def __init__(self, networks: dict[str, nn.Module], score):
        super().__init__()
        self.nets = nn.ModuleDict(networks)
        self.score = score

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(x).float()


def as_tensor(x, name: str = "X") -> torch.Tensor:
    """Array-like [N, ...] -> float32 CPU tensor; a clear error for anything else."""
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
    elif isinstance(x, np.ndarray):
        if x.dtype.byteorder == ">":  # torch holds native byte order only
            x = x.astype(x.dtype.newbyteorder("="))
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise TypeError(f"{name} must hold numbers, got dtype {x.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32 if x.dtype != np.float32 else None))
    elif isinstance(x, (list, tuple)):
        try:
            t = torch.as_tensor(np.asarray(x, dtype=np.float32))
        except (ValueError, TypeError):
            raise TypeError(f"{name} must be a rectangular array of numbers") from None
    else:
        raise TypeError(f"{name} must be a torch.Tensor, numpy array or nested list of shape [N, ...], "
                        f"got {type(x).__name__}")
    if t.dim() < 2:
        raise ValueError(f"{name} must have shape [N, features...] with N samples, got shape {tuple(t.shape)}")
    if not (t.is_floating_point() or t.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)):
        raise TypeError(f"{name} must hold numbers, got dtype {t.dtype}")
    t = t.float()
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf values (or numbers beyond float32's range)")
    return t


class Detector(OutlierMixin, BaseEstimator):
    """Base class of every anomaly detector (see the module docstring for the contract).

    The parameters are the fields of `Config`; each subclass gets an `__init__` whose signature
    lists them (scikit-learn reads it for get_params, clone and repr).
    """

    name: ClassVar[str] = "detector"
    Config: ClassVar[type[DetectorConfig]] = DetectorConfig
    presets: ClassVar[dict[str, dict[str, dict]]] = {}  # name -> {shape kind -> settings}, see by_shape

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            raise TypeError(f"{cls.__name__} must not define __init__: its parameters are the fields of its Config")

        def __init__(self, **params):
            Detector.__init__(self, **params)

        defaults = cls.parameter_defaults()
        __init__.__signature__ = inspect.Signature(
            [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
            + [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=d) for name, d in defaults.items()])
        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        __init__.__doc__ = f"Parameters: see {cls.Config.__name__}."
        cls.__init__ = __init__

    @classmethod
    def parameter_defaults(cls) -> dict:
        """{setting: default} of the estimator's parameters: FROM_PRESET for every setting one of
        its presets sets (fit fills it in from `preset`), the Config's default for the rest."""
        preset_set = {k for preset in cls.presets.values() for kind in preset.values() for k in kind}
        return {f.name: FROM_PRESET if f.name in preset_set else f.default for f in dataclasses.fields(cls.Config)}

    def __init__(self, **params):
        fields = self.parameter_defaults()
        unknown = sorted(set(params) - set(fields))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unknown setting(s) {', '.join(unknown)}; "
                f"valid settings: {', '.join(sorted(fields))}"
            )
        for key, default in fields.items():  # scikit-learn: parameters are stored as given
            setattr(self, key, params.get(key, default))
        self._config = self._validated()
        self.networks: dict[str, nn.Module] = {}
        # (X [N, ...], training rows [Nt], held-out rows [Nv]) of the last fit, for decision_scores_
        # on demand; None in a loaded model.
        self._fit_rows: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._decision_scores: np.ndarray | None = None

    def resolved_settings(self, input_shape: tuple[int, ...] | None) -> dict:
        """The parameters with every FROM_PRESET setting filled in: from `preset` for samples of
        `input_shape`, or (input_shape None, before fit) from the Config's defaults."""
        settings = {f.name: getattr(self, f.name) for f in dataclasses.fields(self.Config)}
        if settings["preset"] not in self.presets:
            raise ValueError(f"preset must be one of {', '.join(self.presets)}; got {settings['preset']!r}")
        chosen = self.preset_settings(settings["preset"], input_shape) if input_shape is not None else {}
        defaults = {f.name: f.default for f in dataclasses.fields(self.Config)}
        return {k: (chosen.get(k, defaults[k]) if v is FROM_PRESET else v) for k, v in settings.items()}

    def _validated(self, input_shape: tuple[int, ...] | None = None) -> DetectorConfig:
        return self.Config(**self.resolved_settings(input_shape))

    @property
    def config(self) -> DetectorConfig:
        """The validated settings (a `Config` dataclass). From fit on, every setting left to the
        preset holds the preset's value for the data fit got; before, the Config's default."""
        return self._config

    def set_params(self, **params) -> "Detector":
        super().set_params(**params)
        self._config = self._validated(getattr(self, "input_shape_", None))
        return self

    def model_settings(self) -> dict:
        """model_settings(self.config)."""
        return model_settings(self.config)

    @classmethod
    def from_preset(cls, preset: str, input_shape: tuple[int, ...], **overrides) -> "Detector":
        """A detector with the named preset's settings for data of `input_shape` spelled out, then
        `overrides` (what `cls(preset=preset, **overrides)` resolves to when fit on such data)."""
        return cls(**{**cls.preset_settings(preset, input_shape), "preset": preset, **overrides})

    @classmethod
    def preset_settings(cls, preset: str, input_shape: tuple[int, ...]) -> dict:
        """The settings of preset `preset` for samples of `input_shape`: `presets[preset]` holds
        one dict per SHAPE_KINDS entry, and `shape_kind(input_shape)` picks it."""
        if preset not in cls.presets:
            raise ValueError(f"preset must be one of {', '.join(cls.presets) or '(none)'}; got {preset!r}")
        return dict(cls.presets[preset][shape_kind(input_shape)])

    @property
    def torch_device(self) -> torch.device:
        """The device the networks live on (`device` resolved; cuda:LOCAL_RANK under torchrun)."""
        return distributed.rank_device(resolve_device(self.config.device))

    def make_engine(self) -> Engine:
        c = self.config
        return Engine(c.out_dir, device=c.device, seed=c.seed, deterministic=c.deterministic,
                      precision=c.precision, progress=c.progress)

    # ------------------------------------------------------------------------------ fitting
    def fit(self, X, y=None, *, val_data=None, run_folder: RunFolder | None = None) -> "Detector":
        """Trains on normal samples X [N, ...]; y is ignored (PyOD / scikit-learn convention).

        val_data [Nv, ...]: normal samples for the threshold (default: a `val_fraction` of X).
        run_folder: with out_dir set, fit holds out_dir's lock (`checkpoint.RunFolder`) while it
            trains; a caller that writes more of the run after fit (model.pt, settings.json: see
            omasgan.evaluation) takes the lock itself, where the run starts, and passes the
            RunFolder it holds here, so the folder is locked once.
        """
        if y is not None and np.ndim(y) > 1:
            raise TypeError("y holds labels and is ignored; pass normal validation samples as val_data=")
        x = as_tensor(X, "X")
        self._config = self._validated(tuple(x.shape[1:]))
        guard = self._run_folder_guard(run_folder)
        if val_data is not None and len(x) == 0:
            raise ValueError("X holds 0 samples; fit needs normal samples to train on")
        if val_data is None and len(x) < 2:
            raise ValueError(f"X must hold at least 2 normal samples (some are held out for the threshold), got {len(x)}")
        rows = torch.arange(len(x))
        if val_data is None:
            train_rows, val_rows = split_validation(rows, self.config.val_fraction, self.config.seed)
            train, val = x[train_rows], x[val_rows]
        else:
            train_rows, val_rows, train = rows, rows[:0], x
            val = as_tensor(val_data, "val_data")
            if val.shape[1:] != train.shape[1:]:
                raise ValueError(f"val_data samples have shape {tuple(val.shape[1:])}, X's {tuple(train.shape[1:])}")
            if len(val) == 0:
                raise ValueError("val_data holds 0 samples; give at least one, or None to hold out part of X")
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, name)  # a refit starts from nothing
        self.networks = {}
        self.input_shape_ = tuple(train.shape[1:])
        self.preprocessing_ = {"input_shape": list(self.input_shape_),
                               "value_range": [float(train.min()), float(train.max())]}
        c = self.config
        try:
            with guard:
                started = time.perf_counter()
                self._fit(train, val, self.make_engine())
                self.train_seconds_ = time.perf_counter() - started
            self._fit_rows, self._decision_scores = (x, train_rows, val_rows), None
            self.n_features_in_ = int(np.prod(self.input_shape_))
            self.trained_on_ = {"n_train": len(train), "n_validation": len(val),
                                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
            calibration = self.decision_scores_ if c.threshold_from == "train" else self.decision_function(val)
            self._calibrate_threshold(calibration)
        except BaseException:
            del self.input_shape_  # not fitted
            raise
        return self

    def _run_folder_guard(self, run_folder: RunFolder | None):
        """What fit holds while it trains: out_dir's RunFolder, or nothing when the caller holds
        it (`run_folder`) or there is no out_dir."""
        out_dir = self.config.out_dir
        if run_folder is not None:
            if out_dir is None or not run_folder.holds(out_dir):
                raise ValueError(f"run_folder must be the entered RunFolder of out_dir ({out_dir!r}), "
                                 f"got one for {run_folder.folder}")
            return contextlib.nullcontext()
        if out_dir:
            return RunFolder(out_dir, resume=self.config.resume, overwrite=self.config.overwrite)
        return contextlib.nullcontext()

    def _calibrate_threshold(self, scores: np.ndarray) -> None:
        """threshold_ and the calibration statistics predict_proba / predict_confidence use."""
        bad = int((~np.isfinite(scores)).sum())
        if bad:  # e.g. a lone training row: no other row to be its neighbour, so it scores inf
            raise ValueError(f"threshold_from={self.config.threshold_from!r}: {bad} of {len(scores)} calibration "
                             "scores are not finite; fit on more samples or pass val_data")
        self.calibration_scores_ = np.sort(np.asarray(scores, dtype=np.float64))
        self.threshold_ = float(np.quantile(self.calibration_scores_, 1 - self.config.contamination))

    def _fit(self, train: torch.Tensor, val: torch.Tensor, engine: Engine) -> None:
        raise NotImplementedError

    def training_subset(self, train: torch.Tensor) -> torch.Tensor:
        """[N, ...] -> the seeded random subset of at most `max_train_samples` rows that networks
        train on (all of `train` when None). Sample banks of normal data keep the whole of it."""
        cap = self.config.max_train_samples
        if cap is None or len(train) <= cap:
            return train
        return train[torch.randperm(len(train), generator=torch.Generator().manual_seed(self.config.seed))[:cap]]

    def _training_scores(self, train: torch.Tensor) -> np.ndarray:
        """train [Nt, ...]: the training rows exactly as `_fit` got them -> [Nt] float64 scores.

        A detector whose bank holds the training data overrides this to score each row without
        itself (PyOD's KNN does the same): otherwise a sample is its own nearest neighbour and
        scores 0. Default: decision_function(train)."""
        return self.decision_function(train)

    @property
    def decision_scores_(self) -> np.ndarray:
        """[N] the scores of fit's X in X's order (PyOD's attribute), computed on first use and
        kept: training rows get `_training_scores`, rows held out for validation their plain score."""
        if self._decision_scores is None:
            if self._fit_rows is None:
                self._check_fitted()
                raise AttributeError("decision_scores_ is not stored in a saved model; score the training data again")
            x, train_rows, val_rows = self._fit_rows
            scores = np.empty(len(x))
            scores[train_rows.numpy()] = self._training_scores(x[train_rows])
            scores[val_rows.numpy()] = self.decision_function(x[val_rows])
            self._decision_scores = scores
        return self._decision_scores

    @property
    def labels_(self) -> np.ndarray:
        """[N] int64 the labels of fit's X under threshold_ (1 = anomaly), in X's order."""
        return (self.decision_scores_ > self.threshold_).astype(np.int64)

    def fit_predict(self, X, y=None, **fit_params) -> np.ndarray:
        """fit(X), then labels_: [N] one label per row of X."""
        return self.fit(X, y, **fit_params).labels_

    # ------------------------------------------------------------------------------ scoring
    def _check_fitted(self) -> None:
        if not hasattr(self, "input_shape_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X) or omasgan.load(path) first")

    def _check_input(self, X, name: str = "X") -> torch.Tensor:
        """X as a float32 tensor of this model's sample shape and value range."""
        self._check_fitted()
        x = as_tensor(X, name)
        if tuple(x.shape[1:]) != self.input_shape_:
            raise ValueError(f"{name} must have samples of shape {self.input_shape_}, got {tuple(x.shape[1:])}")
        low, high = self.preprocessing_.get("value_range", (None, None))
        if len(self.input_shape_) == 3 and low is not None and len(x):
            # Images hold values in a fixed range (a vector far from the data is an anomaly, an
            # image in another range is the wrong preprocessing): refuse what lies far outside.
            span = max(high - low, 1e-12)
            if x.min() < low - span or x.max() > high + span:
                raise ValueError(
                    f"{name} holds values in [{float(x.min()):.4g}, {float(x.max()):.4g}], but this model was trained "
                    f"on images in [{low:.4g}, {high:.4g}]; apply the same preprocessing (e.g. uint8 0-255 to "
                    "[-1, 1] by x / 127.5 - 1), or score an image folder with `omasgan score --input`")
        return x

    def decision_function(self, X) -> np.ndarray:
        """X [N, ...] -> np.ndarray [N] float64 raw anomaly scores, higher = more abnormal."""
        x = self._check_input(X)
        for net in self.networks.values():
            net.eval()
        with torch.no_grad():
            out = [self._score(b.to(self.torch_device)).float().cpu() for b in batches(x, self.config.score_batch_size)]
        return torch.cat(out).double().numpy() if out else np.zeros(0)

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # ------------------------------------------------------------------------- capabilities
    def score_terms(self, X) -> dict[str, np.ndarray]:
        """The named parts of the score for samples X [N, ...]: {name -> [N]} (e.g. OMASGAN's J, fD
        and manifold terms), for diagnostics. Default: {} (the score is a single term)."""
        return {}

    def stage_report(self, data, labels=None) -> dict | None:
        """What each training stage achieved on normal `data` [M, ...] (labels [M] optional), as a
        JSON-ready dict (written to stages.json by omasgan.evaluation). Default: None (no stages
        to report on)."""
        return None

    def export_module(self) -> nn.Module:
        """A module x [N, *input_shape] -> decision_function(x) [N] (float32) built from standard
        operators only, with this detector's networks as submodules: what omasgan.export writes
        to ONNX. Default: refused (NotExportableError naming the model)."""
        raise NotExportableError(f"{self.name} cannot be exported to ONNX: its score is not a fixed graph of "
                                 "standard operators")

    def can_draw_score_bank(self) -> bool:
        """Whether `draw_score_bank` can (re)draw a score bank for this detector (`omasgan score
        --bank-size`). Default: False."""
        return False

    def draw_score_bank(self, size: int, *, sharded: bool = False, directory=None, progress: bool = False,
                        memory_budget: int | None = None) -> None:
        """(Re)draws the score bank with `size` samples (see the overriding model). Default: refused."""
        raise NotImplementedError(f"{self.name} has no score bank to draw")

    def predict(self, X, return_confidence: bool = False):
        """X [N, ...] -> [N] int64, 1 = anomaly (score above threshold_), 0 = normal; with
        return_confidence, (labels [N], predict_confidence [N]) from one scoring pass."""
        scores = self.decision_function(X)
        labels = (scores > self.threshold_).astype(np.int64)
        return (labels, self._confidence(scores)) if return_confidence else labels

    def predict_proba(self, X, method: str = "linear", return_confidence: bool = False):
        """X [N, ...] -> [N, 2] probabilities of (normal, anomaly), PyOD's two methods on the
        calibration scores: "linear" min-max scales the score into [0, 1]; "unify" is
        erf((score - mean) / (std sqrt 2)) clipped at 0 (Kriegel et al., 2011). With
        return_confidence, (proba [N, 2], predict_confidence [N])."""
        if method not in ("linear", "unify"):
            raise ValueError(f"method must be 'linear' or 'unify', got {method!r}")
        scores = self.decision_function(X)
        proba = self._proba(scores, method)
        return (proba, self._confidence(scores)) if return_confidence else proba

    def _proba(self, scores: np.ndarray, method: str) -> np.ndarray:
        """scores [N] -> [N, 2] (normal, anomaly) probabilities, see predict_proba."""
        from scipy.special import erf

        cal = self.calibration_scores_
        if method == "linear":
            span = cal[-1] - cal[0]
            anomaly = np.clip((scores - cal[0]) / span if span > 0 else (scores > cal[0]).astype(float), 0, 1)
        else:
            anomaly = np.clip(erf((scores - cal.mean()) / (max(cal.std(), 1e-12) * np.sqrt(2))), 0, 1)
        return np.column_stack([1 - anomaly, anomaly])

    def predict_confidence(self, X) -> np.ndarray:
        """X [N, ...] -> [N] in [0, 1]: how sure predict is of each label (ExCeeD, Perini et al.,
        2020, as in PyOD): the chance that the score's rank among the calibration scores would give
        the same label under the contamination's binomial prior."""
        return self._confidence(self.decision_function(X))

    def _confidence(self, scores: np.ndarray) -> np.ndarray:
        """scores [N] -> [N] in [0, 1], see predict_confidence."""
        from scipy.stats import binom

        cal = self.calibration_scores_
        n = len(cal)
        below = np.searchsorted(cal, scores, side="right")  # calibration scores <= each score
        posterior = (1 + below) / (2 + n)
        anomalous = binom.cdf(n - int(n * self.config.contamination), n, posterior)
        return np.where(scores > self.threshold_, anomalous, 1 - anomalous)

    # -------------------------------------------------------------------------- persistence
    def _build(self, input_shape: tuple[int, ...]) -> None:
        """Creates `self.networks` for data of `input_shape` (untrained). Default: no networks."""

    def _extra_state(self) -> dict:
        return {}

    def _load_extra_state(self, state: dict) -> None:
        pass

    def save(self, path: str | Path) -> Path:
        """Writes settings, weights, calibration, preprocessing and what the model was trained on
        to `path` (atomic; loads with weights_only=True)."""
        import omasgan

        self._check_fitted()
        return atomic_save(
            {
                "format": MODEL_FORMAT,
                "omasgan_version": omasgan.__version__,
                "model": self.name,
                "config": dataclasses.asdict(self.config),
                "input_shape": list(self.input_shape_),
                "threshold": self.threshold_,
                "calibration_scores": torch.from_numpy(self.calibration_scores_),
                "preprocessing": self.preprocessing_,
                "trained_on": self.trained_on_,
                "train_seconds": self.train_seconds_,
                "networks": {k: {n: t.cpu() for n, t in m.state_dict().items()} for k, m in self.networks.items()},
                "extra": self._extra_state(),
                # the parameters left to the preset: loaded, they are left to it again (get_params)
                "from_preset": sorted(k for k, v in self.get_params(deep=False).items() if v is FROM_PRESET),
            },
            path,
        )

    @classmethod
    def load(cls, path: str | Path, **runtime) -> "Detector":
        """A fitted detector of this class from `save`'s file; `runtime` changes runtime settings
        only (RUNTIME_SETTINGS). `omasgan.load(path)` loads a detector of any class."""
        payload = load_checked(path, MODEL_FORMAT)
        if payload.get("model") != cls.name:
            raise ValueError(f"{path} holds a {payload.get('model')!r} model, not {cls.name!r}; use omasgan.load(path)")
        return cls.from_payload(payload, **runtime)

    @classmethod
    def from_payload(cls, payload: dict, **runtime) -> "Detector":
        """A fitted detector from the dict `save` writes (read with checkpoint.load_checked)."""
        bad = sorted(set(runtime) - set(RUNTIME_SETTINGS))
        if bad:
            raise TypeError(f"load changes runtime settings only ({', '.join(RUNTIME_SETTINGS)}), not {', '.join(bad)}")
        det = cls(**{**cls.Config.upgrade(payload["config"]), **runtime})
        det.input_shape_ = tuple(payload["input_shape"])
        det.n_features_in_ = int(np.prod(det.input_shape_))
        det._build(det.input_shape_)
        for name, net in det.networks.items():
            net.load_state_dict(payload["networks"][name])
        det._load_extra_state(payload["extra"])
        for name in payload.get("from_preset", []):
            setattr(det, name, FROM_PRESET)  # `config` keeps the settings the networks were trained with
        det.threshold_ = payload["threshold"]
        det.calibration_scores_ = payload["calibration_scores"].numpy()
        det.preprocessing_ = payload["preprocessing"]
        det.trained_on_ = payload["trained_on"]
        det.train_seconds_ = payload["train_seconds"]
        return det

