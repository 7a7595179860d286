"""The `omasgan` command line: train, score, loo, compare, demo.

    omasgan train --dataset mnist --data-root DIR --abnormal-class 0 --preset quick --out runs/m0
    omasgan score --model-path runs/m0/model.pt --dataset mnist --data-root DIR --abnormal-class 0
    omasgan score --model-path runs/m0/model.pt --input samples.npy --out scores.npy
    omasgan loo   --dataset mnist --data-root DIR --abnormal-class all --model omasgan --preset quick --out DIR
    omasgan compare --dataset mnist --data-root DIR --models omasgan,ganomaly,anogan,knn --abnormal-class all --out DIR
    omasgan demo  [--out demo]
    torchrun --nproc-per-node K -m omasgan score ...   (sharded bank; see README "Scaling out")

Commands live in `COMMANDS` (name -> (add_arguments, run)); other modules may register more.
Model settings beyond the preset: `--set key=value` (repeatable), e.g. `--set lambda_d=2 --set epochs=[4,2,2,2]`.
"""
from __future__ import annotations

import argparse
import ast
import os
import sys
from pathlib import Path
from typing import Callable

from omasgan import data
from omasgan.compare import add_compare, run_compare

# Every model has "quick" (the default, for a CPU) and "paper"; OMASGAN also has "quick-paper" and "large".
PRESETS = ("quick", "quick-paper", "paper", "large")


