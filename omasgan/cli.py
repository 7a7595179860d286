"""The `omasgan` command line: train, score, loo, compare, demo, settings, export, doctor.

    omasgan train --dataset mnist --data-root DIR --abnormal-class 0 --preset quick --out runs/m0
    omasgan train --input my_images/ --model omasgan --out runs/mine        (your own normal data)
    omasgan score --model-path runs/mine/model.pt --input new_images/ --out scores.csv
    omasgan score --model-path runs/m0/model.pt --dataset mnist --data-root DIR --abnormal-class 0
    omasgan loo   --dataset mnist --data-root DIR --abnormal-class all --model omasgan --preset quick --out DIR
    omasgan compare --dataset mnist --data-root DIR --models omasgan,ganomaly,anogan,knn --abnormal-class all --out DIR
    omasgan demo  [--out demo]
    omasgan settings [--model omasgan] [--preset quick]
    omasgan export --model-path runs/m0/model.pt --out model.onnx
    omasgan doctor                            (versions, backends, CPU features; builds the kernels if needed)
    torchrun --nproc-per-node K -m omasgan score ...   (sharded bank; see README "Scaling out")

`--data-root` (MNIST, Fashion-MNIST, CIFAR-10 in torchvision's layout) defaults to $OMASGAN_DATA if
set, else ~/.cache/omasgan/data; torchvision downloads missing files there when online.

Commands live in `COMMANDS` (name -> (add_arguments, run, help)). Model settings, lowest priority
first: the preset, `--config FILE` (YAML or JSON), `--set key=value` (repeatable), e.g.
`--set lambda_d=2 --set epochs=[4,2,2,2]`. The parser imports nothing heavy: each command imports
what it needs when it runs.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import sys
from pathlib import Path
from typing import Callable

from omasgan.models import registry

# The built-in datasets and protocols (checked against omasgan.data by a test; spelled out here so
# `omasgan --help` does not import torch). The models and presets come from the registry, which
# imports no model either.
DATASETS = ("mnist", "fashion_mnist", "cifar10", "digits", "shapes", "synthetic")
PROTOCOLS = ("loo", "one_class")


# --data-root's default: $OMASGAN_DATA if set, else a folder in the user's cache (torchvision
# downloads the datasets there when online; offline, put the official files there in its layout).
DATA_ENV = "OMASGAN_DATA"
DEFAULT_DATA_ROOT = "~/.cache/omasgan/data"


def default_data_root() -> str:
    """$OMASGAN_DATA if set (and not empty), else ~/.cache/omasgan/data; `~` expanded."""
    return os.path.expanduser(os.environ.get(DATA_ENV) or DEFAULT_DATA_ROOT)


class CommandError(ValueError):
    """A bad command line: printed as one line, exit status 2."""


# ------------------------------------------------------------------------------------ helpers
def parse_settings(pairs: list[str] | None) -> dict:
    """["k=v", ...] -> {k: literal(v)}; values that are not Python literals stay strings."""
    settings = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"--set expects key=value, got {pair!r}")
        try:
            settings[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            settings[key.strip()] = value
    return settings


def read_config(path: str | None) -> dict:
    """--config FILE: a mapping of model settings, optionally with "model" and "preset" (YAML or JSON)."""
    if path is None:
        return {}
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"--config {file} does not exist")
    text = file.read_text()
    try:
        if file.suffix.lower() in (".yaml", ".yml"):
            import yaml

            loaded = yaml.safe_load(text)
        else:
            loaded = json.loads(text)
    except Exception as err:  # yaml and json raise their own error types
        raise CommandError(f"--config {file} is not valid {'YAML' if file.suffix.lower() in ('.yaml', '.yml') else 'JSON'}: "
                           f"{str(err).splitlines()[0]}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise CommandError(f"--config {file} must hold a mapping of settings, got a {type(loaded).__name__}")
    return loaded


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, metavar="FILE", help="model settings from a YAML or JSON file")
    p.add_argument("--set", dest="settings", action="append", metavar="KEY=VALUE",
                   help="override a model setting (after the preset and --config)")


def _add_data_args(p: argparse.ArgumentParser, classes_help: str, required: bool = True) -> None:
    p.add_argument("--dataset", required=required, default=None, choices=DATASETS)
    p.add_argument("--data-root", default=default_data_root(), metavar="DIR",
                   help=f"data folder in torchvision's layout for MNIST, Fashion-MNIST and CIFAR-10 (e.g. "
                        f"DIR/MNIST/raw/train-images-idx3-ubyte.gz; missing files are downloaded there when online). "
                        f"Default: ${DATA_ENV} if set, else {DEFAULT_DATA_ROOT} (now: %(default)s)")
    p.add_argument("--abnormal-class", default=None, help=classes_help)
    p.add_argument("--protocol", default="loo", choices=PROTOCOLS)
    p.add_argument("--no-download", action="store_true", help="never try to download missing data")


def _add_model_args(p: argparse.ArgumentParser, models: bool = False) -> None:
    if models:
        p.add_argument("--models", default=",".join(registry.names()), help="comma list of registered models")
    else:
        p.add_argument("--model", default=None, choices=registry.names(),
                       help=f"default: {registry.DEFAULT_MODEL} (or the --config file's)")
    p.add_argument("--preset", default=None, choices=registry.preset_names(),
                   help=f"default: {registry.DEFAULT_PRESET} (or the --config file's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    _add_config_args(p)
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoints")
    p.add_argument("--overwrite", action="store_true", help="replace the run --out holds")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _model_choice(args) -> tuple[str, str, dict]:
    """(model, preset, settings): --model/--preset over the --config file's, --set over its settings."""
    config = read_config(args.config)
    file_model, file_preset = config.pop("model", None), config.pop("preset", None)
    model = getattr(args, "model", None) or file_model or registry.DEFAULT_MODEL
    preset = args.preset or file_preset or registry.DEFAULT_PRESET
    if model not in registry.names():
        raise CommandError(f"model in --config must be one of {', '.join(registry.names())}; got {model!r}")
    if preset not in registry.preset_names():
        raise CommandError(f"preset in --config must be one of {', '.join(registry.preset_names())}; got {preset!r}")
    return model, preset, {**config, **parse_settings(args.settings)}


