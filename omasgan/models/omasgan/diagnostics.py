"""Does each OMASGAN stage do its job? Measurements of generated samples against the normal data.

    coverage(samples, data, labels)  stage 1: k-NN precision / recall (Kynkaanniemi et al., 2019),
                                     recall per class when labels are given
    boundary_report(model, data)     stage 2: B's spread and its distance to the data, beside G's
    stage_report(model, data)        both, as one JSON-ready dict (written to a run's stages.json)
    mode_report(samples, centres, std)  for data drawn from known Gaussian modes (the 2-D ring):
                                     where samples lie in units of the modes' std
    stage_figure(model, path, ...)   the figure each stage leaves in the run folder

Distances are measured in the model's own space (`OMASGAN.embed`), so "near" means what the
anomaly score means by it. Everything runs on subsets of at most `max_points` rows.
"""
from __future__ import annotations

from pathlib import Path

import torch

from omasgan import plots
from omasgan.ops import min_distance, pairwise_distance


def _knn_radius(points: torch.Tensor, k: int) -> torch.Tensor:
    """[M, D] -> [M] distance of each point to its k-th nearest other point."""
    d = pairwise_distance(points, points)
    d.fill_diagonal_(float("inf"))
    return d.topk(k, dim=1, largest=False).values[:, -1]


def _within(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """[N] bool: query i lies inside the ball (centre j, radius_j) of some j."""
    return (pairwise_distance(queries, centres) <= radii[None, :]).any(dim=1)


def coverage(samples: torch.Tensor, data: torch.Tensor, labels: torch.Tensor | None = None, k: int = 3) -> dict:
    """k-NN precision and recall of `samples` [N, D] against `data` [M, D] (both already embedded).

    precision: share of samples inside some data point's k-NN ball (realistic samples);
    recall: share of data points inside some sample's k-NN ball (covered data);
    recall_per_class: recall over each label's data points, with labels [M] given.
    """
    if len(samples) <= k or len(data) <= k:
        raise ValueError(f"coverage needs more than k={k} samples and data points, got {len(samples)} and {len(data)}")
    precision = _within(samples, data, _knn_radius(data, k)).float().mean().item()
    covered = _within(data, samples, _knn_radius(samples, k))
    out = {"precision": precision, "recall": covered.float().mean().item()}
    if labels is not None:
        out["recall_per_class"] = {int(c): covered[labels == c].float().mean().item() for c in labels.unique()}
    return out


def spread(samples: torch.Tensor) -> float:
    """Mean distance between two distinct samples [N, D]: 0 for one collapsed mode."""
    n = len(samples)
    return (pairwise_distance(samples, samples).sum() / (n * (n - 1))).item()


def distance_to(samples: torch.Tensor, data: torch.Tensor) -> float:
    """Median over samples [N, D] of the distance to the nearest row of data [M, D]."""
    return min_distance(samples, data)[0].median().item()


@torch.no_grad()
def boundary_report(model, data: torch.Tensor, max_points: int = 2000, seed: int = 0) -> dict:
    """Stage 2: B's and G's spread, and their median distance to the nearest normal sample.

    A working B is about as spread out as G (no collapse) and farther from the data than G.
    data: [M, ...] normal samples (the training data).
    """
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(data), generator=gen)[:max_points]
    reference = model.embed(data[pick].to(model.torch_device))
    out = {}
    for name in ("G", "B"):
        samples = model.embed(model.sample(name, min(max_points, 1000), gen))
        out[name] = {"spread": spread(samples), "distance_to_data": distance_to(samples, reference)}
    out["data"] = {"spread": spread(reference[:1000])}
    return out


@torch.no_grad()
def stage_report(model, data: torch.Tensor, labels: torch.Tensor | None = None, max_points: int = 2000,
                 seed: int = 0) -> dict:
    """{"stage1": coverage of G's samples, "stage2": boundary_report} for a fitted OMASGAN."""
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(data), generator=gen)[:max_points]
    reference = model.embed(data[pick].to(model.torch_device))
    samples = model.embed(model.sample("G", len(pick), gen))
    return {"stage1": coverage(samples, reference, None if labels is None else labels[pick].to(model.torch_device)),
            "stage2": boundary_report(model, data, max_points, seed)}


def mode_report(samples: torch.Tensor, centres: torch.Tensor, std: float, band=(2.0, 5.0), sectors: int = 12) -> dict:
    """Where 2-D `samples` [N, 2] lie relative to isotropic Gaussian modes `centres` [M, 2] of
    standard deviation `std`: the share within 2 std of the nearest mode (G should be there), the
    share in the `band` of std around it (B should be there: just outside the support), the share
    beyond 10 std, the median distance in std, and `surround`: over the modes, the least share of
    `sectors` equal angular sectors around a mode that hold a sample in the band (1 = B surrounds
    every mode)."""
    d = torch.cdist(samples.float(), centres.float())
    nearest, which = d.min(dim=1)
    r = nearest / std
    offset = samples.float() - centres.float()[which]
    sector = ((torch.atan2(offset[:, 1], offset[:, 0]) + torch.pi) / (2 * torch.pi) * sectors).long().clamp(max=sectors - 1)
    in_band = (r >= band[0]) & (r <= band[1])
    held = [len(set(sector[in_band & (which == k)].tolist())) / sectors for k in range(len(centres))]
    return {"within_2_std": (r <= 2).float().mean().item(), "in_band": in_band.float().mean().item(),
            "beyond_10_std": (r > 10).float().mean().item(), "median_std": r.median().item(), "surround": min(held)}


def stage_figure(model, path: Path, train: torch.Tensor, generators: tuple[str, ...], contour: bool = False) -> None:
    """A stage's figure at `path`: data and samples of `generators`, as image rows or a 2-D scatter
    (with J's contour). With `contour` (stage 4), image rows also show the training images J finds
    most and least anomalous (of 512 drawn), so one can see what J has learnt."""
    gen = torch.Generator().manual_seed(1234)
    labels = {"G": "G(z)", "B": "B(z) boundary", "G_prime": "G'(z)"}
    n = 16 if train.dim() > 2 else 500
    sets = {"data": train[torch.randperm(len(train), generator=gen)[:n]]}
    sets.update({labels[g]: model.sample(g, n, gen).cpu() for g in generators})
    title = f"{path.stem.split('_', 2)[-1]}: {', '.join(sets)}"
    J = model.networks["J"]

    def j_logit(points):
        J.eval()
        with torch.no_grad():
            return torch.cat([J(model.j_view(b.to(model.torch_device))).float().cpu() for b in points.split(1024)])

    if train.dim() > 2:
        if contour:
            pool = train[torch.randperm(len(train), generator=gen)[:512]]
            order = j_logit(pool).argsort(descending=True)
            sets["J: most anomalous data"] = pool[order[:n]]
            sets["J: least anomalous data"] = pool[order.flip(0)[:n]]
        plots.image_rows(sets, path, title)
        return
    plots.scatter_2d(sets, path, title, contour=j_logit if contour else None, contour_label="J(x) logit")
