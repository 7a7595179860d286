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

from omasgan import distributed
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

    For MNIST leave-one-out a last column gives the pixel nearest-neighbour anchor of METHOD.md.
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


def comparison_plot(rows: list[dict], models: Sequence[str], classes: Sequence[int], path: str | Path, title: str = "") -> Path:
    """Grouped bars: AUROC per class and model, and the mean over classes as the last group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = auroc_grid(rows, models, classes)
    values = np.vstack([grid, np.nanmean(grid, axis=0, keepdims=True)]) if len(classes) else grid
    labels = [str(c) for c in classes] + ["mean"]
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(1.0 + 0.28 * len(labels) * len(models) + 1.5, 3.6))
    positions = np.arange(len(labels))
    for j, model in enumerate(models):
        ax.bar(positions + (j - (len(models) - 1) / 2) * width, np.nan_to_num(values[:, j]), width, label=model)
    ax.axhline(0.5, color="k", ls="--", lw=0.8)
    ax.set_xticks(positions, labels)
    ax.set_xlabel("left-out (anomalous) class")
    ax.set_ylabel("test AUROC")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, ncols=len(models), loc="upper center", bbox_to_anchor=(0.5, -0.18))
    ax.set_title(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def merge_results(path: str | Path, rows: list[dict]) -> list[dict]:
    """Adds `rows` to the JSON list at `path` (created if missing): a row with the same dataset,
    model, class and seed replaces the old one, every other row is kept. Returns the list written."""
    path = Path(path)
    key = lambda r: tuple(r.get(k) for k in ROW_KEY)  # noqa: E731
    new = {key(r): {k: r.get(k) for k in RESULT_KEYS} for r in rows}
    merged = [r for r in read_results(path) if key(r) not in new] + list(new.values())
    write_text(path, json.dumps(merged, indent=1) + "\n")
    return merged


# ---------------------------------------------------------------------------------------- CLI
def add_compare(p) -> None:
    from omasgan.cli import PRESETS, _add_data_args

    _add_data_args(p, "'all', one class, or a comma list such as 0,3")
    p.add_argument("--models", default="omasgan,ganomaly,anogan,knn", help="comma list of registered models")
    p.add_argument("--preset", default="quick", choices=PRESETS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--val-fraction", type=float, default=0.05)
    p.add_argument("--out", required=True, help="folder for results.json, compare.md, compare.png and <model>/ runs")
    p.add_argument("--resume", action="store_true", help="reuse finished classes and checkpoints in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--from-results", action="append", metavar="FILE",
                   help="tabulate the rows of this results.json instead of training (repeatable)")
    p.add_argument("--merge-into", metavar="FILE", help="also add the rows to this shared results list")


def run_compare(args) -> int:
    models = parse_models(args.models)
    classes = parse_classes(args.abnormal_class or "all", args.dataset)
    out = Path(args.out)
    if args.from_results:
        rows = [r for f in args.from_results for r in read_results(f)
                if r["dataset"] == args.dataset and r["model"] in models and r["abnormal_class"] in classes
                and r["seed"] == args.seed and r.get("preset", "quick") == args.preset
                and r.get("split", "test") == "test"]
    else:
        rows = []
        for model in models:
            print(f"== {model}")
            rows += run_loo(args.dataset, classes, model=model, preset=args.preset, out=out / model,
                            root=args.data_root, seed=args.seed, protocol=args.protocol,
                            val_fraction=args.val_fraction, download=not args.no_download, resume=args.resume,
                            overrides={"device": args.device, "progress": not args.no_progress})
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "results.json", json.dumps([{k: r.get(k) for k in RESULT_KEYS} for r in rows], indent=1) + "\n")
    table = comparison_table(rows, models, classes, args.protocol)
    write_text(out / "compare.md", table)
    if distributed.is_main_process():
        comparison_plot(rows, models, classes, out / "compare.png",
                        f"{args.dataset} {args.protocol}, preset {args.preset}: test AUROC")
    if args.merge_into:
        merge_results(args.merge_into, rows)
    print(table)
    print(f"written: {out / 'compare.md'}, {out / 'compare.png'}, {out / 'results.json'}")
    return 0
