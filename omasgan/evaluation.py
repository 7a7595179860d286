"""The evaluation protocol (docs/method.md in the repository, section 4): leave-one-out (or
one-class) runs, metrics from scikit-learn, and the files a run leaves behind.

    run_loo("mnist", [0, 1], model="omasgan", preset="quick", out="runs/x", root="data")  # your data folder

writes, in `out`:
    results.json   list of {"dataset", "split", "model", "preset", "abnormal_class", "seed", "auroc",
                   "auprc", "train_seconds"} (RESULT_KEYS), rewritten after every class (a killed
                   run keeps its classes)
    results.md     per-class table and mean (beside the pixel-kNN anchor for MNIST LOO)
    roc.png        ROC curves of every class;  histograms.png  test-score histograms per class
    class_<c>/     the model (model.pt), its checkpoint, metrics.jsonl and stage figures, and
                   what the model reports beyond its score: score_terms_auroc.json (each score
                   term's AUROC alone, Detector.score_terms) and stages.json (Detector.stage_report)
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from omasgan import data, distributed, plots
from omasgan.checkpoint import atomic_write
from omasgan.models import registry

# Pixel-space nearest neighbour (p = 2) on MNIST LOO (docs/method.md in the repository, section 4).
MNIST_LOO_KNN_ANCHOR = (0.981, 0.433, 0.974, 0.943, 0.841, 0.949, 0.947, 0.782, 0.954, 0.731)
RESULT_KEYS = ("dataset", "split", "model", "preset", "abnormal_class", "seed", "auroc", "auprc", "train_seconds")


def metrics(y_true: np.ndarray, scores: np.ndarray) -> dict:
    """AUROC and AUPRC (average precision) with label 1 = anomaly, higher score = more anomalous."""
    return {"auroc": float(roc_auc_score(y_true, scores)), "auprc": float(average_precision_score(y_true, scores))}


@dataclass
class SplitResult:
    """What `evaluate_split` measured: the results row (RESULT_KEYS), the test scores [Ns], the
    fitted detector, the scoring time, and each score term's AUROC alone (for a detector whose
    score_terms name its parts)."""

    row: dict
    scores: np.ndarray
    detector: object
    score_seconds: float
    term_aurocs: dict = field(default_factory=dict)


def build_detector(model: str, preset: str, input_shape: tuple[int, ...], seed: int, out, overrides: dict | None):
    """The preset's detector for samples of `input_shape`, with seed, out_dir and `overrides`."""
    from omasgan.models import get_model

    settings = {"seed": seed, "out_dir": str(out) if out is not None else None, **(overrides or {})}
    return get_model(model).from_preset(preset, input_shape, **settings)


def save_run(detector, out: str | Path, model: str, preset: str, trained_on: dict, preprocessing: dict) -> None:
    """out/model.pt (with what it was trained on and its preprocessing) and out/settings.json (the
    resolved settings: model, preset and every setting's value)."""
    detector.trained_on_.update(trained_on)
    detector.preprocessing_.update(preprocessing)
    detector.save(Path(out) / "model.pt")
    resolved = {"model": model, "preset": preset, "settings": dataclasses.asdict(detector.config),
                "trained_on": detector.trained_on_, "preprocessing": detector.preprocessing_}
    write_text(Path(out) / "settings.json", json.dumps(resolved, indent=1, default=str) + "\n")