# ------------------------------------------------------------------------------------ helpers
def parse_settings(pairs: list[str] | None) -> dict:
    """["k=v", ...] -> {k: literal(v)}; values that are not Python literals stay strings."""
    settings = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        try:
            settings[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            settings[key.strip()] = value
    return settings


def _add_data_args(p: argparse.ArgumentParser, classes_help: str) -> None:
    p.add_argument("--dataset", required=True, choices=data.DATASETS)
    p.add_argument("--data-root", default=None, help="torchvision data folder (MNIST, Fashion-MNIST, CIFAR-10)")
    p.add_argument("--abnormal-class", default=None, help=classes_help)
    p.add_argument("--protocol", default="loo", choices=data.PROTOCOLS)
    p.add_argument("--no-download", action="store_true", help="never try to download missing data")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    from omasgan.models import MODELS

    p.add_argument("--model", default="omasgan", choices=sorted(MODELS))
    p.add_argument("--preset", default="quick", choices=PRESETS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--set", dest="settings", action="append", metavar="KEY=VALUE", help="override a model setting")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoints in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _split(args) -> data.ADSplit:
    if args.dataset == "synthetic":
        target = None
    elif args.abnormal_class is None:
        raise ValueError(f"--abnormal-class is required for {args.dataset}")
    else:
        try:
            target = int(args.abnormal_class)
        except ValueError:
            raise ValueError(f"--abnormal-class must be a class number here, got {args.abnormal_class!r}") from None
    return data.make_split(args.dataset, target, root=args.data_root, protocol=args.protocol,
                           seed=getattr(args, "seed", 0), download=not args.no_download)


def _overrides(args) -> dict:
    return {**parse_settings(args.settings), "device": args.device, "progress": not args.no_progress}


# ----------------------------------------------------------------------------------- commands
def add_train(p):
    _add_data_args(p, "the left-out class (loo) or the normal class (one_class)")
    _add_model_args(p)
    p.add_argument("--out", required=True, help="run folder: checkpoint.pt, metrics.jsonl, figures, model.pt")


def run_train(args) -> int:
    from omasgan.evaluation import evaluate_split

    split = _split(args)
    print(split.describe())
    row, _, det = evaluate_split(split, args.model, args.preset, args.seed, args.out,
                                 {**_overrides(args), "resume": args.resume})
    print(f"trained in {row['train_seconds']:.0f} s; validation threshold {det.threshold_:.4g}; "
          f"test AUROC {row['auroc']:.3f}, AUPRC {row['auprc']:.3f}")
    print(f"model saved to {Path(args.out) / 'model.pt'}")
    return 0


def add_score(p):
    p.add_argument("--model-path", required=True, help="a model.pt written by `omasgan train` or `save`")
    p.add_argument("--input", default=None, help=".npy or .pt array [N, ...] to score (instead of --dataset)")
    p.add_argument("--dataset", default=None, choices=data.DATASETS, help="score this dataset's test split")
    p.add_argument("--data-root", default=None)
    p.add_argument("--abnormal-class", default=None)
    p.add_argument("--protocol", default="loo", choices=data.PROTOCOLS)
    p.add_argument("--no-download", action="store_true")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None, help="write the scores here (.npy; .csv for text)")
    p.add_argument("--bank-size", type=int, default=None, metavar="Q",
                   help="redraw the score bank with Q samples of G' (omasgan); under torchrun each rank draws a shard")
    p.add_argument("--bank-dir", default=None,
                   help="folder for a score bank too large for memory (default: a temporary folder, removed after)")


def _load_array(path: str):
    import numpy as np
    import torch

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--input {path} does not exist")
    if path.suffix == ".npy":
        return np.load(path)
    if path.suffix == ".pt":
        return torch.load(path, map_location="cpu", weights_only=True)
    raise ValueError(f"--input must be a .npy or .pt file, got {path.name}")


def run_score(args) -> int:
    import numpy as np

    from omasgan import distributed
    from omasgan.evaluation import metrics
    from omasgan.models.base import Detector

    if (args.input is None) == (args.dataset is None):
        raise ValueError("give exactly one of --input FILE or --dataset NAME")
    det = Detector.load(args.model_path, device=args.device, progress=False)
    if args.bank_size is not None:
        _redraw_score_bank(det, args.bank_size, args.bank_dir)
    if args.input is not None:
        x, y = _load_array(args.input), None
    else:
        args.seed = det.config.seed
        split = _split(args)
        x, y = split.test_x, split.test_y.numpy()
    scores = det.score_samples(x)
    flagged = int((scores > det.threshold_).sum())
    print(f"scored {len(scores)} samples: {flagged} above the validation threshold {det.threshold_:.4g}")
    if y is not None:
        m = metrics(y, scores)
        print(f"test AUROC {m['auroc']:.3f}, AUPRC {m['auprc']:.3f}")
    if args.out and distributed.is_main_process():  # under torchrun every rank holds the same scores
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".npy":
            with open(out, "wb") as f:  # np.save(path) would append ".npy" to any other name
                np.save(f, scores)
        else:  # CSV: the row index, the score and the validation threshold's verdict
            table = np.column_stack([np.arange(len(scores)), scores, scores > det.threshold_])
            np.savetxt(out, table, delimiter=",", header="id,score,is_anomaly", comments="", fmt=["%d", "%.9g", "%d"])
        print(f"scores written to {out}")
    return 0


def _redraw_score_bank(det, size: int, bank_dir: str | None) -> None:
    """`score --bank-size`: Q samples of G' in batches, to disk when they do not fit (omasgan.bank)."""
    import tempfile

    if not hasattr(det, "draw_score_bank"):
        raise ValueError(f"--bank-size applies to models with a score bank (omasgan), not {det.name!r}")
    with tempfile.TemporaryDirectory(prefix="omasgan-bank-") as scratch:
        det.draw_score_bank(size, sharded=True, directory=bank_dir or scratch, progress=True)
        if isinstance(det.score_bank, str) and bank_dir is None:
            # the temporary folder goes when this returns: keep the file open through a memmap
            import numpy as np

            det.score_bank = np.load(det.score_bank, mmap_mode="r")


def add_loo(p):
    _add_data_args(p, "'all', one class, or a comma list such as 0,3")
    _add_model_args(p)
    p.add_argument("--out", required=True, help="folder for results.json, results.md, roc.png, histograms.png")
    p.add_argument("--val-fraction", type=float, default=0.05)
    p.add_argument("--dev", action="store_true",
                   help="development protocol for tuning: test on a held-out 10%% of the training split, never the test split")


def run_loo(args) -> int:
    from omasgan.evaluation import parse_classes, results_table, run_loo as loo

    classes = parse_classes(args.abnormal_class or "all", args.dataset)
    rows = loo(args.dataset, classes, model=args.model, preset=args.preset, out=args.out, root=args.data_root,
               seed=args.seed, protocol=args.protocol, val_fraction=args.val_fraction,
               overrides=_overrides(args), download=not args.no_download, resume=args.resume, dev=args.dev)
    print(results_table(rows, args.protocol))
    print(f"results: {Path(args.out) / 'results.json'}, {Path(args.out) / 'results.md'}, "
          f"{Path(args.out) / 'roc.png'}, {Path(args.out) / 'histograms.png'}")
    return 0


def add_demo(p):
    p.add_argument("--out", default="demo", help="folder for the demo's figures and tables")
    p.add_argument("--digits-class", default="all", help="the digits left out in the digits runs: 'all', one, or a list like 0,7")
    p.add_argument("--set", dest="settings", action="append", metavar="KEY=VALUE", help="override a model setting")


def run_demo(args) -> int:
    from omasgan.demo import run
    from omasgan.evaluation import parse_classes

    # The demo's networks are tiny MLPs: one thread is as fast and suffers no contention.
    run(args.out, digits_classes=parse_classes(args.digits_class, "digits"), threads=args.threads or 1,
        overrides=parse_settings(args.settings))
    return 0


COMMANDS: dict[str, tuple[Callable, Callable, str]] = {
    "train": (add_train, run_train, "train one model on one split, report test AUROC, save model.pt"),
    "score": (add_score, run_score, "score samples or a test split with a saved model"),
    "loo": (add_loo, run_loo, "leave-one-out (or one-class) evaluation over classes"),
    "demo": (add_demo, run_demo, "embedded-data demo: 2-D boundary figure, digits LOO beside the nearest neighbour"),
    "compare": (add_compare, run_compare, "several models on the same LOO splits: one AUROC table and one bar plot"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omasgan", description="GAN-based anomaly detection (OMASGAN and baselines)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (add, _, help_text) in COMMANDS.items():
        add(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from omasgan import distributed

    if distributed.init_from_env() and not distributed.is_main_process():  # torchrun: rank 0 reports
        sys.stdout = open(os.devnull, "w")
    from omasgan.engine import CheckpointError

    completed = False
    try:
        if getattr(args, "threads", None):
            import torch

            torch.set_num_threads(args.threads)
        status = COMMANDS[args.command][1](args)
        completed = True
        return status
    except (ValueError, TypeError, FileNotFoundError, CheckpointError) as err:
        parser.exit(2, f"omasgan {args.command}: error: {err}\n")
    finally:
        distributed.shutdown(completed)


if __name__ == "__main__":
    sys.exit(main())
