"""Argument checks, backend choice and the l_p-norm gradient shared by every op.

Kernel contract (every backend, every op): inputs arrive 2-D (or 1-D for f-divergences),
contiguous, on one device, all float32 or all float64; p is a float in [1, inf], q > 0.

Numerics: a result is right wherever its true value is representable in the dtype, and
the fast paths stay as they were. Two mechanisms, the same on every backend:
- Values (pairwise_distance, the selected pair of min_distance, dispersion's pair norms): a pair's
  power sum s = sum_k |u_k|^p is trusted when safe_sum_lo <= s < inf. Below that, terms may have
  underflowed; at inf, they overflowed. Only such pairs take the safe path: m = max_k |u_k|, then
  ||u||_p = m (sum_k (|u_k| / m)^p)^(1/p), whose terms lie in [0, 1] and whose sum in [1, D]. The
  check is one comparison per pair, so ordinary data pays nothing; the safe path costs a second
  pass over the pair's D features. (Duplicates, s = 0, take it too: it returns 0 as before.)
- Ranking (min_distance's search, which compares keys such as ||b||^2 - 2 x.b that the per-pair
  check cannot repair): when max |x|, |bank| lies outside the band where no key can overflow or
  wholly underflow (`ranking_exponent`), x and bank are multiplied by one common power of two,
  which is exact, and the values are scaled back in float64. The band test reuses the min/max
  reduction of `check_finite`, so the fast path adds no pass over the inputs. Limit of a global
  scale: where magnitudes within one call span more than about 2^(126/p) (float32), the smallest
  distances can rank as ties (their values are still recomputed exactly).
"""
from __future__ import annotations

import importlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real

import torch

from omasgan import _ext

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


# ---------------------------------------------------------------------------------------- checks
def check_tensor(t, name: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in _FLOATS:
        raise TypeError(f"{name} must be float16, bfloat16, float32 or float64, got {t.dtype}")
    return t


def check_finite(t: torch.Tensor, name: str) -> float:
    """Raises ValueError on NaN/inf; returns max |t| (0.0 for an empty t), or -1.0 (unknown) inside
    torch.compile, where the check is skipped."""
    # One fused min/max reduction (NaN propagates through both, inf shows in one of them): no
    # temporaries the size of the input, unlike isfinite(t).all(). Skipped inside torch.compile.
    if torch.compiler.is_compiling():
        return -1.0
    if not t.numel():
        return 0.0
    lo, hi = torch.stack(torch.aminmax(t)).double().tolist()  # one transfer for both
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} contains NaN or inf values")
    return max(-lo, hi)


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


@dataclass(frozen=True)
class OpInputs:
    """An op's arguments, checked and ready for the kernels (see `op_inputs`)."""

    tensors: tuple[torch.Tensor, ...]  # flattened, in the compute dtype, contiguous; in the order given
    backend: str  # the concrete backend
    p: float | None = None
    q: float | None = None
    amax: float = 0.0  # max |t| over all inputs; -1.0 (unknown) inside torch.compile


def op_inputs(tensors: dict[str, torch.Tensor], backend: str, *, p=None, q=None, flatten: str = "rows",
              check: Callable[..., None] | None = None) -> OpInputs:
    """The sequence every op's public function starts with, in this order: each input a float
    tensor, all on one device, p and q (when p is given), flattening ("rows": [N, ...] -> [N, D];
    "vector": [...] -> [n]), the op's own shape checks `check(*flattened)`, no NaN/inf, the
    backend for the device, the compute dtype, the cast to it. Error messages name the inputs by
    their keys in `tensors`."""
    for name, t in tensors.items():
        check_tensor(t, name)
    check_same_device(**tensors)
    if p is not None:
        p, q = check_p_q(p, q)
    flat = {name: rows(t, name) if flatten == "rows" else t.reshape(-1) for name, t in tensors.items()}
    if check is not None:
        check(*flat.values())
    amax = max(check_finite(t, name) for name, t in flat.items())
    backend = resolve_backend(backend, next(iter(tensors.values())).device)
    dtype = compute_dtype(*tensors.values())
    return OpInputs(tuple(prepare(t, dtype) for t in flat.values()), backend, p, q, amax)