def _runtime(args) -> dict:
    return {"device": args.device, "progress": not args.no_progress}


def _check_out_folder(out: str) -> None:
    """--out must be a folder (refused before any training when it names a file)."""
    if Path(out).exists() and not Path(out).is_dir():
        raise CommandError(f"--out {out} is a file; give a folder for the run")


def _split(args, seed: int):
    from omasgan import data

    if args.dataset == "synthetic":
        target = None
    elif args.abnormal_class is None:
        raise CommandError(f"--abnormal-class is required for {args.dataset}")
    else:
        try:
            target = int(args.abnormal_class)
        except ValueError:
            raise CommandError(f"--abnormal-class must be a class number here, got {args.abnormal_class!r}") from None
    return data.make_split(args.dataset, target, root=args.data_root, protocol=args.protocol,
                           seed=seed, download=not args.no_download)


# ----------------------------------------------------------------------------------- commands
def add_train(p):
    _add_data_args(p, "the left-out class (loo) or the normal class (one_class)", required=False)
    p.add_argument("--input", default=None, metavar="PATH",
                   help="train on your own normal data: a folder of images, a .npy/.pt array or a CSV of features")
    p.add_argument("--image-size", type=int, default=32, help="--input images are resized to this square size")
    p.add_argument("--channels", default="auto", choices=("auto", "1", "3"), help="--input images: grey (1) or RGB (3)")
    _add_model_args(p)
    p.add_argument("--out", required=True, help="run folder: checkpoint.pt, metrics.jsonl, settings.json, figures, model.pt")


