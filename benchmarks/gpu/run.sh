#!/usr/bin/env bash
# One GPU run (a device is lent for minutes, so everything goes in one call): build, kernel tests,
# kernel benchmarks against torch, and the OMASGAN training table, in ONE call of at most ~8 minutes
# (benchmarks/RESULTS.md, "GPU run").
#
#   OUT=/some/empty/dir bash benchmarks/gpu/run.sh        # from the repository root
#
# Made for the device tool: an H100/H200, 16 cores, its own torch + triton, no internet, the
# repository as working directory, $OUT copied back. Every step runs under its own `timeout`
# (capped by what is left of GPU_RUN_BUDGET seconds); a failed step is recorded in
# $OUT/steps.tsv and the run goes on. Nothing installs into a venv: pip builds against the
# device's own torch (--no-build-isolation; --no-deps, as there is no index to resolve against).
#
# MNIST (step 4): $OMASGAN_DATA_ROOT (or $OMASGAN_DATA; default data/ in the repository,
# git-ignored) in torchvision's
# layout, MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz. The caller copies the four
# official .gz files there and names that folder (data) in the device tool's `carry` list.
#
# Knobs (environment): OUT, PYTHON, GPU_RUN_BUDGET (seconds, default 470), OMASGAN_DATA_ROOT,
# ABNORMAL_CLASS (default 0), LARGE_SETS (--set overrides capping the large preset),
# QUICK_CORES (cores for the CPU quick run beside it, default 8-15).
set -u -f  # -f: no globbing (the --set values hold brackets)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
OUT=${OUT:?set OUT to an empty folder}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-python3}
BUDGET=${GPU_RUN_BUDGET:-470}
DATE=$(date -u +%Y-%m-%d)
DATA=${OMASGAN_DATA_ROOT:-${OMASGAN_DATA:-$ROOT/data}}
case $DATA in /*) ;; *) DATA=$ROOT/$DATA ;; esac
CLS=${ABNORMAL_CLASS:-0}
LARGE_SETS=${LARGE_SETS:-"--set epochs=[1,1,1,1] --set steps_per_epoch=[400,100,100,100]"}
QUICK_CORES=${QUICK_CORES:-8-15}
HELPER="$ROOT/benchmarks/gpu/gpu_figures.py"
export PYTHONUNBUFFERED=1 MAX_JOBS=${MAX_JOBS:-16} FORCE_CUDA=${FORCE_CUDA:-1}
# No index, and maybe a distribution's Python: pip must neither reach out (its version check
# would wait on the network) nor refuse an "externally managed" interpreter.
export PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_BREAK_SYSTEM_PACKAGES=1
unset TRITON_INTERPRET OMASGAN_BACKEND  # the interpreter would time and test Python, not the GPU
START=$SECONDS

printf 'step\trc\tseconds\n' >"$OUT/steps.tsv"

# left: seconds left of the budget
left() { echo $((BUDGET - (SECONDS - START))); }

# step NAME CAP LOG CMD...: runs CMD under timeout min(CAP, left - 5), stdout+stderr to $OUT/LOG.
# Never stops the script; records rc (124 = timed out, 125 = skipped: no time left).
step() {
    local name=$1 cap=$2 log=$3; shift 3
    local t; t=$(left); t=$((t - 5)); [ "$t" -gt "$cap" ] && t=$cap
    local t0=$SECONDS rc
    if [ "$t" -lt 10 ]; then
        echo "[run.sh] $name: skipped, $(left)s left" | tee -a "$OUT/$log"
        rc=125
    else
        echo "[run.sh] $name (timeout ${t}s, $(left)s left)"
        timeout -k 10 "$t" "$@" >>"$OUT/$log" 2>&1
        rc=$?
    fi
    printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - t0))" >>"$OUT/steps.tsv"
    echo "[run.sh] $name: rc=$rc in $((SECONDS - t0))s"
    return 0
}

# ------------------------------------------------------------------ 1. environment and build
{
    echo "date: $(date -u)"; echo "host: $(hostname)"; echo "nproc: $(nproc)"
    echo "python: $(command -v "$PY") $($PY --version 2>&1)"
    echo "nvcc: $(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || echo missing)"
    echo "ninja: $(ninja --version 2>/dev/null || echo missing)"
    echo "git: $(git rev-parse HEAD 2>/dev/null) $(git status --short 2>/dev/null | wc -l) changed files"
} >"$OUT/env.txt" 2>&1
step nvidia-smi 20 nvidia-smi.txt nvidia-smi
step versions 60 env.txt "$PY" - "$OUT/env.json" <<'EOF'
import importlib, json, sys
info = {}
import torch
info.update(torch=torch.__version__, cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
            cuda_available=torch.cuda.is_available(), python=sys.version.split()[0])
if torch.cuda.is_available():
    info["device"] = torch.cuda.get_device_name(0)
    info["capability"] = list(torch.cuda.get_device_capability(0))
for mod in ("triton", "torchvision", "numpy", "sklearn", "tqdm", "matplotlib", "ninja", "filelock",
            "pytest", "hypothesis", "pytest_benchmark", "yaml"):
    try:
        info[mod] = getattr(importlib.import_module(mod), "__version__", "present")
    except Exception as err:
        info[mod] = f"MISSING ({type(err).__name__}: {err})"
print(json.dumps(info, indent=1))
open(sys.argv[1], "w").write(json.dumps(info, indent=1) + "\n")
EOF

step build 170 build.log "$PY" -m pip install --no-build-isolation --no-deps -v -e .
if [ "$(tail -n1 "$OUT/steps.tsv" | cut -f2)" != 0 ] && [ "$(left)" -gt 150 ]; then
    # The CUDA half failed: build the C++ half alone, so the triton backend and the rest still run.
    echo "[run.sh] build with the CUDA half failed; retrying with OMASGAN_NO_CUDA=1" | tee -a "$OUT/build.log"
    step build-no-cuda 90 build.log env FORCE_CUDA=0 OMASGAN_NO_CUDA=1 "$PY" -m pip install --no-build-isolation --no-deps -e .
fi
# From here on no process compiles omasgan._C on first use (a failed build would cost each step
# its own failed compile): what the install built is what runs.
export OMASGAN_EXT_MODE=installed
step backends 60 env.txt "$PY" -c "
import torch, omasgan, omasgan._ext as e
from omasgan.ops import available_backends
print('omasgan', omasgan.__file__)
print('min_distance_cuda built:', e.has('min_distance_cuda'))
print('backends on cuda:', available_backends('cuda'))
print('backends on cpu:', available_backends('cpu'))
assert 'cuda' in available_backends('cuda') and 'triton' in available_backends('cuda'), 'a GPU backend is missing'
"

# ------------------------------------------- 4 (CPU half, started early): the quick preset on CPU
# The CPU default runs beside the GPU steps, pinned to its own cores with as many threads, so it
# takes little from them; it has until the end of the budget and is waited for before the report.
QUICK_PID=
have_mnist=1
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [ -s "$DATA/MNIST/raw/$f.gz" ] || [ -s "$DATA/MNIST/raw/$f" ] || { have_mnist=0; echo "missing: $DATA/MNIST/raw/$f.gz" >>"$OUT/training.log"; }
done
LOO="loo --dataset mnist --dev --abnormal-class $CLS --data-root $DATA --no-download --no-progress --overwrite"
if [ "$have_mnist" = 1 ]; then
    QUICK_T0=$SECONDS
    ( t=$(( $(left) - 20 )); [ "$t" -gt 300 ] && t=300
      OMP_NUM_THREADS=8 MKL_NUM_THREADS=8 timeout -k 10 "$t" taskset -c "$QUICK_CORES" \
          "$PY" -m omasgan $LOO --preset quick --device cpu --out "$OUT/runs/quick" >"$OUT/train-quick.log" 2>&1
      echo $? >"$OUT/runs-quick.rc" ) &
    QUICK_PID=$!
else
    printf '%s\t%s\t%s\n' "train-quick" 126 0 >>"$OUT/steps.tsv"
fi

# ------------------------------------------------------------------- 2. kernel tests (cuda, triton)
# tests/conftest.py parametrises the per-op tests over the backends of the *cpu* device (Triton only
# under TRITON_INTERPRET=1), and OMASGAN_REQUIRE_BACKENDS is checked against that list: so here it
# names torch,cpu; the CUDA kernels are tested on the GPU by tests/test_cuda_kernels.py ("cuda"
# target; the g++ emulation is left to CI), and the Triton kernels meet the GPU in step 2b (parity).
# Deselected: the g++ emulation (CI runs it) and test_torch_compile_matches_eager (an inductor
# compile for the CPU, tens of seconds, nothing to do with the GPU); of test_streaming only the
# CUDA-queries test. A pytest killed by its timeout writes no junit file: the cap leaves room.
step tests-gpu 60 tests-gpu.txt env OMASGAN_REQUIRE_BACKENDS=torch,cpu "$PY" -m pytest -q -rfE -p no:cacheprovider \
    tests/test_cuda_kernels.py tests/test_backends.py tests/test_op_constants.py \
    tests/test_streaming.py::test_cpu_bank_cuda_queries_double_buffered \
    -k "not emulated and not torch_compile" --junitxml="$OUT/junit-gpu.xml" -o junit_family=xunit2
tail -n 30 "$OUT/tests-gpu.txt" >"$OUT/tests-gpu-summary.txt" 2>/dev/null

# --------------------------------------------------------------------- 3. benchmarks against torch
step bench 90 bench.log "$PY" "$HELPER" bench --out "$OUT"

# ------------------------------------------------------------ 4. the GPU preset `large` on the GPU
if [ "$have_mnist" = 1 ]; then
    LARGE_T0=$SECONDS
    # shellcheck disable=SC2086
    step train-large 120 train-large.log "$PY" -m omasgan $LOO --preset large --device cuda $LARGE_SETS --out "$OUT/runs/large"
    LARGE_RC=$(tail -n1 "$OUT/steps.tsv" | cut -f2); LARGE_S=$((SECONDS - LARGE_T0))
    if [ -n "$QUICK_PID" ]; then
        wait "$QUICK_PID"
        QUICK_RC=$(cat "$OUT/runs-quick.rc" 2>/dev/null || echo 1); QUICK_S=$((SECONDS - QUICK_T0))
        printf '%s\t%s\t%s\n' "train-quick" "$QUICK_RC" "$QUICK_S" >>"$OUT/steps.tsv"
    fi
    step training-table 20 training.log "$PY" "$HELPER" training --out "$OUT" --abnormal-class "$CLS" \
        --run "large=cuda=$OUT/runs/large=$LARGE_RC=$LARGE_S" \
        --run "quick=cpu ($QUICK_CORES)=$OUT/runs/quick=${QUICK_RC:-1}=${QUICK_S:-0}"
else
    printf '%s\t%s\t%s\n' "train-large" 126 0 >>"$OUT/steps.tsv"
    echo "[run.sh] training skipped: no MNIST under $DATA/MNIST/raw (see the top of this script)"
fi
# ---------------------------- 2b. the Triton (and CUDA) kernels on the GPU against the torch backend
# Last: it takes what time is left (at least 45 s when the build is quick), so Triton's many first
# compiles here cannot starve the benchmarks or the two-minute training; it saves after each group.
step parity 60 parity.log "$PY" "$HELPER" parity --out "$OUT"

# checkpoints are large and not needed back
find "$OUT/runs" \( -name 'checkpoint.pt' -o -name 'model.pt' \) -delete 2>/dev/null

# ----------------------------------------------------------------------------------------- report
"$PY" - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = [line.split("\t") for line in (out / "steps.tsv").read_text().splitlines()[1:] if line]
(out / "steps.json").write_text(json.dumps({"steps": [dict(step=s, rc=int(r), seconds=int(t)) for s, r, t in rows]}, indent=1) + "\n")
EOF
timeout 30 "$PY" "$HELPER" report --out "$OUT" --date "$DATE" >"$OUT/report.log" 2>&1 || echo "[run.sh] report failed: $OUT/report.log"
echo "[run.sh] done in $((SECONDS - START))s; steps:"
column -t -s $'\t' "$OUT/steps.tsv" 2>/dev/null || cat "$OUT/steps.tsv"
awk -F'\t' 'NR > 1 && $2 != 0 { bad = 1 } END { exit bad }' "$OUT/steps.tsv"