# -------------------------------------------------------------------------------------- backends
# Every backend is one `Backend` record in REGISTRY, and one entry in each op's `KernelTable`
# (omasgan/ops/<op>.py). BACKENDS, available_backends, resolve_backend (its preference for "auto"
# and its error messages), the tests' and the benchmarks' backend lists are all read from these.
@dataclass(frozen=True)
class Backend:
    """One backend: where it can run, how to tell whether it can run here, and what it needs."""

    name: str
    needs: str  # completes "backend='<name>' needs ...; tensors are on <device>, available: [...]"
    devices: tuple[str, ...] | None = None  # device types it serves; None: any (then `usable` decides)
    usable: Callable[[torch.device], bool] | None = None  # on a device it serves; None: always
    auto: tuple[str, ...] = ()  # device types on which "auto" picks it (the first usable in REGISTRY order)
    fallback_warning: Callable[[str], None] | None = None  # called with the device type when "auto" has
    # to fall back to torch on a device where this backend is preferred (once per process)

    def serves(self, device: torch.device) -> bool:
        return (self.devices is None or device.type in self.devices) and (self.usable is None or self.usable(device))


def _cpu_extension_usable(device: torch.device) -> bool:
    return _ext.has("min_distance_cpu")


def _cuda_extension_usable(device: torch.device) -> bool:
    return _ext.has("min_distance_cuda")


def _triton_usable(device: torch.device) -> bool:
    if device.type == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        return False
    try:
        import omasgan.kernels.min_distance  # noqa: F401  (imports triton)
    except ImportError:
        return False
    return True


REGISTRY: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("torch", needs="nothing"),  # the reference: always there, and auto's fallback
        Backend("cpu", devices=("cpu",), usable=_cpu_extension_usable, auto=("cpu",),
                fallback_warning=_ext.warn_torch_fallback,
                needs="CPU tensors and the built extension omasgan._C"),
        Backend("cuda", devices=("cuda",), usable=_cuda_extension_usable, auto=("cuda",),
                fallback_warning=_ext.warn_torch_fallback,
                needs="CUDA tensors and omasgan._C built with its CUDA half"),
        Backend("triton", usable=_triton_usable, auto=("cuda",),
                needs="triton, and CUDA tensors (or TRITON_INTERPRET=1 for CPU tensors)"),
    )
}

BACKENDS = ("auto", *REGISTRY)


def auto_preference(device_type: str) -> tuple[str, ...]:
    """The backends "auto" tries on tensors of `device_type`, in order (torch comes after them all).
    Also what the benchmarks time on that device type."""
    return tuple(name for name, b in REGISTRY.items() if device_type in b.auto)


def available_backends(device: torch.device | str = "cpu") -> list[str]:
    """Backends that can run on tensors of `device` in this process."""
    device = torch.device(device)
    return [name for name, b in REGISTRY.items() if b.serves(device)]


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
        preference = auto_preference(device.type)
        for name in preference:
            if name in have:
                return name
        warn = next((REGISTRY[n].fallback_warning for n in preference if REGISTRY[n].fallback_warning), None)
        if warn is not None:
            warn(device.type)
        return "torch"
    if backend not in have:
        raise ValueError(f"backend={backend!r} needs {REGISTRY[backend].needs}; tensors are on {device}, available: {have}")
    return backend


