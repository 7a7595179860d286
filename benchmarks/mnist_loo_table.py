"""Collects MNIST leave-one-out runs into benchmarks/results/mnist-loo.json and prints the README's
table: test AUROC per left-out class, mean over seeds with the spread (sample std) of the
ten-class mean across seeds.

    python benchmarks/mnist_loo_table.py runs/mnist-loo/*/results.json \
        --keep benchmarks/results/mnist-loo-quick.json:anogan

`--keep FILE:MODELS` adds the rows of earlier runs of those models (test split, preset "quick").
Rows are keyed by (dataset, split, model, preset, abnormal_class, seed); a later one replaces an
earlier one. Stage throughput (steps/s per stage) is read from each OMASGAN class folder's
metrics.jsonl when present.
"""
from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from omasgan.compare import merge_results
from omasgan.evaluation import MNIST_LOO_KNN_ANCHOR, read_results


def collect(paths: list[str], keep: list[str]) -> list[dict]:
    rows = []
    for spec in keep:
        path, models = spec.split(":")
        rows += [{"split": "test", "preset": "quick", **r} for r in read_results(path) if r["model"] in models.split(",")]
    for path in paths:
        rows += read_results(path)
    return rows


def table(rows: list[dict]) -> str:
    """Markdown: a column per (model, preset), mean over seeds per class, then mean +- std."""
    runs = defaultdict(lambda: defaultdict(dict))  # (model, preset) -> class -> seed -> auroc
    for r in rows:
        if r["dataset"] == "mnist" and r.get("split", "test") == "test":
            runs[(r["model"], r.get("preset", "quick"))][r["abnormal_class"]][r["seed"]] = r["auroc"]
    columns = sorted(runs, key=lambda k: (k[0] != "omasgan", k))
    head = "| left-out class | " + " | ".join(f"{m} ({p})" for m, p in columns) + " | anchor (docs/method.md) |"
    lines = [head, "|---" * (len(columns) + 2) + "|"]
    for c in range(10):
        cells = [f"{statistics.mean(runs[k][c].values()):.3f}" if runs[k][c] else "–" for k in columns]
        lines.append(f"| {c} | " + " | ".join(cells) + f" | {MNIST_LOO_KNN_ANCHOR[c]:.3f} |")
    cells, seeds = [], []
    for k in columns:
        per_seed = defaultdict(list)
        for c in range(10):
            for seed, auroc in runs[k][c].items():
                per_seed[seed].append(auroc)
        means = [statistics.mean(v) for v in per_seed.values() if len(v) == 10]
        spread = f" ± {statistics.stdev(means):.4f}" if len(means) > 1 else ""
        cells.append(f"**{statistics.mean(means):.3f}**{spread}" if means else "–")
        seeds.append(str(len(means)))
    lines.append("| **mean** | " + " | ".join(cells) + f" | {statistics.mean(MNIST_LOO_KNN_ANCHOR):.3f} |")
    lines.append("| seeds | " + " | ".join(seeds) + " | |")
    return "\n".join(lines) + "\n"


def throughput(results_paths: list[str]) -> str:
    """steps/s of each OMASGAN stage, median over classes and epochs (epoch 1 of stage 1 excluded:
    it includes start-up)."""
    per_stage = defaultdict(list)
    for path in results_paths:
        for metrics in Path(path).parent.glob("class_*/metrics.jsonl"):
            for line in metrics.read_text().splitlines():
                rec = json.loads(line)
                if rec.get("seconds") and not (rec["stage"] == "stage1" and rec["epoch"] == 1):
                    per_stage[rec["stage"]].append(rec["steps"] / rec["seconds"])
    return ", ".join(f"{s} {statistics.median(v):.0f} steps/s" for s, v in sorted(per_stage.items()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="+", help="results.json files of `omasgan loo` runs")
    p.add_argument("--keep", action="append", default=[], metavar="FILE:MODELS")
    p.add_argument("--out", default="benchmarks/results/mnist-loo.json")
    args = p.parse_args()
    rows = merge_results(args.out, collect(args.results, args.keep))
    print(table(rows))
    print("OMASGAN stage throughput:", throughput([r for r in args.results if "omasgan" in r]))


if __name__ == "__main__":
    main()
