#!/usr/bin/env bash
# The GPU check in one call of about 8 minutes, run from the repository root on a GPU machine:
#
#   1. installs the wheels in .whl/ (if any; see fetch_gpu_wheels.sh) and uses the project
#      from this checkout (PYTHONPATH, no install);
#   2. runs every test that runs on the GPU: the "gpu" variants of the device-parametrised
#      tests (the command line with --device gpu and reproduce --quick --device gpu included),
#      the CPU-vs-GPU agreement tests and the hidden-sync budgets
#      (MINIDEEPLAB_TEST_DEVICES=cpu,gpu, pytest -m gpu -rs: real CuPy, not the CuPy stand-in
#      that the default device list, cpu,standin, runs on every commit; the two cannot share
#      a process);
#   3. runs benchmarks/bench_gpu.py (CPU column: 2 cores) and writes its table;
#   4. executes tutorials/08_gpu_with_cupy.ipynb in full mode, with its outputs.
#
# Every step has a time limit, so one slow step cannot eat the next one's time. Results go
# to $OUT (default ./gpu-check-out), flat, seven files:
#   summary.txt              one line per step: status and seconds
#   environment.txt          Python, NumPy, CuPy, CUDA, the GPU, nvidia-smi
#   tests.log                pytest's output (skips and their reasons, the slowest tests)
#   bench.log, bench_gpu.md  the benchmark's output and its markdown table
#   notebook.log, 08_gpu_with_cupy.ipynb   the executed notebook (errors kept in it)
#
# Without a GPU the script runs all the same (the GPU tests are skipped with their reason,
# the benchmark fills only its CPU column, the notebook says it has no GPU): a rehearsal.
#
# Knobs (environment): GPU_CHECK_TEST_SECONDS (210), GPU_CHECK_BENCH_SECONDS (170),
# GPU_CHECK_NOTEBOOK_SECONDS (75), GPU_CHECK_BENCH_ARGS ("--cpu-threads 2"), PYTHON (python3).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
T_TESTS=${GPU_CHECK_TEST_SECONDS:-210}
T_BENCH=${GPU_CHECK_BENCH_SECONDS:-170}
T_NB=${GPU_CHECK_NOTEBOOK_SECONDS:-75}
BENCH_ARGS=${GPU_CHECK_BENCH_ARGS:---cpu-threads 2}
START=$(date +%s)
: > "$OUT/summary.txt"
rm -f "$OUT/tests.log" "$OUT/bench.log" "$OUT/notebook.log"

note() { echo "[gpu_check +$(( $(date +%s) - START ))s] $*" | tee -a "$OUT/summary.txt"; }

step() {  # step NAME SECONDS LOG COMMAND...: run with a time limit (SIGINT, then SIGKILL)
    local name=$1 limit=$2 log=$3 t0 rc
    shift 3
    t0=$(date +%s)
    echo "===== $name: $* =====" >> "$log"
    if [ "$limit" -lt 10 ]; then limit=10; fi
    timeout -s INT -k 15 "$limit" "$@" >> "$log" 2>&1
    rc=$?
    if [ "$rc" = 124 ] || [ "$rc" = 130 ] || [ "$rc" = 137 ]; then
        note "$name: STOPPED at its limit of ${limit}s (rc $rc); partial output in $(basename "$log")"
    else
        note "$name: rc $rc in $(( $(date +%s) - t0 ))s ($(basename "$log"))"
    fi
    return 0
}

