"""Figures (matplotlib, Agg backend, so no display is needed): sample rows, 2-D scatters with an
optional score contour, ROC curves and score histograms.

Every figure uses constrained layout (no overlapping titles or labels) and the same colours for
the same things: normal data blue, anomalies red, G orange, B purple, G' green, the threshold black.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

NORMAL, ANOMALY, THRESHOLD = "tab:blue", "tab:red", "black"
# Point sets by the start of their label; anything else takes the next of _OTHERS.
_SET_COLOURS = {"normal": NORMAL, "data": NORMAL, "test anomal": ANOMALY, "anomal": ANOMALY, "G(z)": "tab:orange",
                "B(z)": "tab:purple", "G'(z)": "tab:green"}
_OTHERS = ("tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan")


def set_colour(label: str, index: int = 0) -> str:
    """The colour of a point set, by what its label names (see the module docstring)."""
    for start, colour in _SET_COLOURS.items():
        if label.startswith(start):
            return colour
    return _OTHERS[index % len(_OTHERS)]


def _figure(*args, **kwargs):
    return plt.subplots(*args, layout="constrained", **kwargs)


def _finish(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _normal_and_anomaly_histograms(ax, y: np.ndarray, scores: np.ndarray, bins: int, threshold: float | None,
                                   legend: bool = True) -> None:
    """Density histograms of the normal (y = 0) and anomalous (y = 1) scores, the threshold as a
    dashed line with its value."""
    finite = scores[np.isfinite(scores)]
    low, high = np.percentile(finite, [0.5, 99.5]) if len(finite) else (0.0, 1.0)
    if threshold is not None:
        low, high = min(low, threshold), max(high, threshold)
    edges = np.linspace(low, high if high > low else low + 1, bins)
    for value, colour, name in ((0, NORMAL, "normal"), (1, ANOMALY, "anomaly")):
        group = scores[y == value]
        if len(group):
            ax.hist(group, bins=edges, alpha=0.6, density=True, color=colour, label=f"{name} ({len(group)})")
    if threshold is not None:
        ax.axvline(threshold, color=THRESHOLD, ls="--", lw=1, label=f"threshold {threshold:.3g}")
    if legend:
        ax.legend(fontsize=7)


def image_rows(rows: Mapping[str, torch.Tensor], path: str | Path, title: str = "", per_row: int = 16) -> Path:
    """One labelled row of images per entry; images [N, C, H, W] in [-1, 1]."""
    from torchvision.utils import make_grid

    fig, axes = _figure(len(rows), 1, figsize=(per_row * 0.55 + 1.6, 0.8 * len(rows) + 0.5), squeeze=False)
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
    fig, ax = _figure(figsize=(6.4, 5.4))
    if contour is not None:
        ticks = torch.linspace(-extent, extent, 120)
        gx, gy = torch.meshgrid(ticks, ticks, indexing="xy")
        values = contour(torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)).reshape(gx.shape).detach().cpu().numpy()
        # Far corners take extreme values; clip so the shades resolve the region around the data.
        low, high = np.percentile(values, [1, 90])
        levels = np.linspace(low, high, 16)
        filled = ax.contourf(gx.numpy(), gy.numpy(), values.clip(low, high), levels=levels, cmap="Greys", alpha=0.6)
        fig.colorbar(filled, ax=ax, label=f"{contour_label} (clipped)")
    for i, (label, pts) in enumerate(sets.items()):
        pts = pts.detach().float().cpu()
        ax.scatter(pts[:, 0], pts[:, 1], s=6, alpha=0.6, c=set_colour(label, i), label=f"{label} ({len(pts)})")
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=8, markerscale=2)
    ax.set_title(title)
    return _finish(fig, path)


def roc_curve_plot(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path, title: str = "") -> Path:
    """ROC curves: label -> (y_true [N] with 1 = anomaly, scores [N]); the legend gives AUROC."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = _figure(figsize=(5.2, 5))
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
    """Histograms of the anomaly score for normal (y = 0) and anomalous (y = 1) samples, with the
    threshold and its value."""
    fig, ax = _figure(figsize=(6, 3.6))
    _normal_and_anomaly_histograms(ax, np.asarray(y), np.asarray(scores), 60, threshold)
    ax.set_xlabel("anomaly score (higher = more anomalous)")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=10)
    return _finish(fig, path)


def score_histograms(runs: Mapping[str, tuple], path: str | Path, title: str = "") -> Path:
    """One small histogram panel per run: label -> (y_true [N], scores [N]) or (y_true, scores,
    threshold), normal vs anomaly, with the threshold and its value."""
    cols = min(5, len(runs))
    rows = -(-len(runs) // cols)
    fig, axes = _figure(rows, cols, figsize=(3.2 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.flat[len(runs):]:
        ax.axis("off")
    for i, (ax, (label, run)) in enumerate(zip(axes.flat, runs.items())):
        y, s, threshold = (*run, None)[:3]
        _normal_and_anomaly_histograms(ax, np.asarray(y), np.asarray(s), 40, threshold, legend=True)
        ax.set_title(label, fontsize=9)
        ax.set_yticks([])
    fig.supxlabel("anomaly score (higher = more anomalous)")
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def auroc_bars(grid: np.ndarray, models: Sequence[str], classes: Sequence, path: str | Path, title: str = "") -> Path:
    """Grouped bars of AUROC [len(classes), len(models)] (NaN = not run) per class and model, and
    the mean over classes as the last group; chance (0.5) dashed."""
    values = np.vstack([grid, np.nanmean(grid, axis=0, keepdims=True)]) if len(classes) else grid
    labels = [str(c) for c in classes] + ["mean"]
    width = 0.8 / len(models)
    fig, ax = _figure(figsize=(1.0 + 0.28 * len(labels) * len(models) + 1.5, 3.8))
    positions = np.arange(len(labels))
    for j, model in enumerate(models):
        ax.bar(positions + (j - (len(models) - 1) / 2) * width, np.nan_to_num(values[:, j]), width, label=model,
               color=f"C{j}")
    ax.axhline(0.5, color=THRESHOLD, ls="--", lw=0.8, label="chance")
    ax.set_xticks(positions, labels)
    ax.set_xlabel("left-out (anomalous) class")
    ax.set_ylabel("test AUROC")
    ax.set_ylim(0, 1)
    fig.legend(fontsize=8, ncols=len(models) + 1, loc="outside lower center")
    ax.set_title(title)
    return _finish(fig, path)
