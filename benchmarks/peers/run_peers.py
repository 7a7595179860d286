"""Peer implementations on exactly our MNIST leave-one-out splits: anomalib's GANomaly and PyOD's
detectors, trained and scored beside omasgan's models (benchmarks/peers/README.md).

    make peers                                        # installs the peers, then runs every peer
    .venv/bin/python benchmarks/peers/run_peers.py --peers pyod-knn,anomalib-ganomaly --classes 0,1
    .venv/bin/python benchmarks/peers/run_peers.py --list

For each left-out class c the split is `omasgan.data.make_split("mnist", c, protocol="loo",
seed=0)`: `train` is the normal training part after the 5% validation holdout (the same
`split_validation` that `Detector.fit` applies), `val` is never trained on, and `test_x/test_y`
is MNIST's official test split (label 1 = the left-out digit). Images are [N, 1, 32, 32] in
[-1, 1] (28x28 padded with the background -1), exactly what omasgan's models see; PyOD's detectors
get them flattened to 1,024 features. Networks train on the same seeded 12,000-image subset of
`train` as omasgan's "quick" presets (`Detector.training_subset`); PyOD's KNN, like omasgan's
`knn`, keeps the whole of `train` as its bank.

AUROC / AUPRC come from `omasgan.evaluation.metrics` (scikit-learn). Each finished class is merged
into benchmarks/results/mnist-loo.json at once (a row with the same dataset, split, model, preset,
abnormal_class and seed replaces the old one), so a killed run keeps its finished classes.

This file is deliberately not named bench_*.py / test_*.py: pytest never collects it, and CI
(which does not install the peers) never imports it.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


def _threads_from_argv(argv: list[str], default: int = 1) -> int:
    """--threads N, read before numpy/torch load so that OpenMP / BLAS pools get the same size."""
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return default


# One thread by default: on this shared 2-core machine, 2 OpenMP threads competing with other
# jobs made a GANomaly step ~15x slower (4.95 s vs 0.32 s per batch of 64, measured 2026-12-03).
THREADS = _threads_from_argv(sys.argv)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RESULTS = ROOT / "benchmarks" / "results" / "mnist-loo.json"
DEFAULT_LOG_DIR = ROOT / "runs" / "peers"
RESULT_KEYS = ("dataset", "split", "model", "preset", "abnormal_class", "seed", "auroc", "auprc", "train_seconds")
ROW_KEY = ("dataset", "split", "model", "preset", "abnormal_class", "seed")

log = logging.getLogger("peers")


def default_data_root() -> Path:
    """omasgan's default data folder: $OMASGAN_DATA if set, else ~/.cache/omasgan/data."""
    from omasgan.cli import default_data_root as omasgan_default

    return Path(omasgan_default())


# ---------------------------------------------------------------------------------------- budgets
# omasgan's GANomaly "quick" preset (omasgan/models/ganomaly/model.py + DCGANConfig defaults).
OURS_QUICK = dict(n_features=16, batch_size=64, max_train_samples=12000, epochs=3, latent=100,
                  lr=2e-4, beta1=0.5, beta2=0.999)


@dataclass
class Peer:
    """One peer run: `model` / `preset` name the rows; `run(split, seed, log)` -> (test scores [Ns],
    train seconds)."""

    model: str
    preset: str
    run: Callable
    budget: str  # one line for the README
    default: bool = True  # part of the default `--peers` selection
    settings: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.model}:{self.preset}"


def training_subset(train: torch.Tensor, cap: int | None, seed: int) -> torch.Tensor:
    """omasgan.models.base.Detector.training_subset, verbatim: the seeded random subset of at most
    `cap` rows that omasgan's networks train on."""
    if cap is None or len(train) <= cap:
        return train
    return train[torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:cap]]


def flat(x: torch.Tensor) -> np.ndarray:
    return x.reshape(len(x), -1).numpy().astype(np.float32)