def evaluate_split(split: data.ADSplit, model: str, preset: str, seed: int = 0, out: str | Path | None = None,
                   overrides: dict | None = None, split_name: str = "test") -> SplitResult:
    """Trains `model` on split.train (validation = split.val) and scores split.test_x."""
    from omasgan.checkpoint import RunFolder

    detector = build_detector(model, preset, tuple(split.train.shape[1:]), seed, out, overrides)
    c = detector.config
    # The run starts here: the folder stays locked from training to the last file of the run.
    guard = RunFolder(out, resume=c.resume, overwrite=c.overwrite) if out is not None else contextlib.nullcontext()
    with guard as folder:
        detector.fit(split.train, val_data=split.val, run_folder=folder)
        started = time.perf_counter()
        scores = detector.decision_function(split.test_x)
        score_seconds = time.perf_counter() - started
        if out is not None:
            save_run(detector, out, model, preset,
                     {"dataset": split.dataset, "protocol": split.protocol, "target_class": split.target_class},
                     data.PREPROCESSING.get(split.dataset, {"kind": "array"}))
    row = {
        "dataset": split.dataset, "split": split_name, "model": model, "preset": preset,
        "abnormal_class": split.target_class, "seed": seed,
        **metrics(split.test_y.numpy(), scores), "train_seconds": round(detector.train_seconds_, 1),
    }
    result = SplitResult(row, scores, detector, round(score_seconds, 1))
    if out is None:
        return result
    terms = detector.score_terms(split.test_x)
    if terms:
        # Which part of a composite score ranks the anomalies (diagnostics, not used for selection).
        result.term_aurocs = {name: metrics(split.test_y.numpy(), values)["auroc"]
                              for name, values in terms.items() if np.std(values) > 0}
        write_text(Path(out) / "score_terms_auroc.json", json.dumps(result.term_aurocs, indent=1) + "\n")
    report = detector.stage_report(split.train, split.train_labels)
    if report is not None:
        # Does each stage do its job (e.g. OMASGAN's G coverage, B's spread and distance)? Training data only.
        write_text(Path(out) / "stages.json", json.dumps(report, indent=1) + "\n")
    return result


def train_on(inputs, model: str, preset: str, seed: int, out: str | Path, overrides: dict | None = None):
    """`omasgan train --input`: fits `model` on your own normal data (`omasgan.inputs.Inputs`),
    holding out a `val_fraction` for the threshold; writes model.pt, settings.json and scores.png
    (the validation scores with the threshold) to `out`. Returns the fitted detector."""
    from omasgan.checkpoint import RunFolder

    detector = build_detector(model, preset, tuple(inputs.x.shape[1:]), seed, out, overrides)
    c = detector.config
    with RunFolder(out, resume=c.resume, overwrite=c.overwrite) as folder:  # the run starts here
        detector.fit(inputs.x, run_folder=folder)
        save_run(detector, out, model, preset, {"source": inputs.source, "n_samples": len(inputs.x)}, inputs.preprocessing)
    if distributed.is_main_process():
        plots.score_histogram(np.zeros(len(detector.calibration_scores_), dtype=int), detector.calibration_scores_,
                              Path(out) / "scores.png", detector.threshold_,
                              f"{model}: held-out normal scores and the threshold")
    return detector


def read_results(path: str | Path) -> list[dict]:
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else []