def run_train(args) -> int:
    from omasgan import evaluation

    if (args.input is None) == (args.dataset is None):
        raise CommandError("give exactly one of --dataset NAME or --input PATH")
    _check_out_folder(args.out)
    model, preset, settings = _model_choice(args)
    runtime = {**_runtime(args), "resume": args.resume, "overwrite": args.overwrite}
    if args.input is not None:
        from omasgan.inputs import read_input

        channels = args.channels if args.channels == "auto" else int(args.channels)
        inputs = read_input(args.input, image_size=args.image_size, channels=channels)
        print(f"{len(inputs.x)} samples of shape {tuple(inputs.x.shape[1:])} from {inputs.source}")
        det = evaluation.train_on(inputs, model, preset, args.seed, args.out, {**settings, **runtime})
        flagged = det.predict(inputs.x).mean()
        print(f"trained in {det.train_seconds_:.0f} s; threshold {det.threshold_:.4g} (contamination "
              f"{det.config.contamination}); {100 * flagged:.1f}% of the training samples score above it")
    else:
        split = _split(args, args.seed)
        print(split.describe())
        result = evaluation.evaluate_split(split, model, preset, args.seed, args.out, {**settings, **runtime})
        det = result.detector
        print(f"trained in {result.row['train_seconds']:.0f} s; threshold {det.threshold_:.4g}; "
              f"test AUROC {result.row['auroc']:.3f}, AUPRC {result.row['auprc']:.3f}")
    print(f"model saved to {Path(args.out) / 'model.pt'}; settings in {Path(args.out) / 'settings.json'}")
    return 0


def add_score(p):
    p.add_argument("--model-path", required=True, help="a model.pt written by `omasgan train` or `save`")
    p.add_argument("--input", default=None, metavar="PATH",
                   help="a folder of images, a .npy/.pt array [N, ...] or a CSV of features to score")
    _add_data_args(p, "the left-out class (loo) or the normal class (one_class)", required=False)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None,
                   help="write the scores here: .npy (the scores), else CSV with columns id,score,is_anomaly")
    p.add_argument("--bank-size", type=int, default=None, metavar="Q",
                   help="redraw the score bank with Q samples of G' (omasgan); under torchrun each rank draws a shard")
    p.add_argument("--bank-dir", default=None,
                   help="folder for a score bank too large for memory (default: a temporary folder, removed after)")


def run_score(args) -> int:
    import contextlib
    import tempfile

    from omasgan.models import load

    if (args.input is None) == (args.dataset is None):
        raise CommandError("give exactly one of --input PATH or --dataset NAME")
    if args.out and Path(args.out).is_dir():
        raise CommandError(f"--out {args.out} is a folder; give a file name (.npy or .csv)")
    if args.bank_size is not None and args.bank_size < 1:
        raise CommandError(f"--bank-size must be >= 1, got {args.bank_size}")
    det = load(args.model_path, device=args.device, progress=False)
    with contextlib.ExitStack() as scratch:  # a temporary bank folder lives until the scores are written
        if args.bank_size is not None:
            if not det.can_draw_score_bank():
                raise CommandError(f"--bank-size applies to models with a score bank to redraw; {det.name!r} has none")
            folder = args.bank_dir or scratch.enter_context(tempfile.TemporaryDirectory(prefix="omasgan-bank-"))
            det.draw_score_bank(args.bank_size, sharded=True, directory=folder, progress=True)
        if args.input is not None:
            from omasgan.inputs import read_input

            inputs = read_input(args.input, preprocessing=det.preprocessing_)
            x, ids, y = inputs.x, inputs.ids, None
        else:
            split = _split(args, det.config.seed)
            x, ids, y = split.test_x, [str(i) for i in range(len(split.test_x))], split.test_y.numpy()
        scores = det.decision_function(x)
    _report_scores(scores, det.threshold_, ids, y, args.out)
    return 0


