"""Peak memory and throughput of min_distance over a memory-mapped bank as Q grows.

    python benchmarks/streaming_memory.py --dir /big/disk/tmp --sizes 1e4 1e5 1e6 1e7

Writes one float32 .npy bank of max(sizes) x D random rows (31 GB for 1e7 x 784), then, for each
Q, runs a fresh process that scans the first Q rows through `omasgan.ops.min_distance` with N
queries and reports its peak resident set (getrusage ru_maxrss) and throughput in query-bank
pairs per second. The file's pages are dropped from the page cache before every run (a cold
read, as for a bank that does not fit in RAM). With --in-memory-up-to, the same Q is also run
with the bank loaded into a tensor, for contrast. Prints a markdown table; deletes the bank
unless --keep.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WRITE_ROWS = 1 << 13


def write_bank(path: Path, rows: int, features: int, seed: int = 0) -> None:
    """A [rows, features] float32 .npy of uniform noise, written in chunks (never all in RAM)."""
    header = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, features))
    offset = header.offset
    del header
    rng = np.random.default_rng(seed)
    with open(path, "r+b") as f:
        f.seek(offset)
        for start in range(0, rows, WRITE_ROWS):
            f.write(rng.random((min(WRITE_ROWS, rows - start), features), dtype=np.float32).tobytes())
        f.flush()
        os.fsync(f.fileno())


def drop_from_page_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def measure(path: str, rows: int, queries: int, in_memory: bool) -> dict:
    """Runs in a fresh process: one min_distance over the first `rows` rows of the bank."""
    import torch

    from omasgan import ops
    from omasgan.ops._common import resolve_backend

    bank = np.load(path, mmap_mode="r")[:rows]
    x = torch.from_numpy(np.random.default_rng(1).random((queries, bank.shape[1]), dtype=np.float32))
    if in_memory:
        bank = torch.from_numpy(np.array(bank))
    ops.min_distance(x, bank[:1])  # warm-up: imports, thread pools, first allocations
    rss_before = _current_rss_mib()
    start = time.perf_counter()
    ops.min_distance(x, bank)
    seconds = time.perf_counter() - start
    return {
        "Q": rows, "N": queries, "D": int(x.shape[1]), "bank": "in-memory tensor" if in_memory else "memmap .npy",
        "backend": resolve_backend("auto", x.device), "seconds": seconds, "pairs_per_s": queries * rows / seconds,
        "rss_before_mib": rss_before,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def run_one(path: Path, rows: int, queries: int, in_memory: bool) -> dict:
    drop_from_page_cache(path)
    cmd = [sys.executable, __file__, "--measure", str(path), str(rows), str(queries)] + (["--in-memory"] if in_memory else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def table(results: list[dict]) -> str:
    lines = [
        "| Q | bank | bank size | backend | seconds | pairs/s | RSS before call (MiB) | peak RSS (MiB) |",
        "|---:|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        size = r["Q"] * r["D"] * 4 / 1e9
        lines.append(
            f"| {r['Q']:,} | {r['bank']} | {size:.2f} GB | {r['backend']} | {r['seconds']:.2f} | "
            f"{r['pairs_per_s']:.3g} | {r['rss_before_mib']:.0f} | {r['peak_rss_mib']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "omasgan-bank",
                        help="where the bank file goes (needs 4 x max(sizes) x d bytes free)")
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e4, 1e5, 1e6, 1e7])
    parser.add_argument("--n", type=int, default=64, help="queries")
    parser.add_argument("--d", type=int, default=784, help="features")
    parser.add_argument("--in-memory-up-to", type=float, default=1e6, help="largest Q also run in memory")
    parser.add_argument("--keep", action="store_true", help="keep the bank file")
    parser.add_argument("--measure", nargs=3, metavar=("PATH", "Q", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--in-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        path, rows, queries = args.measure
        print(json.dumps(measure(path, int(rows), int(queries), args.in_memory)))
        return

    sizes = sorted(int(s) for s in args.sizes)
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"bank_{sizes[-1]}x{args.d}.npy"
    try:
        started = time.perf_counter()
        write_bank(path, sizes[-1], args.d)
        print(f"wrote {path} ({path.stat().st_size / 1e9:.1f} GB) in {time.perf_counter() - started:.0f} s", flush=True)
        results = []
        for rows in sizes:
            for in_memory in ([False, True] if rows <= args.in_memory_up_to else [False]):
                results.append(run_one(path, rows, args.n, in_memory))
                print(json.dumps(results[-1]), flush=True)
        print(table(results))
    finally:
        if not args.keep:
            path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
