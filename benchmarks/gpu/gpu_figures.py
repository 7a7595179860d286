"""GPU figures for benchmarks/gpu/run.sh (the one-call GPU check): kernel parity on the device, the
kernels' speed against torch's own ops on the same shapes in the same run, and the training table.

    python benchmarks/gpu/gpu_figures.py parity --out $OUT          -> $OUT/gpu-parity.json
    python benchmarks/gpu/gpu_figures.py bench  --out $OUT          -> $OUT/gpu-figures.json
    python benchmarks/gpu/gpu_figures.py report --out $OUT --date D -> $OUT/gpu-D.md (reads the rest)

Every figure is a ratio to a reference timed in the same process on the same device:
- min_distance p=2, N=4096, Q=262144, D=784 against a TF32 matmul of the same [N,D]x[D,Q] product
  ("% of TF32 matmul rate", 2NQD flops / time) and against torch.cdist + min over bank chunks
  ("x over cdist+min");
- dispersion and f_divergence_bound against the copy bandwidth of a clone of a 1 GiB tensor
  ("% of copy bandwidth", the bytes each op must move / time), with each shape classed memory- or
  compute-bound by its flops per byte against the measured FP32 (non-TF32) matmul rate / copy bandwidth.
Each op is timed twice: the public op (argument checks, the finite check's min/max pass over the
inputs, dispatch) and the raw kernel behind it, so the overhead of the checks shows apart.
Timing: torch.cuda.Event pairs around single calls after warm-up (Triton compiles and autotunes in
the warm-up); the median of the timed calls.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch

from omasgan.ops._common import auto_preference

N, Q, D = 4096, 262144, 784
KERNEL_BACKENDS = auto_preference("cuda")  # the backends "auto" may pick for CUDA tensors: cuda, triton


# --------------------------------------------------------------------------------------- helpers
def cuda_time_ms(fn, warmup: int = 3, reps: int = 10, max_seconds: float = 8.0) -> float:
    """Median milliseconds of fn() (synchronised events around each call) after `warmup` calls."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times, started = [], time.perf_counter()
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
        if time.perf_counter() - started > max_seconds:
            break
    return statistics.median(times)