# 1. packages: the carried wheels (a machine without network), then the project itself
if ls .whl/*.whl > /dev/null 2>&1; then
    if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site .whl/*.whl > "$OUT/environment.txt" 2>&1; then
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
        note "installed $(ls .whl/*.whl | wc -l) wheels from .whl/ into /tmp/site"
    else
        note "wheel install FAILED (see environment.txt); going on with what is installed"
    fi
else
    note "no .whl/ folder: using the packages already installed"
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg CUPY_TF32=0 NVIDIA_TF32_OVERRIDE=0
export MINIDEEPLAB_TEST_DEVICES=cpu,gpu      # real CuPy: the stand-in stays out
unset MINIDEEPLAB_CUPY_STANDIN
export MINIDEEPLAB_CACHE=${MINIDEEPLAB_CACHE:-/tmp/minideeplab-cache}

"$PY" - >> "$OUT/environment.txt" 2>&1 <<'EOF'
import importlib, platform, sys
print("python", sys.version.split()[0], platform.platform())
for name in ("numpy", "scipy", "matplotlib", "pytest", "hypothesis", "tqdm", "safetensors",
             "nbclient", "nbformat", "ipykernel", "cupy", "minideeplab"):
    try:
        m = importlib.import_module(name)
        print(f"{name:12s} {getattr(m, '__version__', '?'):12s} {getattr(m, '__file__', '')}")
    except Exception as e:
        print(f"{name:12s} MISSING ({type(e).__name__}: {e})")
from minideeplab import backend
print("gpu_available:", backend.gpu_available())
if backend.gpu_available():
    import cupy
    p = cupy.cuda.runtime.getDeviceProperties(0)
    print("device:", p["name"], "| CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(),
          "| driver", cupy.cuda.runtime.driverGetVersion())
EOF
command -v nvidia-smi > /dev/null && nvidia-smi >> "$OUT/environment.txt" 2>&1
note "environment: $(grep -E '^(gpu_available|device)' "$OUT/environment.txt" | tr '\n' ' ')"

# 2. the GPU tests: first the sync budgets, the CPU-vs-GPU agreement and the backend (they
#    matter most), then every other GPU variant (4 workers compile CuPy kernels in parallel)
FIRST="reference_tests/test_syncs.py reference_tests/test_gpu_agreement.py
       reference_tests/test_transfers.py reference_tests/test_backend.py
       reference_tests/test_loss.py reference_tests/test_metrics.py"
T_FIRST=$(( T_TESTS * 2 / 5 ))
T0_TESTS=$(date +%s)
# -o addopts=: this script picks the processes itself (setup.cfg's "-n auto" needs pytest-xdist,
# which the GPU machine may lack; the first group runs in one process)
step "tests, first group (pytest -m gpu)" "$T_FIRST" "$OUT/tests.log" \
    "$PY" -m pytest -o addopts= -m gpu -rs -q -p no:cacheprovider --durations=10 $FIRST
note "tests, first group: $(grep -E '(passed|failed|error|skipped|no tests ran)' "$OUT/tests.log" | tail -1)"
XDIST=""
"$PY" -c "import xdist" 2> /dev/null && XDIST="-n 4"
IGNORE=$(for f in $FIRST; do printf -- "--ignore=%s " "$f"; done)
step "tests, the rest (pytest -m gpu $XDIST)" "$(( T_TESTS - $(date +%s) + T0_TESTS ))" \
    "$OUT/tests.log" "$PY" -m pytest -o addopts= -m gpu -rs -q -p no:cacheprovider --durations=15 $XDIST \
    $IGNORE reference_tests
note "tests, the rest: $(grep -E '(passed|failed|error|skipped|no tests ran)' "$OUT/tests.log" | tail -1)"

# 3. the benchmark table
step "bench_gpu.py $BENCH_ARGS" "$T_BENCH" "$OUT/bench.log" \
    "$PY" benchmarks/bench_gpu.py $BENCH_ARGS --out "$OUT/bench_gpu.md"
grep -E '^- (goal|WARNING)' "$OUT/bench_gpu.md" 2> /dev/null | while read -r line; do note "$line"; done

# 4. notebook 08, full mode, outputs kept (also the error of a failing cell)
step "notebook 08" "$T_NB" "$OUT/notebook.log" "$PY" - "$OUT" "$T_NB" <<'EOF'
import os
import sys
import nbclient
import nbformat
out, limit = sys.argv[1], int(sys.argv[2])
os.environ["MINIDEEPLAB_QUICK"] = "0"       # full mode, as the committed notebooks (inherited)
path = "tutorials/08_gpu_with_cupy.ipynb"
nb = nbformat.read(path, as_version=4)
client = nbclient.NotebookClient(nb, timeout=limit, kernel_name="python3", allow_errors=True,
                                 resources={"metadata": {"path": "tutorials"}},
                                 record_timing=False)
try:
    client.execute()
finally:
    nbformat.write(nb, f"{out}/08_gpu_with_cupy.ipynb")
errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
          if o.output_type == "error"]
for e in errors:
    print("cell error:", e.ename, e.evalue)
print(f"{len(errors)} cell error(s)")
sys.exit(1 if errors else 0)
EOF
note "notebook: $(tail -1 "$OUT/notebook.log")"
note "done in $(( $(date +%s) - START ))s; files: $(ls "$OUT" | tr '\n' ' ')"
