"""Benchmark: one training step (forward + backward + SGD) of every tiny DeepLab model.

For each model of :data:`minideeplab.models.MODEL_NAMES` built with ``tiny=True`` (and
ASPP-L with multi-scale inputs) it prints the median wall time of one step on a batch of
crops, float32, and the ratio to LargeFOV measured in the same run. Each configuration runs in
a fresh process, once per BLAS thread count, because OpenBLAS reads its thread count at import:
on a shared 2-core machine its threads can spin against each other and other processes.

    python benchmarks/bench_models.py                       # batch 4, 161x161 crops
    python benchmarks/bench_models.py --batch 10 --size 321 --threads 1
    python benchmarks/bench_models.py --tiny                # 33x33, one step: a check it runs

A thread count sets both minideeplab's threads (``MINIDEEPLAB_THREADS``) and OpenBLAS's.
"""
import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys, time
import numpy as np
from minideeplab import functional as F
from minideeplab.models import build_model
from minideeplab.optim import SGD
name, scales, batch, size, repeats = json.loads(sys.argv[1])
model = build_model(name, 6, tiny=True, scales=scales)
opt = SGD(model, lr=1e-3)
rng = np.random.default_rng(0)
x = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
def step():
    model.zero_grad()
    y = model(x)
    labels = rng.integers(0, 6, size=(batch,) + y.shape[2:])
    loss, cache = F.softmax_cross_entropy(y, labels)
    model.backward(F.softmax_cross_entropy_backward(cache))
    opt.step()
step()
times = []
for _ in range(repeats):
    t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
print(json.dumps({"median": float(np.median(times)), "params": model.num_parameters()}))
"""


def run(config, threads):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), MINIDEEPLAB_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(config)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=161)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--tiny", action="store_true",
                    help="batch 2, 33x33, one repeat, one thread: a check that it runs")
    args = ap.parse_args()
    if args.tiny:
        args.batch, args.size, args.repeats, args.threads = 2, 33, 1, [1]
    cases = [(n, None) for n in ("largefov", "aspp-s", "aspp-l", "resnet", "v3")]
    cases.append(("aspp-l", [1, 0.75, 0.5]))
    from minideeplab.timing import describe_machine
    print(f"one SGD step, tiny models, batch {args.batch}, {args.size}x{args.size}, float32, "
          f"median of {args.repeats}; {describe_machine()}")
    print(f"{'model':<14} {'params':>9} " + " ".join(f"{f'{t} thr (s)':>10} {'/LFOV':>6}"
                                                     for t in args.threads))
    base = {}
    for name, scales in cases:
        label = name + ("+MSC" if scales else "")
        cells, params = [], None
        for t in args.threads:
            r = run([name, scales, args.batch, args.size, args.repeats], t)
            params = r["params"]
            base.setdefault(t, r["median"])
            cells.append(f"{r['median']:>10.3f} {r['median'] / base[t]:>6.2f}")
        print(f"{label:<14} {params:>9,} " + " ".join(cells))


if __name__ == "__main__":
    main()