def _report_scores(scores, threshold: float, ids: list[str], y, out: str | None) -> None:
    """Prints how many are above the threshold (and the AUROC when labels y are known); writes the
    scores to `out` (.npy: the scores; else CSV id,score,is_anomaly) from rank 0."""
    import numpy as np

    from omasgan import distributed
    from omasgan.checkpoint import atomic_write

    flagged = scores > threshold
    print(f"scored {len(scores)} samples: {int(flagged.sum())} above the threshold {threshold:.4g}")
    if y is not None:
        from omasgan.evaluation import metrics

        m = metrics(y, scores)
        print(f"test AUROC {m['auroc']:.3f}, AUPRC {m['auprc']:.3f}")
    if out and distributed.is_main_process():  # under torchrun every rank holds the same scores
        path = Path(out)
        if path.suffix == ".npy":
            atomic_write(path, lambda f: np.save(f, scores))  # np.save(path) would append ".npy" to other names
        else:
            lines = ["id,score,is_anomaly"] + [f"{_csv_field(i)},{s:.9g},{int(a)}" for i, s, a in zip(ids, scores, flagged)]
            atomic_write(path, lambda f: f.write(("\n".join(lines) + "\n").encode()))
        print(f"scores written to {path}")


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def add_loo(p):
    _add_data_args(p, "'all', one class, or a comma list such as 0,3")
    _add_model_args(p)
    p.add_argument("--out", required=True, help="folder for results.json, results.md, roc.png, histograms.png")
    p.add_argument("--val-fraction", type=float, default=0.05)
    p.add_argument("--dev", action="store_true",
                   help="development protocol for tuning: test on a held-out 10%% of the training split, never the test split")


def run_loo(args) -> int:
    from omasgan.evaluation import parse_classes, results_table, run_loo as loo

    _check_out_folder(args.out)
    model, preset, settings = _model_choice(args)
    classes = parse_classes(args.abnormal_class or "all", args.dataset)
    rows = loo(args.dataset, classes, model=model, preset=preset, out=args.out, root=args.data_root,
               seed=args.seed, protocol=args.protocol, val_fraction=args.val_fraction,
               overrides={**settings, **_runtime(args), "overwrite": args.overwrite},
               download=not args.no_download, resume=args.resume, dev=args.dev)
    print(results_table(rows, args.protocol))
    print(f"results: {Path(args.out) / 'results.json'}, {Path(args.out) / 'results.md'}, "
          f"{Path(args.out) / 'roc.png'}, {Path(args.out) / 'histograms.png'}")
    return 0


def add_compare(p):
    _add_data_args(p, "'all', one class, or a comma list such as 0,3")
    _add_model_args(p, models=True)
    p.add_argument("--val-fraction", type=float, default=0.05)
    p.add_argument("--out", required=True, help="folder for results.json, compare.md, compare.png and <model>/ runs")
    p.add_argument("--from-results", action="append", metavar="FILE",
                   help="tabulate the rows of this results.json instead of training (repeatable)")
    p.add_argument("--merge-into", metavar="FILE", help="also add the rows to this shared results list")


def run_compare(args) -> int:
    from omasgan import compare

    _check_out_folder(args.out)
    _, preset, settings = _model_choice(args)
    for path in args.from_results or []:
        if not Path(path).is_file():
            raise CommandError(f"--from-results {path} does not exist")
    table = compare.compare(
        args.dataset, compare.parse_models(args.models), args.abnormal_class or "all", out=args.out, preset=preset,
        seed=args.seed, protocol=args.protocol, root=args.data_root, val_fraction=args.val_fraction,
        overrides={**settings, **_runtime(args), "overwrite": args.overwrite}, download=not args.no_download,
        resume=args.resume, from_results=args.from_results, merge_into=args.merge_into)
    print(table)
    print(f"written: {Path(args.out) / 'compare.md'}, {Path(args.out) / 'compare.png'}, {Path(args.out) / 'results.json'}")
    return 0


def add_demo(p):
    p.add_argument("--out", default="demo", help="folder for the demo's figures and tables (rewritten each run)")
    p.add_argument("--digits-class", default="all", help="the digits left out in the digits runs: 'all', one, or a list like 0,7")
    p.add_argument("--set", dest="settings", action="append", metavar="KEY=VALUE", help="override a model setting")


def run_demo(args) -> int:
    from omasgan.demo import run
    from omasgan.evaluation import parse_classes

    _check_out_folder(args.out)
    # The demo's networks are tiny MLPs: one thread is as fast and suffers no contention.
    run(args.out, digits_classes=parse_classes(args.digits_class, "digits"), threads=args.threads or 1,
        overrides=parse_settings(args.settings))
    return 0


def add_settings(p):
    p.add_argument("--model", default=None, choices=registry.names(), help="only this model (default: all)")
    p.add_argument("--preset", default=None, choices=registry.preset_names(), help="also show this preset's values")
    p.add_argument("--shape", default="1,32,32", help="sample shape the preset is for, e.g. 1,32,32 or 2")