def guarded(record: dict, key: str, fn):
    """record[key] = fn(), or {"error": ...} when it raises (a failed figure never stops the run)."""
    try:
        record[key] = fn()
    except Exception as err:  # noqa: BLE001 - recorded, the run goes on
        record[key] = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()[-2000:]}
        print(f"[gpu_figures] {key}: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
    finally:
        torch.cuda.empty_cache()
    return record[key]


def device_info() -> dict:
    from omasgan.ops import available_backends

    props = torch.cuda.get_device_properties(0)
    info = {"device": torch.cuda.get_device_name(0), "capability": list(torch.cuda.get_device_capability(0)),
            "memory_gib": round(props.total_memory / 2**30, 1), "sm_count": props.multi_processor_count,
            "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
            "backends_on_cuda": available_backends("cuda")}
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError as err:
        info["triton"] = f"missing ({err})"
    return info


def backends_here() -> list[str]:
    from omasgan.ops import available_backends

    have = available_backends("cuda")
    return [b for b in KERNEL_BACKENDS if b in have]


# ---------------------------------------------------------------------------------------- parity
def parity(out: Path) -> int:
    """Each op on CUDA tensors, for the cuda and triton backends, against the torch backend in
    float64 (forward and gradients). tests/ run the per-op tests on CPU-device backends only (the
    Triton kernels under TRITON_INTERPRET=1), so this is where the Triton kernels meet a real GPU."""
    from omasgan import ops

    torch.manual_seed(0)
    result = {"info": device_info(), "checks": {}, "planned_groups": len(KERNEL_BACKENDS) * 2 * (4 + 3)}
    failures = 0

    def save():  # after every group: a step that times out still leaves what it checked
        result["failures"] = sum(1 if "error" in rows else sum(not r["ok"] for r in rows.values())
                                 for rows in result["checks"].values())
        (out / "gpu-parity.json").write_text(json.dumps(result, indent=1) + "\n")

    def close(got, expect, tol):
        got, expect = got.double(), expect.double()
        err = (got - expect).abs().max().item() if got.numel() else 0.0
        scale = expect.abs().max().item() if expect.numel() else 1.0
        return err <= tol * max(1.0, scale), err

    for backend in KERNEL_BACKENDS:
        for dtype in (torch.float32, torch.float64):
            tol = 2e-4 if dtype == torch.float32 else 1e-9
            for p in (2.0, 1.0, 3.0, math.inf):  # p = 2 first: the kernels training uses
                name = f"{backend}/{str(dtype).split('.')[-1]}/p={p}"

                def check(backend=backend, dtype=dtype, p=p, tol=tol):
                    x = torch.randn(97, 70, device="cuda", dtype=dtype, requires_grad=True)
                    bank = torch.randn(3001, 70, device="cuda", dtype=dtype, requires_grad=True)
                    rows = {}
                    v, i = ops.min_distance(x, bank, p, 1.0, backend=backend)
                    gx, gb = torch.autograd.grad(v.sum(), (x, bank))
                    x64, b64 = x.detach().double().requires_grad_(), bank.detach().double().requires_grad_()
                    rv, _ = ops.min_distance(x64, b64, p, 1.0, backend="torch")
                    rgx, rgb = torch.autograd.grad(rv.sum(), (x64, b64))
                    rows["min_distance"] = close(v, rv, tol)
                    rows["min_distance_grad_x"] = close(gx, rgx, tol * 10)
                    rows["min_distance_grad_bank"] = close(gb, rgb, tol * 10)
                    y = torch.randn(130, 70, device="cuda", dtype=dtype)
                    rows["pairwise_distance"] = close(ops.pairwise_distance(x.detach(), y, p, 1.0, backend=backend),
                                                      ops.pairwise_distance(x64.detach(), y.double(), p, 1.0, backend="torch"), tol)
                    z = torch.randn(64, 16, device="cuda", dtype=dtype, requires_grad=True)
                    b = torch.randn(64, 70, device="cuda", dtype=dtype, requires_grad=True)
                    s = ops.dispersion(z, b, p, 1.0, backend=backend)
                    gz, gbb = torch.autograd.grad(s, (z, b))
                    z64, bb64 = z.detach().double().requires_grad_(), b.detach().double().requires_grad_()
                    rs = ops.dispersion(z64, bb64, p, 1.0, backend="torch")
                    rgz, rgbb = torch.autograd.grad(rs, (z64, bb64))
                    rows["dispersion"] = close(s, rs, tol)
                    rows["dispersion_grad_z"] = close(gz, rgz, tol * 10)
                    rows["dispersion_grad_b"] = close(gbb, rgbb, tol * 10)
                    return {k: {"ok": ok, "max_abs_err": err} for k, (ok, err) in rows.items()}

                guarded(result["checks"], name, check)
                save()
            for div in ("pearson", "kl", "jensen_shannon"):
                name = f"{backend}/{str(dtype).split('.')[-1]}/f_divergence_bound/{div}"

                def check_f(backend=backend, dtype=dtype, div=div, tol=tol):
                    vp = torch.randn(100_003, device="cuda", dtype=dtype, requires_grad=True)
                    vq = torch.randn(77_777, device="cuda", dtype=dtype, requires_grad=True)
                    val = ops.f_divergence_bound(vp, vq, div, backend=backend)
                    gp, gq = torch.autograd.grad(val, (vp, vq))
                    p64, q64 = vp.detach().double().requires_grad_(), vq.detach().double().requires_grad_()
                    ref = ops.f_divergence_bound(p64, q64, div, backend="torch")
                    rgp, rgq = torch.autograd.grad(ref, (p64, q64))
                    rows = {"value": close(val, ref, tol), "grad_p": close(gp, rgp, tol), "grad_q": close(gq, rgq, tol)}
                    return {k: {"ok": ok, "max_abs_err": err} for k, (ok, err) in rows.items()}

                guarded(result["checks"], name, check_f)
                save()
    save()
    failures = result["failures"]
    print(f"[gpu_figures] parity: {failures} failing checks of {len(result['checks'])} groups")
    return 1 if failures else 0


# ----------------------------------------------------------------------------------------- bench
def bench(out: Path) -> int:
    from omasgan import divergences
    from omasgan.ops import dispersion as dispersion_op, f_divergence_bound, min_distance
    # by importlib: omasgan.ops rebinds the names dispersion and min_distance to the functions
    dispersion_module = importlib.import_module("omasgan.ops.dispersion")
    f_divergence_module = importlib.import_module("omasgan.ops.f_divergence")
    min_distance_module = importlib.import_module("omasgan.ops.min_distance")

    figures = {"info": device_info(), "backends": backends_here(), "min_distance": {}, "reference": {},
               "dispersion": {}, "f_divergence_bound": {}}
    path = out / "gpu-figures.json"

    def save():
        path.write_text(json.dumps(figures, indent=1) + "\n")

    gen = torch.Generator(device="cuda").manual_seed(0)
    ref = figures["reference"]

    # ---- references: copy bandwidth, FP32 (SIMT) rate
    def copy_bw():
        t = torch.empty(2**28, device="cuda")  # 1 GiB
        ms = cuda_time_ms(lambda: t.clone(), warmup=3, reps=20)
        return {"bytes": 2 * t.numel() * 4, "ms": ms, "GBps": 2 * t.numel() * 4 / ms / 1e6}

    guarded(ref, "copy", copy_bw)

    def fp32_rate():
        torch.backends.cuda.matmul.allow_tf32 = False
        a = torch.randn(8192, 8192, device="cuda", generator=gen)
        ms = cuda_time_ms(lambda: a @ a, warmup=2, reps=5)
        return {"shape": [8192, 8192, 8192], "ms": ms, "TFLOPs": 2 * 8192**3 / ms / 1e9}

    guarded(ref, "fp32_matmul", fp32_rate)
    save()

    # ---- min_distance p=2 at N, Q, D
    x = torch.randn(N, D, device="cuda", generator=gen)
    bank = torch.randn(Q, D, device="cuda", generator=gen)
    flops = 2 * N * Q * D
    md = figures["min_distance"]
    md["shape"] = {"N": N, "Q": Q, "D": D, "p": 2.0, "q": 1.0, "dtype": "float32", "flops_2NQD": flops}

    def tf32_matmul():
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            ms = cuda_time_ms(lambda: x @ bank.T, warmup=3, reps=10)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = False
        return {"ms": ms, "TFLOPs": flops / ms / 1e9}

    guarded(md, "tf32_matmul", tf32_matmul)

    def cdist_min(chunk=65536):
        # torch's default matmul precision (allow_tf32 False) here: cdist's own "mm for euclid" path.
        def run():
            best_v = best_i = None
            for a in range(0, Q, chunk):
                v, i = torch.cdist(x, bank[a:a + chunk]).min(dim=1)
                if best_v is None:
                    best_v, best_i = v, i
                else:
                    take = v < best_v
                    best_v, best_i = torch.where(take, v, best_v), torch.where(take, i + a, best_i)
            return best_v, best_i

        ms = cuda_time_ms(run, warmup=1, reps=5)
        v, i = run()
        md["_cdist_result"] = (v, i)
        return {"ms": ms, "chunk": chunk, "allow_tf32": torch.backends.cuda.matmul.allow_tf32}

    guarded(md, "cdist_min", cdist_min)
    save_ref = md.pop("_cdist_result", None)

    for backend in figures["backends"]:
        def one(backend=backend):
            with torch.no_grad():
                ms = cuda_time_ms(lambda: min_distance(x, bank, 2.0, 1.0, backend=backend), warmup=3, reps=10)
                kernel = min_distance_module._kernel(backend)
                ms_kernel = cuda_time_ms(lambda: kernel(x, bank, 2.0, 1.0), warmup=2, reps=10)
                v, i = min_distance(x, bank, 2.0, 1.0, backend=backend)
            row = {"ms": ms, "kernel_ms": ms_kernel, "TFLOPs": flops / ms / 1e9}
            mm, cd = md.get("tf32_matmul", {}), md.get("cdist_min", {})
            if "ms" in mm:
                row["pct_of_tf32_matmul_rate"] = 100 * mm["ms"] / ms
                row["kernel_pct_of_tf32_matmul_rate"] = 100 * mm["ms"] / ms_kernel
            if "ms" in cd:
                row["x_over_cdist_min"] = cd["ms"] / ms
            if save_ref is not None:
                rv, ri = save_ref
                row["max_rel_err_vs_cdist"] = ((v - rv).abs() / rv.abs().clamp_min(1e-6)).max().item()
                row["index_agreement_vs_cdist"] = (i == ri).double().mean().item()
            row["meets_targets"] = (row.get("pct_of_tf32_matmul_rate", 0) >= 60 and row.get("x_over_cdist_min", 0) >= 3)
            return row

        guarded(md, backend, one)
        save()
    del x, bank, save_ref
    torch.cuda.empty_cache()

    copy_gbps = ref.get("copy", {}).get("GBps")
    fp32_tflops = ref.get("fp32_matmul", {}).get("TFLOPs")
    ridge = fp32_tflops * 1e12 / (copy_gbps * 1e9) if copy_gbps and fp32_tflops else None  # flops/byte
    ref["ridge_flops_per_byte"] = ridge

    def classify(row, flops_, bytes_):
        row["bytes"], row["flops"] = bytes_, flops_
        row["flops_per_byte"] = flops_ / bytes_
        row["memory_bound"] = None if ridge is None else row["flops_per_byte"] < ridge
        if copy_gbps:
            for key in ("ms", "kernel_ms"):
                if key in row:
                    row[key.replace("ms", "pct_of_copy_bandwidth").lstrip("_")] = 100 * bytes_ / row[key] / 1e6 / copy_gbps
        if fp32_tflops:
            row["pct_of_fp32_rate"] = 100 * flops_ / row["ms"] / 1e9 / fp32_tflops
        row["meets_target"] = (row.get("pct_of_copy_bandwidth", 0) >= 70) if row["memory_bound"] else None
        return row

    # ---- dispersion: a training batch (B = DCGAN 64, z 128, images 784), large N (compute-bound:
    # 3 (N - 1) / 8 flops a byte), and few rows of many features, the one memory-bound kind of shape
    for n, dz, db in ((64, 128, 784), (1024, 128, 784), (8192, 128, 784), (16, 2**18, 2**18)):
        z = torch.randn(n, dz, device="cuda", generator=gen)
        b = torch.randn(n, db, device="cuda", generator=gen)
        pairs = n * (n - 1) // 2
        for backend in figures["backends"]:
            key = f"{backend}/N{n}-Dz{dz}-Db{db}"

            def one(backend=backend, z=z, b=b, n=n, dz=dz, db=db, pairs=pairs):
                fwd, _ = dispersion_module._kernels(backend)
                with torch.no_grad():
                    row = {"ms": cuda_time_ms(lambda: dispersion_op(z, b, backend=backend)),
                           "kernel_ms": cuda_time_ms(lambda: fwd(z, b, 2.0, 1.0, 1e-8))}
                # bytes: z and b read once; flops: each pair's two p=2 norms, ~3 flops a feature
                return classify(row, 3 * pairs * (dz + db), n * (dz + db) * 4)

            guarded(figures["dispersion"], key, one)
        save()

    # ---- f_divergence_bound: two vectors of 2^26 float32 (256 MiB each)
    m = 2**26
    vp = torch.randn(m, device="cuda", generator=gen)
    vq = torch.randn(m, device="cuda", generator=gen)
    grad = torch.ones((), device="cuda")
    for div in ("pearson", "jensen_shannon"):
        code = divergences.get(div).code
        for backend in figures["backends"]:
            key = f"{backend}/{div}/Np=Nq=2^26"

            def one(backend=backend, div=div, code=code):
                fwd, bwd = f_divergence_module._kernels(backend)
                with torch.no_grad():
                    row = {"ms": cuda_time_ms(lambda: f_divergence_bound(vp, vq, div, backend=backend)),
                           "kernel_ms": cuda_time_ms(lambda: fwd(vp, vq, code))}
                    back_ms = cuda_time_ms(lambda: bwd(grad, vp, vq, code))
                row = classify(row, 10 * 2 * m, 2 * m * 4)  # reads both once; ~10 flops a value (a guess)
                row["backward_kernel_ms"] = back_ms
                if copy_gbps:  # backward reads both and writes both gradients
                    row["backward_kernel_pct_of_copy_bandwidth"] = 100 * 4 * m * 4 / back_ms / 1e6 / copy_gbps
                return row

            guarded(figures["f_divergence_bound"], key, one)
        save()
    save()
    print(json.dumps({k: v for k, v in figures.items() if k != "info"}, indent=1, default=str))
    return 0


# ---------------------------------------------------------------------------------------- report
def _fmt(v, spec=".1f"):
    return format(v, spec) if isinstance(v, (int, float)) and v is not None else "-"


def report(out: Path, date: str) -> int:
    def load(name):
        try:
            return json.loads((out / name).read_text())
        except (OSError, ValueError):
            return {}

    figs, par, train, env = load("gpu-figures.json"), load("gpu-parity.json"), load("training.json"), load("env.json")
    info = figs.get("info") or par.get("info") or env
    steps = load("steps.json")
    lines = [f"# GPU run {date}: {info.get('device', 'unknown device')}", "",
             f"torch {info.get('torch', '?')}, CUDA {info.get('cuda', '?')}, triton {info.get('triton', '?')}, "
             f"Python {info.get('python', '?')}; backends on cuda: {', '.join(info.get('backends_on_cuda', []) or ['?'])}.",
             "Produced by benchmarks/gpu/run.sh; raw figures in gpu-figures.json, gpu-parity.json, training.json.", ""]
    if steps:
        lines += ["## Steps", "", "| step | rc | seconds |", "|---|---|---|"]
        lines += [f"| {s['step']} | {s['rc']} | {s['seconds']} |" for s in steps.get("steps", [])]
        lines.append("")
    if par:
        lines += [f"## Parity on the GPU (cuda, triton vs the torch backend in float64): {par.get('failures', '?')} failing, "
                  f"{len(par.get('checks', {}))} of {par.get('planned_groups', '?')} groups run", ""]
        bad = [k for k, rows in par.get("checks", {}).items()
               if "error" in rows or any(not r["ok"] for r in rows.values())]
        lines += [f"- failing: {k}" for k in bad] or ["- all checks pass"]
        lines.append("")
    ref = figs.get("reference", {})
    lines += ["## Kernels against torch on the same device", "",
              f"copy bandwidth (clone of 1 GiB): {_fmt(ref.get('copy', {}).get('GBps'), '.0f')} GB/s; "
              f"FP32 matmul: {_fmt(ref.get('fp32_matmul', {}).get('TFLOPs'))} TFLOP/s; "
              f"ridge {_fmt(ref.get('ridge_flops_per_byte'))} flop/byte.", ""]
    md = figs.get("min_distance", {})
    lines += [f"min_distance p=2, N={N}, Q={Q}, D={D}: TF32 matmul {_fmt(md.get('tf32_matmul', {}).get('ms'), '.2f')} ms "
              f"({_fmt(md.get('tf32_matmul', {}).get('TFLOPs'))} TFLOP/s), cdist+min {_fmt(md.get('cdist_min', {}).get('ms'), '.2f')} ms.", "",
              "| backend | ms | kernel ms | % of TF32 matmul rate | x over cdist+min | index agreement | target (>=60%, >=3x) |",
              "|---|---|---|---|---|---|---|"]
    for b in KERNEL_BACKENDS:
        r = md.get(b)
        if r is None:
            continue
        if "error" in r:
            lines.append(f"| {b} | error: {r['error'][:80]} | | | | | |")
            continue
        lines.append(f"| {b} | {_fmt(r['ms'], '.2f')} | {_fmt(r['kernel_ms'], '.2f')} | {_fmt(r.get('pct_of_tf32_matmul_rate'))} | "
                     f"{_fmt(r.get('x_over_cdist_min'), '.2f')} | {_fmt(r.get('index_agreement_vs_cdist'), '.4f')} | "
                     f"{'met' if r.get('meets_targets') else 'NOT met'} |")
    lines.append("")
    for op in ("dispersion", "f_divergence_bound"):
        lines += [f"{op}:", "", "| case | ms | kernel ms | % of copy bandwidth | kernel % of copy bw | memory-bound | % of FP32 rate | target (>=70%) |",
                  "|---|---|---|---|---|---|---|---|"]
        for k, r in figs.get(op, {}).items():
            if "error" in r:
                lines.append(f"| {k} | error: {r['error'][:80]} | | | | | | |")
                continue
            target = "-" if r.get("meets_target") is None else ("met" if r["meets_target"] else "NOT met")
            lines.append(f"| {k} | {_fmt(r['ms'], '.3f')} | {_fmt(r['kernel_ms'], '.3f')} | {_fmt(r.get('pct_of_copy_bandwidth'))} | "
                         f"{_fmt(r.get('kernel_pct_of_copy_bandwidth'))} | {r.get('memory_bound')} | {_fmt(r.get('pct_of_fp32_rate'))} | {target} |")
        lines.append("")
    if train:
        lines += ["## OMASGAN on MNIST dev, abnormal class " + str(train.get("abnormal_class", "?")), "",
                  "| preset | device | rc | seconds | steps/s per stage | J dev AUROC | dev AUROC (score) |", "|---|---|---|---|---|---|---|"]
        for name, r in train.get("runs", {}).items():
            rates = ", ".join(f"{s}: {_fmt(v)}" for s, v in r.get("steps_per_second", {}).items()) or "-"
            lines.append(f"| {name} | {r.get('device')} | {r.get('rc')} | {r.get('seconds')} | {rates} | "
                         f"{_fmt(r.get('J_auroc'), '.3f')} | {_fmt(r.get('auroc'), '.3f')} |")
        lines.append("")
    (out / f"gpu-{date}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def training(out: Path, runs: list[str], abnormal_class: str) -> int:
    """Collects each run folder's stage throughput (metrics.jsonl) and AUROCs into training.json.
    runs: name=device=folder=rc=seconds."""
    table = {"abnormal_class": abnormal_class, "runs": {}}
    for spec in runs:
        name, device, folder, rc, seconds = spec.split("=", 4)
        row = {"device": device, "rc": int(rc), "seconds": int(seconds), "folder": folder}
        cls = Path(folder) / f"class_{abnormal_class}"
        steps, secs = {}, {}
        try:
            for line in (cls / "metrics.jsonl").read_text().splitlines():
                r = json.loads(line)
                if "stage" in r and "steps" in r and "seconds" in r:
                    steps[r["stage"]] = steps.get(r["stage"], 0) + r["steps"]
                    secs[r["stage"]] = secs.get(r["stage"], 0.0) + r["seconds"]
        except (OSError, ValueError) as err:
            row["metrics_error"] = str(err)
        row["steps"] = steps
        row["steps_per_second"] = {s: steps[s] / secs[s] for s in steps if secs.get(s)}
        try:
            terms = json.loads((cls / "score_terms_auroc.json").read_text())
            row["term_aurocs"], row["J_auroc"] = terms, terms.get("J")
        except (OSError, ValueError) as err:
            row["terms_error"] = str(err)
        try:
            results = json.loads((Path(folder) / "results.json").read_text())
            row["auroc"] = next((r.get("auroc") for r in results if str(r.get("abnormal_class")) == abnormal_class), None)
        except (OSError, ValueError, AttributeError) as err:
            row["results_error"] = str(err)
        table["runs"][name] = row
    (out / "training.json").write_text(json.dumps(table, indent=1) + "\n")
    print(json.dumps(table, indent=1))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("parity", "bench", "report", "training"))
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")))
    ap.add_argument("--date", default=time.strftime("%Y-%m-%d"))
    ap.add_argument("--abnormal-class", default="0")
    ap.add_argument("--run", action="append", default=[], help="training: name=device=folder=rc=seconds")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.what == "report":
        return report(args.out, args.date)
    if args.what == "training":
        return training(args.out, args.run, args.abnormal_class)
    if not torch.cuda.is_available():
        print("[gpu_figures] torch.cuda.is_available() is False", file=sys.stderr)
        return 2
    return parity(args.out) if args.what == "parity" else bench(args.out)


if __name__ == "__main__":
    sys.exit(main())
