"""Brute-force float64 formulas written independently of omasgan, to check its reference too."""
import torch


def lp_pow(diff: torch.Tensor, p: float, q: float) -> torch.Tensor:
    """||diff||_p^q over the last dim, float64."""
    diff = diff.double().abs()
    norm = diff.amax(-1) if p == float("inf") else diff.pow(p).sum(-1).pow(1 / p)
    return norm.pow(q)


def pairwise(x, y, p, q):
    x, y = x.flatten(1), y.flatten(1)
    return lp_pow(x[:, None, :] - y[None, :, :], p, q)


def dispersion(z, b, p, q, eps):
    n = len(z)
    dz, db = pairwise(z, z, p, q), pairwise(b, b, p, q)
    total = sum(dz[i, j] / (eps + db[i, j]) for i in range(n) for j in range(n) if i != j)
    return total / (n * (n - 1))
