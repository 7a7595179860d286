"""Argument checks, backend choice and the l_p-norm gradient shared by every op.

Kernel contract (every backend, every op): inputs arrive 2-D (or 1-D for f-divergences),
contiguous, on one device, all float32 or all float64; p is a float in [1, inf], q > 0.
"""
from __future__ import annotations

import math
import os
from numbers import Real

import torch

from omasgan import _ext

BACKENDS = ("auto", "torch", "cpu", "cuda", "triton")
_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


# ---------------------------------------------------------------------------------------- checks
def check_tensor(t, name: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in _FLOATS:
        raise TypeError(f"{name} must be float16, bfloat16, float32 or float64, got {t.dtype}")
    return t


def check_finite(t: torch.Tensor, name: str) -> None:
    # One fused min/max reduction (NaN propagates through both, inf shows in one of them): no
    # temporaries the size of the input, unlike isfinite(t).all(). Skipped inside torch.compile.
    if t.numel() and not torch.compiler.is_compiling():
        lo, hi = torch.aminmax(t)
        if not bool(torch.isfinite(lo) & torch.isfinite(hi)):
            raise ValueError(f"{name} contains NaN or inf values")


def check_same_device(**tensors: torch.Tensor) -> None:
    devices = {name: t.device for name, t in tensors.items()}
    if len(set(devices.values())) > 1:
        listing = ", ".join(f"{n} on {d}" for n, d in devices.items())
        raise ValueError(f"all tensors must be on one device, got {listing}")


def check_p_q(p, q) -> tuple[float, float]:
    if isinstance(p, bool) or not isinstance(p, Real) or math.isnan(p) or p < 1:
        raise ValueError(f"p must be a number in [1, inf] (float('inf') allowed), got {p!r}")
    if isinstance(q, bool) or not isinstance(q, Real) or not math.isfinite(q) or q <= 0:
        raise ValueError(f"q must be a finite number > 0, got {q!r}")
    return float(p), float(q)


def rows(t: torch.Tensor, name: str) -> torch.Tensor:
    """[N, ...] -> [N, D] (a view where possible)."""
    if t.dim() == 0:
        raise ValueError(f"{name} must have a leading sample dimension, got a 0-d tensor")
    return t.reshape(t.shape[0], math.prod(t.shape[1:]))


def check_features(a: torch.Tensor, a_name: str, b: torch.Tensor, b_name: str) -> None:
    if a.shape[1] == 0 or b.shape[1] == 0:
        raise ValueError(f"{a_name} and {b_name} must have at least one feature, got D = 0")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{a_name} and {b_name} must have the same number of features D after flattening, "
            f"got {a_name}: {a.shape[1]} and {b_name}: {b.shape[1]}"
        )


def compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """float64 if any input is float64, else float32 (half inputs are computed in float32)."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def prepare(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Differentiable cast to the compute dtype, contiguous, as the kernels expect."""
    return t.to(dtype).contiguous()


# -------------------------------------------------------------------------------------- backends
def _triton_usable(device: torch.device) -> bool:
    if device.type == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        return False
    try:
        import omasgan.kernels.min_distance  # noqa: F401  (imports triton)
    except ImportError:
        return False
    return True


def available_backends(device: torch.device | str = "cpu") -> list[str]:
    """Backends that can run on tensors of `device` in this process."""
    device = torch.device(device)
    found = ["torch"]
    if device.type == "cpu" and _ext.has("min_distance_cpu"):
        found.append("cpu")
    if device.type == "cuda" and _ext.has("min_distance_cuda"):
        found.append("cuda")
    if _triton_usable(device):
        found.append("triton")
    return found


def resolve_backend(backend: str, device: torch.device) -> str:
    """The concrete backend for `device`: "auto" (or $OMASGAN_BACKEND) picks the fastest one."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if backend == "auto":
        backend = os.environ.get("OMASGAN_BACKEND", "auto")
        if backend not in BACKENDS:
            raise ValueError(f"$OMASGAN_BACKEND must be one of {', '.join(BACKENDS)}; got {backend!r}")
    have = available_backends(device)
    if backend == "auto":
        preference = ("cuda", "triton") if device.type == "cuda" else ("cpu",)
        for name in preference:
            if name in have:
                return name
        if device.type in ("cpu", "cuda"):
            _ext.warn_torch_fallback(device.type)
        return "torch"
    if backend not in have:
        why = {
            "cpu": "CPU tensors and the built extension omasgan._C",
            "cuda": "CUDA tensors and omasgan._C built with its CUDA half",
            "triton": "triton, and CUDA tensors (or TRITON_INTERPRET=1 for CPU tensors)",
        }[backend]
        raise ValueError(f"backend={backend!r} needs {why}; tensors are on {device}, available: {have}")
    return backend


# ---------------------------------------------------------------------------------- l_p helpers
def lp_norm(diff: torch.Tensor, p: float) -> torch.Tensor:
    """||diff||_p over the last dim: [..., D] -> [...]."""
    return torch.linalg.vector_norm(diff, ord=p, dim=-1)


def lp_pow_grad(diff: torch.Tensor, p: float, q: float, norm: torch.Tensor | None = None) -> torch.Tensor:
    """d ||u||_p^q / du at u = diff, row-wise: [..., D] -> [..., D]; zero where u = 0.

    Finite p: q ||u||^(q-p) sign(u) |u|^(p-1).  p = inf: q ||u||^(q-1) sign(u_k) at the first
    k of largest |u_k| (a subgradient).  The zero-distance case gets the zero subgradient rather
    than the NaN/inf that autograd through a norm produces there.
    """
    if norm is None:
        norm = lp_norm(diff, p)
    norm = norm.unsqueeze(-1)
    nonzero = norm > 0
    safe = torch.where(nonzero, norm, torch.ones_like(norm))
    if math.isinf(p):
        k = diff.abs().argmax(dim=-1, keepdim=True)
        grad = torch.zeros_like(diff).scatter_(-1, k, diff.gather(-1, k).sign())
        scale = q * safe.pow(q - 1)
    elif p == 1:
        grad = diff.sign()
        scale = q * safe.pow(q - 1)
    elif p == 2:
        grad = diff
        scale = q * safe.pow(q - 2)
    else:
        grad = diff.sign() * diff.abs().pow(p - 1)
        scale = q * safe.pow(q - p)
    return torch.where(nonzero, grad * scale, torch.zeros_like(grad))