class KernelTable:
    """One op's implementations: backend name -> a loader, called with no arguments when the op runs
    (inside its torch.library.custom_op), that returns what the op calls on that backend (one
    function, or a (forward, backward) pair). Every backend of REGISTRY has exactly one entry: a
    backend added there without one here fails at import, naming the op."""

    def __init__(self, op: str, **loaders: Callable[[], object]):
        missing, unknown = [b for b in REGISTRY if b not in loaders], [b for b in loaders if b not in REGISTRY]
        if missing or unknown:
            raise TypeError(f"{op}'s KernelTable must have one entry per backend of REGISTRY; "
                            f"missing: {missing}, not backends: {unknown}")
        self.op = op
        self.loaders = loaders

    def __call__(self, backend: str):
        return self.loaders[backend]()


def given(*implementations: Callable) -> Callable[[], object]:
    """A KernelTable entry for functions at hand (the torch references)."""
    return lambda: implementations[0] if len(implementations) == 1 else implementations


def extension(*symbols: str) -> Callable[[], object]:
    """A KernelTable entry for kernels of omasgan._C, looked up by name when first used; RuntimeError
    (saying why) where the extension lacks them."""
    return lambda: _ext.kernel(symbols[0]) if len(symbols) == 1 else tuple(_ext.kernel(s) for s in symbols)


def module_functions(module: str, *names: str) -> Callable[[], object]:
    """A KernelTable entry for functions of a module imported when first used (the Triton kernels:
    module "omasgan.kernels.<op>")."""

    def load():
        found = importlib.import_module(module)
        return getattr(found, names[0]) if len(names) == 1 else tuple(getattr(found, n) for n in names)

    return load


# ------------------------------------------------------------------------------------- numerics
def safe_sum_lo(dtype: torch.dtype) -> float:
    """Smallest power sum trusted without the safe path: sqrt of the smallest normal number
    (2^-63 in float32, 2^-511 in float64). Below it, terms under the smallest normal (each off by
    at most that much) could matter at the dtype's precision once D reaches 2^39 (float32)."""
    return math.sqrt(torch.finfo(dtype).tiny)


def ranking_exponent(amax: float, p: float, d: int, dtype: torch.dtype) -> int:
    """k such that min_distance may rank x * 2^k against bank * 2^k safely; 0 inside the band.

    Band: 4 D (2 amax)^p <= max (no key, partial sum or dot product overflows; p = 1 and inf use
    p = 1) and amax^p >= safe_sum_lo (not every term underflows). Outside it, k brings amax just
    under the top of the band, which leaves the most room below for small distances.
    """
    if not (amax > 0) or math.isinf(amax):
        return 0
    pe = 1.0 if (math.isinf(p) or p < 1) else p
    finfo = torch.finfo(dtype)
    log2_hi = (math.log2(finfo.max) - 2.0 - math.log2(max(1, d))) / pe - 1.0
    log2_lo = math.log2(safe_sum_lo(dtype)) / pe
    log2_amax = math.log2(amax)
    if log2_lo <= log2_amax <= log2_hi:
        return 0
    return math.floor(log2_hi) - math.ceil(log2_amax) - 1


def scale_pow2(t: torch.Tensor, k: int) -> torch.Tensor:
    """t * 2^k, exact (barring underflow), in steps whose factors the dtype can hold."""
    while k:
        step = max(-100, min(100, k))
        t = t * (2.0 ** step)
        k -= step
    return t


def max_abs(*tensors: torch.Tensor) -> float:
    """max |t| over the tensors (0.0 when all are empty)."""
    return max((float(t.abs().max()) for t in tensors if t.numel()), default=0.0)


