"""`omasgan demo`: OMASGAN on embedded data only (no download), in a few minutes on 2 CPU cores.

1. The synthetic 2-D set (six Gaussian modes on a ring): the four stages, then `boundary.png`
   (data, G samples, B's boundary samples over the contour of the anomaly score) and the test AUROC
   against off-support anomalies.
2. scikit-learn's 8x8 digits, leave-one-out over all ten digits (by default): OMASGAN's test AUROC
   beside the pixel nearest neighbour's on the same splits, per digit and the mean.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import torch

from omasgan import data, evaluation, plots
from omasgan.models.omasgan import diagnostics


def boundary_figure(model, split: data.ADSplit, path: str | Path) -> Path:
    """Data, G(z), B(z) and held-out anomalies over the contour of the model's anomaly score."""
    gen = torch.Generator().manual_seed(0)
    sets = {
        "normal data": split.train[torch.randperm(len(split.train), generator=gen)[:600]],
        "G(z) samples": model.sample("G", 600, gen).cpu(),
        "B(z) boundary samples": model.sample("B", 600, gen).cpu(),
        "test anomalies": split.test_x[split.test_y == 1][:200],
    }
    return plots.scatter_2d(
        sets, path, "OMASGAN on 2-D data (darker = more anomalous)",
        contour=lambda pts: torch.from_numpy(model.decision_function(pts)), contour_label="anomaly score AS(x)",
    )


def run(out: str | Path = "demo", digits_classes: Sequence[int] = tuple(range(10)), threads: int = 1,
        overrides: dict | None = None, log=print) -> dict:
    """Runs both parts; returns {"synthetic_auroc", "digits_auroc" (mean), "digits_knn_auroc" (mean)}
    and prints where the files are.

    `overrides` change both OMASGAN models' settings (tests use it to shorten training).
    """
    overrides = {"progress": False, "overwrite": True, **(overrides or {})}  # the demo rewrites its own folder
    from omasgan import OMASGAN

    torch.set_num_threads(threads)
    out = Path(out)
    started = time.perf_counter()

    log("1/2  synthetic 2-D set: six Gaussian modes on a ring")
    split = data.make_split("synthetic")
    model = OMASGAN.from_preset("quick", tuple(split.train.shape[1:]), out_dir=str(out / "synthetic"), **overrides)
    model.fit(split.train, val_data=split.val)
    synthetic = evaluation.metrics(split.test_y.numpy(), model.decision_function(split.test_x))
    figure = boundary_figure(model, split, out / "synthetic" / "boundary.png")
    far = torch.tensor([[5.0, 0.0], [100.0, 0.0], [1e4, 1e4]])
    log(f"     test AUROC {synthetic['auroc']:.3f} (normal points vs off-support anomalies), "
        f"trained in {model.train_seconds_:.0f} s; far points {far.tolist()} flagged: {model.predict(far).tolist()}")
    gen = torch.Generator().manual_seed(0)
    g, b = (diagnostics.mode_report(model.sample(name, 2000, gen).cpu(), data.synthetic_modes(), data.SYNTHETIC_STD)
            for name in ("G", "B"))
    log(f"     G(z): {g['within_2_std']:.0%} within 2 std of a mode (the data: ~87%); B(z): {b['in_band']:.0%} 2-5 std "
        f"from the nearest mode, median {b['median_std']:.1f} std, and every mode has such B samples in "
        f"{b['surround']:.0%} or more of 12 sectors around it")
    log(f"     boundary figure: {figure}; per-stage figures: {out / 'synthetic'}/samples_*.png")

    names = ", ".join(map(str, digits_classes))
    log(f"2/2  scikit-learn 8x8 digits, leave-one-out (digit left out: {names}); OMASGAN beside the pixel nearest neighbour")
    rows = {}
    for model_name, settings in (("omasgan", overrides), ("knn", {"progress": False, "overwrite": True})):
        rows[model_name] = evaluation.run_loo("digits", digits_classes, model=model_name, preset="quick",
                                              out=out / "digits-loo" / model_name, overrides=settings,
                                              log=lambda msg: None)
    means = {m: sum(r["auroc"] for r in rs) / len(rs) for m, rs in rows.items()}
    log("     | left-out digit | OMASGAN AUROC | pixel kNN AUROC |")
    log("     |---|---|---|")
    for ours, knn in zip(rows["omasgan"], rows["knn"]):
        log(f"     | {ours['abnormal_class']} | {ours['auroc']:.3f} | {knn['auroc']:.3f} |")
    log(f"     | **mean** | **{means['omasgan']:.3f}** | **{means['knn']:.3f}** |")
    log(f"     tables: {out / 'digits-loo'}/<model>/results.md, figures: roc.png, histograms.png beside them")
    log(f"done in {time.perf_counter() - started:.0f} s; everything is under {out}/")
    return {"synthetic_auroc": synthetic["auroc"], "digits_auroc": means["omasgan"], "digits_knn_auroc": means["knn"]}
