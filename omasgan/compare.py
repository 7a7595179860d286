"""`omasgan compare`: several models on the same leave-one-out splits, one table and one bar plot.

    omasgan compare --dataset mnist --data-root DIR --models omasgan,ganomaly,anogan,knn \
        --abnormal-class all --preset quick --out runs/compare

runs `omasgan loo` for each model into `out/<model>/` (same splits, same seed; `--resume` reuses
finished classes and checkpoints) and writes, in `out`:
    results.json  every model's rows (the `loo` rows: dataset, model, abnormal_class, seed, auroc, ...)
    compare.md    AUROC per left-out class (rows) and model (columns), last row the mean
    compare.png   the same as grouped bars
`--from-results FILE` (repeatable) tabulates rows already measured instead of training;
`--merge-into FILE` adds the rows to a shared results list (rows of the same dataset, model,
class and seed are replaced, every other row is kept).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from omasgan import distributed, plots
from omasgan.evaluation import (
    MNIST_LOO_KNN_ANCHOR, RESULT_KEYS, parse_classes, read_results, run_loo, write_text,
)

ROW_KEY = ("dataset", "split", "model", "preset", "abnormal_class", "seed")


def parse_models(spec: str) -> list[str]:
    """"omasgan,knn" -> ["omasgan", "knn"], each checked against the registry."""
    from omasgan.models import MODELS

    models = [m.strip() for m in spec.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if not models or unknown:
        raise ValueError(f"--models must be a comma list of {', '.join(sorted(MODELS))}; got {spec!r}")
    return list(dict.fromkeys(models))


def auroc_grid(rows: Iterable[dict], models: Sequence[str], classes: Sequence[int]) -> np.ndarray:
    """[len(classes), len(models)] AUROC, averaged over seeds; NaN where a pair has no row."""
    grid = np.full((len(classes), len(models)), np.nan)
    for i, c in enumerate(classes):
        for j, m in enumerate(models):
            found = [r["auroc"] for r in rows if r["model"] == m and r["abnormal_class"] == c]
            if found:
                grid[i, j] = np.mean(found)
    return grid


def comparison_table(rows: list[dict], models: Sequence[str], classes: Sequence[int], protocol: str = "loo") -> str:
    """Markdown: AUROC per left-out class (rows) and model (columns), last row the mean over classes.

    For MNIST leave-one-out a last column gives the pixel nearest-neighbour anchor (docs/method.md
    in the repository, section 4).
    """
    grid = auroc_grid(rows, models, classes)
    anchor = protocol == "loo" and bool(rows) and all(r["dataset"] == "mnist" for r in rows)
    cell = lambda v: "–" if np.isnan(v) else f"{v:.3f}"  # noqa: E731
    head = ["left-out class" if protocol == "loo" else "normal class", *models] + (["anchor (pixel kNN)"] if anchor else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c, values in zip(classes, grid):
        extra = [f"{MNIST_LOO_KNN_ANCHOR[c]:.3f}"] if anchor else []
        lines.append("| " + " | ".join([str(c), *map(cell, values), *extra]) + " |")
    means = [f"**{cell(np.mean(col))}**" for col in grid.T]  # NaN (shown "–") unless every class ran
    extra = [f"{np.mean([MNIST_LOO_KNN_ANCHOR[c] for c in classes]):.3f}"] if anchor else []
    lines.append("| " + " | ".join(["**mean**", *means, *extra]) + " |")
    return "\n".join(lines) + "\n"


def merge_results(path: str | Path, rows: list[dict]) -> list[dict]:
    """Adds `rows` to the JSON list at `path` (created if missing): a row with the same dataset,
    model, class and seed replaces the old one, every other row is kept. Returns the list written."""
    path = Path(path)
    key = lambda r: tuple(r.get(k) for k in ROW_KEY)  # noqa: E731
    new = {key(r): {k: r.get(k) for k in RESULT_KEYS} for r in rows}
    merged = [r for r in read_results(path) if key(r) not in new] + list(new.values())
    write_text(path, json.dumps(merged, indent=1) + "\n")
    return merged


def compare(dataset: str, models: Sequence[str], classes: str | Sequence[int] = "all", *, out: str | Path,
            preset: str = "quick", seed: int = 0, protocol: str = "loo", root=None, val_fraction: float = 0.05,
            overrides: dict | None = None, download: bool = True, resume: bool = False,
            from_results: Sequence[str | Path] | None = None, merge_into: str | Path | None = None) -> str:
    """Runs `run_loo` for each model into out/<model>/ (or, with `from_results`, tabulates rows
    already measured), writes out/results.json, compare.md and compare.png, and returns the table."""
    classes = parse_classes(classes, dataset) if isinstance(classes, str) else list(classes)
    out = Path(out)
    if from_results:
        rows = [r for f in from_results for r in read_results(f)
                if r["dataset"] == dataset and r["model"] in models and r["abnormal_class"] in classes
                and r["seed"] == seed and r.get("preset", "quick") == preset and r.get("split", "test") == "test"]
    else:
        rows = []
        for model in models:
            print(f"== {model}")
            rows += run_loo(dataset, classes, model=model, preset=preset, out=out / model, root=root, seed=seed,
                            protocol=protocol, val_fraction=val_fraction, download=download, resume=resume,
                            overrides=overrides)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "results.json", json.dumps([{k: r.get(k) for k in RESULT_KEYS} for r in rows], indent=1) + "\n")
    table = comparison_table(rows, models, classes, protocol)
    write_text(out / "compare.md", table)
    if distributed.is_main_process():
        plots.auroc_bars(auroc_grid(rows, models, classes), models, classes, out / "compare.png", f"{dataset} {protocol}, preset {preset}: test AUROC")
    if merge_into:
        merge_results(merge_into, rows)
    return table