# ---------------------------------------------------------------------------- anomalib GANomaly
def run_anomalib_ganomaly(split, seed: int, log, *, n_features: int, batch_size: int, max_train_samples,
                          epochs: int, latent: int, lr: float, beta1: float, beta2: float,
                          wadv: int = 1, wcon: int = 50, wenc: int = 1, progress: bool = True):
    """anomalib 2.x's GANomaly torch model and losses, trained by a loop that mirrors its Lightning
    module's `training_step` (manual optimisation: generator step, then discriminator step), on
    [B, 1, 32, 32] images in [-1, 1]. Score: the model's eval-mode `pred_score` (mean squared
    latent difference, before anomalib's min-max normalisation, which does not change AUROC)."""
    from anomalib.models.image.ganomaly.loss import DiscriminatorLoss, GeneratorLoss
    from anomalib.models.image.ganomaly.torch_model import GanomalyModel
    from tqdm import tqdm

    torch.manual_seed(seed)
    np.random.seed(seed)
    x_train = training_subset(split.train, max_train_samples, seed)
    model = GanomalyModel(input_size=tuple(split.train.shape[-2:]), num_input_channels=split.train.shape[1],
                          n_features=n_features, latent_vec_size=latent)
    generator_loss, discriminator_loss = GeneratorLoss(wadv, wcon, wenc), DiscriminatorLoss()
    # Lightning module's configure_optimizers: Adam on each network, lr and (beta1, beta2).
    d_opt = torch.optim.Adam(model.discriminator.parameters(), lr=lr, betas=(beta1, beta2))
    g_opt = torch.optim.Adam(model.generator.parameters(), lr=lr, betas=(beta1, beta2))
    gen = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    model.train()
    n_batches = (len(x_train) + batch_size - 1) // batch_size  # anomalib's train loader: shuffle, no drop_last
    for epoch in range(epochs):
        order = torch.randperm(len(x_train), generator=gen)
        totals = {"g": 0.0, "d": 0.0}
        bar = tqdm(range(n_batches), desc=f"  anomalib-ganomaly epoch {epoch + 1}/{epochs}", leave=False,
                   disable=not progress, mininterval=5)
        for b in bar:
            images = x_train[order[b * batch_size:(b + 1) * batch_size]]
            # --- anomalib.models.image.ganomaly.lightning_model.Ganomaly.training_step ---
            padded, fake, latent_i, latent_o = model(images)
            pred_real, _ = model.discriminator(padded)
            pred_fake, _ = model.discriminator(fake)
            g_loss = generator_loss(latent_i, latent_o, padded, fake, pred_real, pred_fake)
            g_opt.zero_grad()
            g_loss.backward(retain_graph=True)
            g_opt.step()
            pred_fake, _ = model.discriminator(fake.detach())
            d_loss = discriminator_loss(pred_real, pred_fake)
            d_opt.zero_grad()
            d_loss.backward()
            d_opt.step()
            # -----------------------------------------------------------------------------
            totals["g"] += g_loss.item()
            totals["d"] += d_loss.item()
        log(f"  epoch {epoch + 1}/{epochs}: generator loss {totals['g'] / n_batches:.4f}, "
            f"discriminator loss {totals['d'] / n_batches:.4f}")
    train_seconds = time.perf_counter() - started
    model.eval()
    with torch.no_grad():
        scores = torch.cat([model(split.test_x[i:i + 512]).pred_score for i in range(0, len(split.test_x), 512)])
    return scores.numpy().astype(np.float64), train_seconds