def run_settings(args) -> int:
    from omasgan.models import MODELS
    from omasgan.settings import describe

    try:
        shape = tuple(int(s) for s in args.shape.split(","))
    except ValueError:
        raise CommandError(f"--shape must be a comma list of ints such as 1,32,32; got {args.shape!r}") from None
    for name in [args.model] if args.model else sorted(MODELS):
        print(describe(MODELS[name], preset=args.preset, input_shape=shape))
    return 0


def add_export(p):
    p.add_argument("--model-path", required=True, help="a model.pt written by `omasgan train` or `save`")
    p.add_argument("--out", required=True, help="the ONNX file to write, e.g. model.onnx")
    p.add_argument("--check", action="store_true", help="compare onnxruntime's scores with decision_function")


def run_export(args) -> int:
    from omasgan.export import check_onnx, export_onnx
    from omasgan.models import load

    if Path(args.out).is_dir():
        raise CommandError(f"--out {args.out} is a folder; give a file name such as model.onnx")
    det = load(args.model_path, device="cpu", progress=False)
    path = export_onnx(det, args.out)
    print(f"{det.name} exported to {path}: input 'x' [N, {', '.join(map(str, det.input_shape_))}] float32 "
          "-> output 'score' [N] (decision_function: higher = more abnormal)")
    if args.check:
        print(f"onnxruntime vs decision_function: max relative difference {check_onnx(det, path):.2e}")
    return 0


def add_doctor(p):
    pass


def run_doctor(args) -> int:
    from omasgan.doctor import report

    text, kernels_usable = report()
    print(text)
    return 0 if kernels_usable else 1


COMMANDS: dict[str, tuple[Callable, Callable, str]] = {  # name -> (add_arguments, run, help)
    "train": (add_train, run_train, "train one model on a built-in split or your own data; save model.pt"),
    "score": (add_score, run_score, "score images, an array, a CSV or a test split with a saved model"),
    "loo": (add_loo, run_loo, "leave-one-out (or one-class) evaluation over classes"),
    "demo": (add_demo, run_demo, "embedded-data demo: 2-D boundary figure, digits LOO beside the nearest neighbour"),
    "compare": (add_compare, run_compare, "several models on the same LOO splits: one AUROC table and one bar plot"),
    "settings": (add_settings, run_settings, "list the models, their presets and every setting with its default"),
    "export": (add_export, run_export, "export a saved model's decision_function to ONNX"),
    "doctor": (add_doctor, run_doctor, "build the kernels if needed; print versions, backends, CPU features and "
               "where omasgan._C came from (exit 1 without the CPU kernels)"),
}


def _version() -> str:
    from omasgan import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omasgan", description="GAN-based anomaly detection (OMASGAN and baselines)")
    parser.add_argument("--version", action="version", version=f"omasgan {_version()}")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (add, _, help_text) in COMMANDS.items():
        add(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.exit(2, f"omasgan: error: --threads must be >= 1, got {args.threads}\n")
    from omasgan import distributed

    if distributed.init_from_env() and not distributed.is_main_process():  # torchrun: rank 0 reports
        sys.stdout = open(os.devnull, "w")
    completed = False
    try:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        status = COMMANDS[args.command][1](args)
        completed = True
        return status
    except KeyboardInterrupt:
        parser.exit(130, f"omasgan {args.command}: interrupted; a run resumes from its last checkpoint with --resume\n")
    except Exception as err:  # one line, never a traceback (OMASGAN_TRACEBACK=1 shows it)
        if os.environ.get("OMASGAN_TRACEBACK") == "1":
            raise
        expected = isinstance(err, (ValueError, TypeError, OSError, RuntimeError))
        kind = "" if expected else f"{type(err).__name__}: "
        message = " ".join(str(err).split()) or type(err).__name__
        parser.exit(2 if expected else 1, f"omasgan {args.command}: error: {kind}{message}\n")
    finally:
        distributed.shutdown(completed)


if __name__ == "__main__":
    sys.exit(main())
