"""Fails when a kernel got slower RELATIVE to its same-run torch reference, against a saved baseline.

    python benchmarks/compare_ratios.py BASELINE.json CURRENT.json [--margin 0.25] [--stat min]

Both files are pytest-benchmark JSON (--benchmark-save / --benchmark-json). Absolute times do not
carry across machines (AVX2-only vs AVX-512 CPUs, 2 shared cores vs a quiet box), so what is compared
is, per case, ratio = time(kernel) / time(torch reference) in the SAME run: for each benchmark group
and parameter set (p, divergence, ...), the `impl` values starting with "omasgan_cpu" against the
first reference impl present (REFERENCES). A case fails when its ratio grows by more than --margin
(0.25: 25%) over the baseline's ratio. Load from other jobs on the cores slows both sides of a ratio
alike; it moves ratios by roughly +-15% between runs here (benchmarks/RESULTS.md), hence the 25%.
The `min` over rounds is the default statistic: the least disturbed by such load.

Exit status: 0 all within the margin, 1 a case worsened (or is missing from CURRENT), 2 bad input.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# The torch formulation each kernel is measured against (benchmarks/bench_*.py), in preference order.
REFERENCES = ("torch_cdist_min", "torch_cdist", "torch_composed")
KERNEL_PREFIX = "omasgan_cpu"


def ratios(path: Path, stat: str) -> dict[str, tuple[float, str]]:
    """{case: (kernel time / reference time, "kernel / reference")} of one pytest-benchmark JSON."""
    data = json.loads(path.read_text())
    cases: dict[tuple, dict[str, float]] = {}
    for bench in data.get("benchmarks", []):
        params = dict(bench.get("params") or {})
        impl = params.pop("impl", None)
        if impl is None or bench["stats"].get(stat) is None:
            continue
        key = (bench.get("group") or bench["name"].split("[")[0], tuple(sorted((k, str(v)) for k, v in params.items())))
        cases.setdefault(key, {})[impl] = bench["stats"][stat]
    found = {}
    for (group, params), times in sorted(cases.items()):
        reference = next((r for r in REFERENCES if r in times), None)
        if reference is None:
            continue
        label = group + "".join(f" {k}={v}" for k, v in params)
        for impl, seconds in sorted(times.items()):
            if impl.startswith(KERNEL_PREFIX):
                found[f"{label}: {impl}"] = (seconds / times[reference], f"{impl} / {reference}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline", type=Path)
    parser.add_argument("current", type=Path)
    parser.add_argument("--margin", type=float, default=0.25, help="allowed relative growth of a ratio (default 0.25)")
    parser.add_argument("--stat", default="min", choices=("min", "median", "mean"), help="statistic over rounds")
    args = parser.parse_args(argv)
    for path in (args.baseline, args.current):
        if not path.is_file():
            print(f"compare_ratios: {path} does not exist", file=sys.stderr)
            return 2
    base, now = ratios(args.baseline, args.stat), ratios(args.current, args.stat)
    if not base:
        print(f"compare_ratios: no kernel/reference pairs in {args.baseline}", file=sys.stderr)
        return 2
    print(f"ratio = kernel / same-run torch reference ({args.stat} of rounds); lower is faster. "
          f"Fails above baseline x {1 + args.margin:.2f}.\nbaseline: {args.baseline}\ncurrent:  {args.current}")
    failed = 0
    for case, (ratio, what) in base.items():
        if case not in now:
            print(f"MISSING {case}: in the baseline, not in this run")
            failed += 1
            continue
        current = now[case][0]
        change = current / ratio - 1
        verdict = "FAIL" if change > args.margin else "ok  "
        failed += verdict == "FAIL"
        print(f"{verdict} {case} ({what}): baseline {ratio:.3f}, now {current:.3f} ({change:+.0%})")
    for case in now.keys() - base.keys():
        print(f"new  {case}: {now[case][0]:.3f} (no baseline)")
    print(f"{failed} of {len(base)} cases worse than the baseline by more than {args.margin:.0%}" if failed
          else f"all {len(base)} ratios within {args.margin:.0%} of the baseline")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
