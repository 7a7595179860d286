"""Compile every Triton kernel variant for an H100 (sm_90) without a GPU: triton.compile + ptxas.

    python -m omasgan.kernels.compile_check [--first-config] [kernel-name-prefix ...]

The interpreter (TRITON_INTERPRET=1, what the tests use) accepts code a GPU compile rejects:
non-constexpr globals, a variable whose type changes inside an `if`, tiny tl.dot shapes. This
builds each kernel for every p kind / divergence code, dtype and autotune config, and prints
registers and spill stack per variant (from cuobjdump), so configs can be kept spill-free.
Run it with TRITON_INTERPRET unset: under the interpreter only one config per kernel exists.
Exit status 1 if any variant fails to compile.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from triton.runtime.autotuner import Autotuner

from omasgan.kernels import _lp, dispersion, f_divergence, min_distance, pairwise_distance

H100 = GPUTarget("cuda", 90, 32)
_CUOBJDUMP = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
_P_VARIANTS = [
    {"P_KIND": _lp.P_ONE.value, "P_INT": 0},
    {"P_KIND": _lp.P_TWO.value, "P_INT": 0},
    {"P_KIND": _lp.P_INF.value, "P_INT": 0},
    {"P_KIND": _lp.P_INT.value, "P_INT": 3},
    {"P_KIND": _lp.P_GENERAL.value, "P_INT": 0},
]


@dataclass
class Kernel:
    name: str
    kernel: object  # a JITFunction or an Autotuner around one
    variants: list[dict]  # constexpr values beyond the autotuned ones
    int_pointers: dict[str, str] = field(default_factory=dict)  # pointer args that are not the dtype's
    dtypes: tuple[str, ...] = ("fp32", "fp64")
    options: dict = field(default_factory=dict)  # num_warps etc. of non-autotuned kernels


def _kernels() -> list[Kernel]:
    md, pw, ds, fd = min_distance, pairwise_distance, dispersion, f_divergence
    general = {"E_KIND": _lp.E_GENERAL.value}
    return [
        Kernel("nearest_dot", md._nearest_dot_kernel, [{}], {"idx_ptr": "*i32"}, dtypes=("fp32",)),
        Kernel("nearest_direct", md._nearest_direct_kernel, _P_VARIANTS, {"idx_ptr": "*i32"}),
        Kernel("selected_values", md._selected_values_kernel,
               [{**v, **general, "BLOCK_N": md.SELECT_BLOCK_N, "BLOCK_D": md.SELECT_BLOCK_D} for v in _P_VARIANTS],
               {"idx_ptr": "*i64"}),
        Kernel("pairwise", pw._pairwise_kernel,
               [{**v, **general, "WITH_ARGMAX": v["P_KIND"] == _lp.P_INF.value} for v in _P_VARIANTS],
               {"argmax_ptr": "*i32"}),
        Kernel("row_pass", pw._row_pass_kernel, [{**v, **general} for v in _P_VARIANTS], {"argmax_ptr": "*i32"}),
        Kernel("dispersion_forward", ds._dispersion_kernel, [{**v, **general} for v in _P_VARIANTS]),
        Kernel("dispersion_backward", ds._dispersion_backward_kernel,
               [{**v, **general, "E_SCALE_KIND": _lp.E_GENERAL.value} for v in _P_VARIANTS]),
        Kernel("f_divergence_bound", fd._bound_kernel, [{"CODE": c, "BLOCK": fd.BOUND_BLOCK} for c in range(8)],
               options={"num_warps": fd.BOUND_WARPS}),
        Kernel("f_divergence_bound_backward", fd._bound_backward_kernel,
               [{"CODE": c, "BLOCK": fd.BOUND_BLOCK} for c in range(8)], options={"num_warps": fd.BOUND_WARPS}),
    ]


def _signature(fn, constexprs: dict, dtype: str, int_pointers: dict) -> dict:
    signature = {}
    for param in fn.params:
        if param.is_constexpr:
            signature[param.name] = "constexpr"
        elif param.annotation:  # the tl.float64 scalars
            signature[param.name] = param.annotation
        elif param.name.endswith("_ptr"):
            signature[param.name] = int_pointers.get(param.name, "*" + dtype)
        else:
            signature[param.name] = "i32"
    return signature


def _resources(compiled) -> str:
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(compiled.asm["cubin"])
        f.flush()
        dump = subprocess.run([_CUOBJDUMP, "-res-usage", f.name], capture_output=True, text=True).stdout
    found = re.search(r"REG:(\d+).*?STACK:(\d+)", dump)
    return f"registers {found.group(1)}, spill stack {found.group(2)} B" if found else "resources unknown"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="kernel name prefixes (default: all)")
    parser.add_argument("--first-config", action="store_true", help="only the first autotune config")
    args = parser.parse_args(argv)
    if _lp.INTERPRET:
        parser.error("unset TRITON_INTERPRET: the interpreter keeps one config per kernel")
    failures = total = 0
    for k in _kernels():
        if args.names and not any(k.name.startswith(n) for n in args.names):
            continue
        autotuned = isinstance(k.kernel, Autotuner)
        fn = k.kernel.fn if autotuned else k.kernel
        configs = k.kernel.configs[: 1 if args.first_config else None] if autotuned else [None]
        for dtype in k.dtypes:
            for variant in k.variants:
                for config in configs:
                    constexprs = {**variant, **(config.kwargs if config else {})}
                    options = dict(num_warps=config.num_warps, num_stages=config.num_stages) if config else k.options
                    label = f"{k.name} {dtype} {variant} {config.kwargs if config else ''} {options}"
                    total += 1
                    try:
                        source = ASTSource(fn, _signature(fn, constexprs, dtype, k.int_pointers), constexprs)
                        print(f"ok    {label}: {_resources(triton.compile(source, target=H100, options=options))}")
                    except Exception as error:  # report every failing variant, not just the first
                        failures += 1
                        print(f"FAIL  {label}: {str(error).strip().splitlines()[-1] if str(error) else repr(error)}")
                    sys.stdout.flush()
    print(f"{total - failures} of {total} variants compiled for sm_90")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