def lp_norm(diff: torch.Tensor, p: float) -> torch.Tensor:
    """||diff||_p over the last dim: [..., D] -> [...], right wherever it is representable.

    torch's vector_norm sums |u_k|^p directly: it returns inf once the sum overflows (|u| ~ 1e19
    for p = 2 in float32) and 0 or a wrong value once terms underflow. Entries whose norm shows
    either (the power sum outside [safe_sum_lo, inf)) are recomputed from diff / max |diff|.
    """
    norm = torch.linalg.vector_norm(diff, ord=p, dim=-1)
    if math.isinf(p) or norm.numel() == 0:
        return norm  # a max of |u_k|: exact
    lo = safe_sum_lo(diff.dtype) ** (1.0 / p)
    bad = ~(norm >= lo) | torch.isinf(norm)
    if bool(bad.any()):
        d = diff[bad]
        m = d.abs().amax(dim=-1, keepdim=True)
        unit = torch.linalg.vector_norm(d / torch.where(m > 0, m, torch.ones_like(m)), ord=p, dim=-1)
        norm = norm.index_put((bad.nonzero(as_tuple=True)), (m.squeeze(-1).double() * unit.double()).to(norm.dtype))
    return norm


def lp_norm_scaled(diff: torch.Tensor, p: float) -> torch.Tensor:
    """||diff||_p over the last dim, always through diff / max |diff| (no data-dependent branch,
    so it traces under torch.compile); twice the work of lp_norm's fast path."""
    m = diff.abs().amax(dim=-1, keepdim=True) if diff.shape[-1] else diff.new_zeros(*diff.shape[:-1], 1)
    if math.isinf(p):
        return m.squeeze(-1)
    safe = torch.where(m > 0, m, torch.ones_like(m))
    return m.squeeze(-1) * torch.linalg.vector_norm(diff / safe, ord=p, dim=-1)


def lp_pow_grad(diff: torch.Tensor, p: float, q: float, norm: torch.Tensor | None = None) -> torch.Tensor:
    """d ||u||_p^q / du at u = diff, row-wise: [..., D] -> [..., D]; zero where u = 0.

    Finite p: q ||u||^(q-1) sign(u) (|u| / ||u||)^(p-1), the same as q ||u||^(q-p) sign(u) |u|^(p-1)
    but with no factor that overflows or underflows unless the gradient itself does.
    p = inf: q ||u||^(q-1) sign(u_k) at the first k of largest |u_k| (a subgradient).  The
    zero-distance case gets the zero subgradient rather than the NaN/inf that autograd through a
    norm produces there.
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
        grad = diff / safe
        scale = q * safe.pow(q - 1)
    else:
        grad = diff.sign() * (diff.abs() / safe).pow(p - 1)
        scale = q * safe.pow(q - 1)
    return torch.where(nonzero, grad * scale, torch.zeros_like(grad))


# ------------------------------------------------------------------------- nearest neighbours
def merge_min(best: tuple | None, part: tuple) -> tuple:
    """The running (min, argmin) of min_distance's searches, merged per query.

    best, part: (values [N], indices [N] int64, *carried [N, ...]); best None for the first part.
    Returns best with each query's entries taken from `part` where part's value is smaller, or
    equal with a lower index: the lowest index wins ties whatever order the parts come in. The
    carried tensors (e.g. the selected bank rows) follow the choice. Used by the torch reference's
    chunks, a streamed bank's chunks and so each rank's scan of its shard.
    """
    if best is None:
        return tuple(part)
    values, indices = part[0], part[1]
    better = (values < best[0]) | ((values == best[0]) & (indices < best[1]))
    return tuple(torch.where(better.view(-1, *([1] * (new.dim() - 1))), new, old) for new, old in zip(part, best))


def selected_pair_grad(x2: torch.Tensor, rows: torch.Tensor, p: float, q: float, grad_values: torch.Tensor) -> torch.Tensor:
    """grad_values[i] * d||x2_i - rows_i||_p^q / dx2_i: [N, D], in rows' dtype. The one gradient of
    min_distance, through the selected bank rows (the gradient w.r.t. those rows is its negative).

    The norm goes through diff / max |diff|: right for any representable distance, and branch-free
    (the in-memory backward is traced by torch.compile); O(N D), small beside the search's O(N Q D).
    """
    diff = x2.to(rows.dtype) - rows
    return lp_pow_grad(diff, p, q, lp_norm_scaled(diff, p)) * grad_values.to(rows.dtype)[:, None]