def run_loo(
    dataset: str,
    classes: Sequence[int],
    *,
    model: str = registry.DEFAULT_MODEL,
    preset: str = registry.DEFAULT_PRESET,
    out: str | Path,
    root: str | Path | None = None,
    seed: int = 0,
    protocol: str = "loo",
    val_fraction: float = 0.05,
    overrides: dict | None = None,
    download: bool = True,
    resume: bool = False,
    dev: bool = False,
    log=print,
) -> list[dict]:
    """Runs one class after another and keeps results.json / results.md / figures up to date.

    dev=True runs the development protocol (`data.make_split(dev=True)`: the held-out part of the
    training split stands in for the test split, which is never read); rows say split "dev".

    With `resume`, classes already in out/results.json are skipped and each class's training
    continues from its checkpoint.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [r for r in read_results(out / "results.json") if resume and r["abnormal_class"] in classes]
    done = {r["abnormal_class"] for r in rows}
    for c in classes:
        if c in done:
            log(f"class {c}: already in {out / 'results.json'}, skipped")
            continue
        split = data.make_split(dataset, c, root=root, protocol=protocol, val_fraction=val_fraction,
                                seed=seed, download=download, dev=dev)
        log(f"class {c}: {split.describe()}" + (" [dev protocol: held-out training images]" if dev else ""))
        run_dir = out / f"class_{c}"
        result = evaluate_split(split, model, preset, seed, run_dir, {**(overrides or {}), "resume": resume},
                                split_name="dev" if dev else "test")
        row, scores, det = result.row, result.scores, result.detector
        y = split.test_y.numpy()
        atomic_write(run_dir / "test_scores.npz", lambda f: np.savez_compressed(f, scores=scores, labels=y,
                                                                                  threshold=det.threshold_))
        if distributed.is_main_process():
            plots.score_histogram(y, scores, run_dir / "histogram.png", det.threshold_,
                                  f"{dataset} {protocol} class {c}: {model} (AUROC {row['auroc']:.3f})")
        rows.append(row)
        log(f"class {c}: AUROC {row['auroc']:.3f}  AUPRC {row['auprc']:.3f}  "
            f"train {row['train_seconds']:.0f} s  score {result.score_seconds:.0f} s"
            + "".join(f"  [{name} alone: {auroc:.3f}]" for name, auroc in result.term_aurocs.items()))
        write_results(rows, out, protocol=protocol)
    if distributed.is_main_process():
        write_figures(rows, out, dataset, protocol, model)
    return rows


def write_results(rows: list[dict], out: str | Path, protocol: str = "loo") -> None:
    """out/results.json (the rows, by class) and out/results.md (table + mean)."""
    out = Path(out)
    rows = sorted(rows, key=lambda r: (r["model"], r["abnormal_class"] if r["abnormal_class"] is not None else -1))
    write_text(out / "results.json", json.dumps([{k: r[k] for k in RESULT_KEYS} for r in rows], indent=1) + "\n")
    write_text(out / "results.md", results_table(rows, protocol))


def write_text(path: str | Path, text: str) -> None:
    """Writes a results file atomically, and only from rank 0 under torchrun: a killed or
    multi-rank run never leaves a half-written one."""
    atomic_write(path, lambda f: f.write(text.encode()))


def results_table(rows: list[dict], protocol: str = "loo") -> str:
    """Markdown: one line per class (with the pixel-kNN anchor for MNIST LOO) and the mean."""
    if not rows:
        return "(no results)\n"
    anchor = protocol == "loo" and all(r["dataset"] == "mnist" and r.get("split", "test") == "test" for r in rows)
    head = "| class | AUROC | AUPRC | train s |" + (" pixel kNN AUROC (anchor) |" if anchor else "")
    lines = [f"{rows[0]['dataset']} {protocol} ({rows[0].get('split', 'test')} split), model {rows[0]['model']}, "
             f"preset {rows[0].get('preset', '?')}, seed {rows[0]['seed']}", "", head,
             "|---|---|---|---|" + ("---|" if anchor else "")]
    for r in rows:
        extra = f" {MNIST_LOO_KNN_ANCHOR[r['abnormal_class']]:.3f} |" if anchor else ""
        lines.append(f"| {r['abnormal_class']} | {r['auroc']:.3f} | {r['auprc']:.3f} | {r['train_seconds']:.0f} |{extra}")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("auroc", "auprc", "train_seconds")}
    extra = f" {np.mean([MNIST_LOO_KNN_ANCHOR[r['abnormal_class']] for r in rows]):.3f} |" if anchor else ""
    lines.append(f"| **mean** | **{mean['auroc']:.3f}** | {mean['auprc']:.3f} | {mean['train_seconds']:.0f} |{extra}")
    return "\n".join(lines) + "\n"


def write_figures(rows: list[dict], out: str | Path, dataset: str, protocol: str, model: str) -> None:
    """roc.png and histograms.png from each class's saved test scores."""
    out = Path(out)
    found = {}
    for r in rows:
        path = out / f"class_{r['abnormal_class']}" / "test_scores.npz"
        if path.is_file():
            saved = np.load(path)
            threshold = float(saved["threshold"]) if "threshold" in saved else None
            found[f"class {r['abnormal_class']}"] = (saved["labels"], saved["scores"], threshold)
    if not found:
        return
    plots.roc_curve_plot({k: v[:2] for k, v in found.items()}, out / "roc.png",
                         f"{dataset} {protocol}: {model}, test ROC per class")
    plots.score_histograms(found, out / "histograms.png", f"{dataset} {protocol}: {model}, test scores")


def parse_classes(spec: str, dataset: str) -> list[int]:
    """"all" | "3" | "0,2,5" -> class list, checked against the dataset."""
    n = data.NUM_CLASSES.get(dataset)
    if n is None:
        raise ValueError(f"dataset {dataset!r} has no classes for leave-one-out; use one of {', '.join(data.NUM_CLASSES)}")
    if spec == "all":
        return list(range(n))
    try:
        classes = [int(s) for s in spec.split(",")]
    except ValueError:
        raise ValueError(f"--abnormal-class must be 'all', a class or a comma list like 0,3; got {spec!r}") from None
    bad = [c for c in classes if not 0 <= c < n]
    if bad:
        raise ValueError(f"--abnormal-class for {dataset} must be in 0..{n - 1}; got {bad}")
    return classes