# ------------------------------------------------------------------------------------------ PyOD
def run_pyod(split, seed: int, log, *, detector: str, max_train_samples, **kwargs):
    """A PyOD detector fitted on flattened images of `train` (or its seeded subset); scores =
    `decision_function` of the flattened test images (higher = more anomalous)."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    x_train = flat(training_subset(split.train, max_train_samples, seed))
    if detector == "knn":
        from pyod.models.knn import KNN

        det = KNN(**kwargs)
    elif detector == "deepsvdd":
        from pyod.models.deep_svdd import DeepSVDD

        det = DeepSVDD(n_features=x_train.shape[1], random_state=seed, **kwargs)
    elif detector == "autoencoder":
        from pyod.models.auto_encoder import AutoEncoder

        det = AutoEncoder(random_state=seed, **kwargs)
    elif detector == "anogan":
        from pyod.models.anogan import AnoGAN

        det = AnoGAN(**kwargs)
    else:
        raise ValueError(f"unknown PyOD detector {detector!r}")
    started = time.perf_counter()
    det.fit(x_train)
    train_seconds = time.perf_counter() - started
    scores = np.asarray(det.decision_function(flat(split.test_x)), dtype=np.float64)
    return scores, train_seconds


# ----------------------------------------------------------------------------------------- peers
def make_peers(progress: bool = True) -> list[Peer]:
    q = OURS_QUICK
    peers = [
        Peer("pyod-knn", "k1-full-train",
             lambda s, seed, log: run_pyod(s, seed, log, detector="knn", max_train_samples=None,
                                           n_neighbors=1, method="largest", n_jobs=THREADS),
             "k = 1 (distance to the nearest normal image, Euclidean), bank = all of `train`: "
             "the same score as omasgan's `knn` (quick), computed by scikit-learn"),
        Peer("pyod-knn", "pyod-default-k5",
             lambda s, seed, log: run_pyod(s, seed, log, detector="knn", max_train_samples=None,
                                           n_neighbors=5, method="largest", n_jobs=THREADS),
             "PyOD's defaults: k = 5, method 'largest' (distance to the 5th neighbour), bank = all of `train`",
             default=False),
        Peer("anomalib-ganomaly", "ours-quick-budget",
             lambda s, seed, log: run_anomalib_ganomaly(s, seed, log, progress=progress, **q),
             "n_features 16, latent 100, batch 64, 3 epochs over the seeded 12,000-image subset, "
             "Adam 2e-4 (0.5, 0.999), wadv/wcon/wenc 1/50/1 (omasgan ganomaly quick's budget)",
             settings=q),
        Peer("pyod-deepsvdd", "12k-20ep",
             lambda s, seed, log: run_pyod(s, seed, log, detector="deepsvdd", max_train_samples=12000,
                                           epochs=20, batch_size=64, verbose=0),
             "PyOD defaults (hidden [64, 32], ReLU, sigmoid output, dropout 0.2, Adam lr 1e-4, "
             "StandardScaler) but batch 64 and 20 epochs, on the seeded 12,000-image subset"),
        Peer("pyod-autoencoder", "12k-10ep",
             lambda s, seed, log: run_pyod(s, seed, log, detector="autoencoder", max_train_samples=12000,
                                           epoch_num=10, batch_size=64, verbose=0),
             "PyOD defaults (hidden [64, 32], ReLU, batch norm, dropout 0.2, Adam lr 1e-3, "
             "StandardScaler, 10 epochs) but batch 64, on the seeded 12,000-image subset"),
        Peer("anomalib-ganomaly", "anomalib-default-1ep",
             lambda s, seed, log: run_anomalib_ganomaly(
                 s, seed, log, progress=progress, n_features=64, batch_size=32, max_train_samples=None,
                 epochs=1, latent=100, lr=2e-4, beta1=0.5, beta2=0.999),
             "anomalib's default network and optimiser (n_features 64, latent 100, batch 32, Adam 2e-4 "
             "(0.5, 0.999)) on all of `train`, but 1 epoch instead of its max_epochs 100 with early "
             "stopping on a labelled validation AUROC (neither fits 2 CPU cores, and the early stopping "
             "needs anomalies)", default=False),
        Peer("pyod-anogan", "pyod-default-2ep",
             lambda s, seed, log: run_pyod(s, seed, log, detector="anogan", max_train_samples=12000,
                                           epochs=2, verbose=0),
             "PyOD defaults (latent 2, G [20, 10, 3, 10, 20], D [20, 10, 5], 20 query steps per test "
             "image) but 2 epochs instead of 500, on the seeded 12,000-image subset", default=False),
    ]
    return peers


def select(peers: list[Peer], spec: str) -> list[Peer]:
    """'default' | 'all' | comma list of model names (each of its default presets) or model:preset."""
    if spec == "default":
        return [p for p in peers if p.default]
    if spec == "all":
        return list(peers)
    chosen = []
    for item in spec.split(","):
        item = item.strip()
        found = [p for p in peers if p.id == item] or [p for p in peers if p.model == item and p.default] \
            or [p for p in peers if p.model == item]
        if not found:
            raise SystemExit(f"unknown peer {item!r}; known: {', '.join(p.id for p in peers)}")
        chosen += [p for p in found if p not in chosen]
    return chosen


def parse_classes(spec: str) -> list[int]:
    if spec == "all":
        return list(range(10))
    classes = [int(c) for c in spec.split(",")]
    if any(not 0 <= c <= 9 for c in classes):
        raise SystemExit(f"--classes must be 'all' or digits 0-9, got {spec!r}")
    return classes


# --------------------------------------------------------------------------------------- results
def merge_rows(path: Path, rows: list[dict]) -> None:
    """Re-reads `path` and writes it back with `rows` replacing rows of the same ROW_KEY (atomic)."""
    key = lambda r: tuple(r.get(k) for k in ROW_KEY)  # noqa: E731
    new = {key(r): {k: r[k] for k in RESULT_KEYS} for r in rows}
    old = json.loads(path.read_text()) if path.is_file() else []
    merged = [r for r in old if key(r) not in new] + list(new.values())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".peers-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(merged, indent=1) + "\n")
    os.replace(tmp, path)


def summary(rows: list[dict]) -> str:
    by = {}
    for r in rows:
        by.setdefault((r["model"], r["preset"]), []).append(r)
    lines = []
    for (model, preset), rs in by.items():
        lines.append(f"{model} ({preset}): {len(rs)} classes, mean AUROC {np.mean([r['auroc'] for r in rs]):.3f}, "
                     f"mean AUPRC {np.mean([r['auprc'] for r in rs]):.3f}, "
                     f"mean train {np.mean([r['train_seconds'] for r in rs]):.0f} s/class")
    return "\n".join(lines)


OURS_COLUMNS = (("ganomaly", "quick"), ("knn", "quick"))


def table(path: Path, seed: int = 0) -> str:
    """Markdown: test AUROC per left-out class of omasgan's ganomaly / knn (quick) beside every
    peer row in `path` (seed `seed`), then the ten-class mean and the mean train seconds per class."""
    rows = [r for r in (json.loads(path.read_text()) if path.is_file() else [])
            if r["dataset"] == "mnist" and r.get("split", "test") == "test" and r["seed"] == seed]
    cols = [k for k in OURS_COLUMNS if any((r["model"], r["preset"]) == k for r in rows)]
    cols += sorted({(r["model"], r["preset"]) for r in rows if r["model"].startswith(("anomalib-", "pyod-"))})
    cell = {(r["model"], r["preset"], r["abnormal_class"]): r for r in rows}
    lines = ["| left-out class | " + " | ".join(f"{m} ({p})" for m, p in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for c in range(10):
        lines.append(f"| {c} | " + " | ".join(f"{cell[(m, p, c)]['auroc']:.3f}" if (m, p, c) in cell else "–"
                                               for m, p in cols) + " |")
    means, secs = [], []
    for m, p in cols:
        got = [cell[(m, p, c)] for c in range(10) if (m, p, c) in cell]
        full = len(got) == 10
        means.append((f"**{np.mean([r['auroc'] for r in got]):.3f}**" if full else
                      f"{np.mean([r['auroc'] for r in got]):.3f} ({len(got)} classes)") if got else "–")
        secs.append(f"{np.mean([r['train_seconds'] for r in got]):.0f}" if got else "–")
    lines.append("| **mean AUROC** | " + " | ".join(means) + " |")
    lines.append("| train s / class | " + " | ".join(secs) + " |")
    return "\n".join(lines) + "\n"


def versions() -> str:
    import importlib.metadata as md

    out = [f"python {platform.python_version()}", f"torch {torch.__version__}"]
    for name in ("anomalib", "pyod", "scikit-learn", "numpy"):
        try:
            out.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", default="default",
                    help="'default', 'all', or a comma list of models (e.g. pyod-knn) or model:preset ids")
    ap.add_argument("--classes", default="all", help="'all' or a comma list of left-out digits, e.g. 0,3")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-root", default=None,
                    help="torchvision-layout data folder (default: $OMASGAN_DATA if set, else ~/.cache/omasgan/data)")
    ap.add_argument("--results", default=str(DEFAULT_RESULTS), help="JSON list the rows are merged into")
    ap.add_argument("--no-write", action="store_true", help="measure and log only (smoke tests)")
    ap.add_argument("--dev", action="store_true",
                    help="development protocol (make_split(dev=True): the test split is never read); rows say split 'dev'")
    ap.add_argument("--max-classes-seconds", type=float, default=None,
                    help="stop a peer before starting a class once it has used this many seconds")
    ap.add_argument("--log-dir", default=str(DEFAULT_LOG_DIR))
    ap.add_argument("--threads", type=int, default=1,
                    help="CPU threads for torch, BLAS and KNN (default 1: fastest on a busy shared machine)")
    ap.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    ap.add_argument("--table", action="store_true", help="print the markdown table of --results, then exit")
    ap.add_argument("--list", action="store_true", help="list the peers and their budgets, then exit")
    args = ap.parse_args(argv)
    peers_all = make_peers(progress=not args.no_progress)

    if args.list:
        for p in peers_all:
            print(f"{p.id}{'' if p.default else '  (not in the default selection)'}\n    {p.budget}")
        return 0
    if args.table:
        print(table(Path(args.results), args.seed), end="")
        return 0
    chosen, classes = select(peers_all, args.peers), parse_classes(args.classes)
    torch.set_num_threads(args.threads)
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S",
                        handlers=[logging.StreamHandler(sys.stdout),
                                  logging.FileHandler(log_dir / "run_peers.log")])
    say = log.info
    say(f"peers: {', '.join(p.id for p in chosen)}; classes {classes}; seed {args.seed}; {versions()}; "
        f"torch threads {torch.get_num_threads()}")

    from tqdm import tqdm

    from omasgan.data import make_split
    from omasgan.evaluation import metrics

    root = Path(args.data_root) if args.data_root else default_data_root()
    split_name = "dev" if args.dev else "test"
    splits = {}
    all_rows = []
    for peer in chosen:
        say(f"== {peer.id}: {peer.budget}")
        used = 0.0
        for c in tqdm(classes, desc=peer.id, disable=args.no_progress, mininterval=5):
            if args.max_classes_seconds is not None and used > args.max_classes_seconds:
                say(f"   class {c}: skipped ({used:.0f} s used > --max-classes-seconds)")
                continue
            if c not in splits:
                splits = {c: make_split("mnist", c, root=root, protocol="loo", seed=args.seed, download=False,
                                        dev=args.dev)}
            split = splits[c]
            say(f"   class {c}: {split.describe()}")
            started = time.perf_counter()
            scores, train_seconds = peer.run(split, args.seed, say)
            wall = time.perf_counter() - started
            used += wall
            if not np.all(np.isfinite(scores)):
                say(f"   class {c}: {int((~np.isfinite(scores)).sum())} non-finite scores; row not written")
                continue
            row = {"dataset": "mnist", "split": split_name, "model": peer.model, "preset": peer.preset,
                   "abnormal_class": c, "seed": args.seed, **metrics(split.test_y.numpy(), scores),
                   "train_seconds": round(train_seconds, 1)}
            all_rows.append(row)
            say(f"   class {c}: AUROC {row['auroc']:.3f}  AUPRC {row['auprc']:.3f}  train {train_seconds:.1f} s  "
                f"total (train + score) {wall:.1f} s")
            if not args.no_write:
                merge_rows(Path(args.results), [row])
        say(summary([r for r in all_rows if (r["model"], r["preset"]) == (peer.model, peer.preset)]) or "(no rows)")
    say("done.\n" + summary(all_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
