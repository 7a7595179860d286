"""Figures (matplotlib, Agg backend, so no display is needed): sample rows, 2-D scatters with an
optional score contour, ROC curves and score histograms."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

_COLOURS = ("tab:blue", "tab:orange", "tab:red", "tab:green", "tab:purple")


def _finish(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def image_rows(rows: Mapping[str, torch.Tensor], path: str | Path, title: str = "", per_row: int = 16) -> Path:
    """One labelled row of images per entry; images [N, C, H, W] in [-1, 1]."""
    from torchvision.utils import make_grid

    fig, axes = plt.subplots(len(rows), 1, figsize=(per_row * 0.55, 0.8 * len(rows) + 0.4), squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows.items()):
        grid = make_grid(images[:per_row].detach().float().cpu(), nrow=per_row, normalize=True, value_range=(-1, 1), padding=1)
        ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def scatter_2d(
    sets: Mapping[str, torch.Tensor],
    path: str | Path,
    title: str = "",
    contour: Callable[[torch.Tensor], torch.Tensor] | None = None,
    contour_label: str = "score",
    extent: float = 1.7,
) -> Path:
    """Scatter of 2-D point sets [N, 2] (first set drawn first), optionally over a filled contour
    of `contour`: [M, 2] grid points -> [M] values (e.g. an anomaly score)."""
    fig, ax = plt.subplots(figsize=(6.2, 5.4))
    if contour is not None:
        ticks = torch.linspace(-extent, extent, 120)
        gx, gy = torch.meshgrid(ticks, ticks, indexing="xy")
        values = contour(torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)).reshape(gx.shape).detach().cpu().numpy()
        # Far corners take extreme values; clip so the shades resolve the region around the data.
        low, high = np.percentile(values, [1, 90])
        levels = np.linspace(low, high, 16)
        filled = ax.contourf(gx.numpy(), gy.numpy(), values.clip(low, high), levels=levels, cmap="Greys", alpha=0.6)
        fig.colorbar(filled, ax=ax, label=f"{contour_label} (clipped)")
    for colour, (label, pts) in zip(_COLOURS, sets.items()):
        pts = pts.detach().float().cpu()
        ax.scatter(pts[:, 0], pts[:, 1], s=6, alpha=0.6, c=colour, label=f"{label} ({len(pts)})")
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=8, markerscale=2)
    ax.set_title(title)
    return _finish(fig, path)


def roc_curve_plot(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path, title: str = "") -> Path:
    """ROC curves: label -> (y_true [N] with 1 = anomaly, scores [N]); the legend gives AUROC."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = plt.subplots(figsize=(5.2, 5))
    for label, (y, s) in curves.items():
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, lw=1.2, label=f"{label} (AUROC {roc_auc_score(y, s):.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="chance")
    ax.set_xlabel("false positive rate (normal flagged)")
    ax.set_ylabel("true positive rate (anomalies caught)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title)
    return _finish(fig, path)


def score_histogram(y: np.ndarray, scores: np.ndarray, path: str | Path, threshold: float | None = None, title: str = "") -> Path:
    """Histograms of the anomaly score for normal (y = 0) and anomalous (y = 1) test samples."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    bins = np.linspace(np.percentile(scores, 0.5), np.percentile(scores, 99.5), 60)
    ax.hist(scores[y == 0], bins=bins, alpha=0.6, density=True, label=f"normal ({int((y == 0).sum())})")
    ax.hist(scores[y == 1], bins=bins, alpha=0.6, density=True, label=f"anomaly ({int((y == 1).sum())})")
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", lw=1, label="threshold (validation quantile)")
    ax.set_xlabel("anomaly score (higher = more anomalous)")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return _finish(fig, path)


def score_histograms(runs: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path, title: str = "") -> Path:
    """One small histogram panel per run: label -> (y_true [N], scores [N]), normal vs anomaly."""
    cols = min(5, len(runs))
    rows = -(-len(runs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat[len(runs):]:
        ax.axis("off")
    for ax, (label, (y, s)) in zip(axes.flat, runs.items()):
        bins = np.linspace(np.percentile(s, 0.5), np.percentile(s, 99.5), 40)
        ax.hist(s[y == 0], bins=bins, alpha=0.6, density=True, label="normal")
        ax.hist(s[y == 1], bins=bins, alpha=0.6, density=True, label="anomaly")
        ax.set_title(label, fontsize=9)
        ax.set_yticks([])
    axes.flat[0].legend(fontsize=7)
    fig.supxlabel("anomaly score (higher = more anomalous)")
    if title:
        fig.suptitle(title)
    return _finish(fig, path)
