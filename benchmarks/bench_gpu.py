"""Benchmark: the same code on the CPU (NumPy) and the GPU (CuPy), side by side.

Rows, each timed on both devices in one run (median of a few repeats after a warm-up, the GPU
synchronised around every call):

* conv2d forward + backward on DeepLab-LargeFOV's fc6 (x (N, 512, 41, 41), w (1024, 512, 3,
  3), rate 12), holes and deinterlace, N = 1 and 10 (goal: the GPU at >= 60% of its float32
  matmul rate);
* one training iteration (forward, loss, backward, SGD) of the tiny and the full-width
  DeepLab-ASPP-L, batch 10, 321x321 (goal: the full-width one on the GPU >= 20x the 2-core
  CPU);
* the dense CRF on a PASCAL-size image (500x375, 21 labels, 10 iterations, DeepLab's ResNet
  settings), lattice (goal: under 30 ms on the GPU).

Columns: the time on each device, the GPU's speed-up over the CPU, and for the conv and
training rows each device's achieved float32 rate as a share of its own float32 matmul rate
measured in the same run (the yardstick: "ours vs a plain matmul"). Training FLOPs are counted
from the shapes of every conv2d call of one step (the GEMM work: 2 N O OH OW C KH KW for the
forward, the backward's two GEMMs twice that).

TF32: CuPy runs float32 matmuls in TF32 (10-bit mantissas) only when the environment variable
CUPY_TF32 is a positive number when it first multiplies; this script sets CUPY_TF32=0 unless
the caller set it, and checks the GPU's float32 product against float64 (TF32 gives relative
errors around 1e-4 to 1e-3, float32 around 1e-6), so the yardstick is true float32.

``--cpu-threads N`` pins the process to N cores and N BLAS threads (set before NumPy loads),
so that the CPU column is an N-core CPU on any machine.

    python benchmarks/bench_gpu.py                       # both devices (GPU rows need one)
    python benchmarks/bench_gpu.py --cpu-threads 2 --out table.md
    python benchmarks/bench_gpu.py --quick               # fewer repeats, no full-width CPU step

Prints a markdown table for the README's performance section (and writes it to ``--out``
after every row, so that an interrupted run keeps what it measured).
"""
import argparse
import datetime
import os
import sys
import time


def _parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 repeats, no full-width CPU step")
    ap.add_argument("--cpu-threads", type=int, default=None,
                    help="pin to this many cores and BLAS threads (default: all)")
    ap.add_argument("--out", default=None, help="also write the markdown table here")
    ap.add_argument("--only", default=None,
                    help="comma-separated row groups to run: conv,train,crf (default: all)")
    ap.add_argument("--tiny", action="store_true",
                    help="the smallest case once: the code path in seconds (for the tests)")
    return ap.parse_args(argv)


ARGS = _parse_args() if __name__ == "__main__" else None
if ARGS is not None and ARGS.cpu_threads:           # before NumPy starts its BLAS threads
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.cpu_threads)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:ARGS.cpu_threads])
os.environ.setdefault("CUPY_TF32", "0")             # read by CuPy at its first matmul

import numpy as np  # noqa: E402

from minideeplab import backend, functional as F  # noqa: E402
from minideeplab.fileio import atomic_write_text  # noqa: E402
from minideeplab.models import build_model  # noqa: E402
from minideeplab.optim import SGD  # noqa: E402
from minideeplab.paper.backbone import count_conv_macs  # noqa: E402
from minideeplab.timing import describe_machine, median_time  # noqa: E402

RESNET_CRF = dict(w1=4.0, theta_alpha=67.0, theta_beta=3.0, w2=3.0, theta_gamma=1.0)
GOAL_TRAIN_SPEEDUP = 20.0       # full-width ASPP-L step, GPU over a 2-core CPU
GOAL_CRF_SECONDS = 0.030        # the PASCAL-size CRF on the GPU
GOAL_CONV_SHARE = 0.60          # fc6 conv fwd+bwd, share of the GPU's float32 matmul rate


def device_name(device):
    if device == "gpu":
        import cupy
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        return (f"{name}, CuPy {cupy.__version__}, CUDA runtime "
                f"{cupy.cuda.runtime.runtimeGetVersion()}, CUPY_TF32={os.environ['CUPY_TF32']}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{describe_machine()}; this run on {cores} of them"


def matmul_rate(xp, n):
    """GFLOP/s of an (n, n) @ (n, n) float32 product."""
    a = xp.asarray(np.random.default_rng(0).standard_normal((n, n)).astype("float32"))
    t = median_time(lambda: a @ a, xp, repeats=5)
    return 2 * n ** 3 / t / 1e9


def matmul_error(xp, n=1024):
    """Relative error (Frobenius) of a float32 product against float64 on the host."""
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    got = backend.asnumpy(xp.asarray(a.astype("float32")) @ xp.asarray(b.astype("float32")))
    ref = a.astype("float32").astype(np.float64) @ b.astype("float32").astype(np.float64)
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


def conv_case(xp, N, method):
    rng = np.random.default_rng(1)
    x = xp.asarray(rng.standard_normal((N, 512, 41, 41)).astype("float32"))
    w = xp.asarray((rng.standard_normal((1024, 512, 3, 3)) * 0.01).astype("float32"))

    def run():
        y, cache = F.conv2d(x, w, padding=12, rate=12, method=method)
        F.conv2d_backward(y, cache)
    return run, 3 * 2 * 1024 * 512 * 9 * N * 41 * 41


def train_case(xp, device, tiny):
    model = build_model("aspp-l", 21, tiny=tiny, device=device)
    opt = SGD(model, lr=1e-3)
    rng = np.random.default_rng(2)
    x = xp.asarray(rng.standard_normal((10, 3, 321, 321)).astype("float32"))
    labels = xp.asarray(rng.integers(0, 21, size=(10, 41, 41)))

    def run():
        logits = model(x)
        loss, cache = F.softmax_cross_entropy(logits, labels, check_labels=False)
        opt.zero_grad()
        model.backward(F.softmax_cross_entropy_backward(cache))
        opt.step()
    return run


def crf_case(xp):
    from minideeplab.crf import dense_crf
    from minideeplab.data import sample_photo
    image = sample_photo((500, 375))                                 # as bench_crf.py's VOC case
    rng = np.random.default_rng(3)
    logits = (3 * rng.standard_normal((1, 21, 47, 63))).astype("float32")
    up, _ = F.resize_bilinear(logits, (375, 500))
    probs = np.exp(up[0] - up[0].max(axis=0))
    probs /= probs.sum(axis=0)
    image, probs = xp.asarray(image), xp.asarray(probs.astype("float32"))
    return lambda: dense_crf(image, probs, iterations=10, **RESNET_CRF)


class Table:
    """Rows of (device -> seconds) and FLOPs, printed as markdown (and rewritten to a file)."""

    def __init__(self, devices, out=None):
        self.devices, self.out = devices, out
        self.rows, self.flops, self.rates, self.errors = {}, {}, {}, {}

    def record(self, name, device, seconds, flops=None):
        self.rows.setdefault(name, {})[device] = seconds
        if flops:
            self.flops[name] = flops
        print(f"  {name} on {device}: {1e3 * seconds:.2f} ms", flush=True)
        self.write()

    def share(self, name, device):
        t = self.rows[name].get(device)
        if name not in self.flops or t is None or device not in self.rates:
            return None
        return self.flops[name] / t / 1e9 / self.rates[device]

    def markdown(self):
        lines = [f"# CPU vs GPU, {datetime.date.today().isoformat()}"]
        for d in self.devices:
            rate = f", float32 matmul {self.rates[d]:.0f} GFLOP/s" if d in self.rates else ""
            err = (f" (float32 product vs float64: relative error {self.errors[d]:.1e})"
                   if d in self.errors else "")
            lines.append(f"- {d}: {device_name(d)}{rate}{err}")
        if "gpu" not in self.devices:
            lines.append("- gpu: not available here (CuPy with a CUDA device is needed): "
                         "GPU columns empty")
        lines += ["", "| workload | CPU (ms) | GPU (ms) | GPU speed-up | CPU GFLOP/s (share of "
                  "its matmul) | GPU GFLOP/s (share of its matmul) |", "|---|---|---|---|---|---|"]
        for name, t in self.rows.items():
            cells = [name]
            for d in ("cpu", "gpu"):
                cells.append(f"{1e3 * t[d]:.{1 if d == 'cpu' else 2}f}" if d in t else "-")
            cells.append(f"{t['cpu'] / t['gpu']:.1f}x" if "cpu" in t and "gpu" in t else "-")
            for d in ("cpu", "gpu"):
                s = self.share(name, d)
                cells.append(f"{self.flops[name] / t[d] / 1e9:.0f} ({s:.0%})" if s else "-")
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", *self.goals()]
        return "\n".join(lines) + "\n"

    def goals(self):
        def verdict(ok):
            return "met" if ok else "NOT met"
        out = []
        full = self.rows.get("train step, full ASPP-L, 10x321x321", {})
        if "gpu" in full and "cpu" in full:
            s = full["cpu"] / full["gpu"]
            out.append(f"- goal: full-width training step >= {GOAL_TRAIN_SPEEDUP:.0f}x the CPU: "
                       f"{s:.1f}x, {verdict(s >= GOAL_TRAIN_SPEEDUP)}")
        crf = self.rows.get("dense CRF 500x375, 21 labels, 10 it.", {})
        if "gpu" in crf:
            out.append(f"- goal: the CRF under {1e3 * GOAL_CRF_SECONDS:.0f} ms on the GPU: "
                       f"{1e3 * crf['gpu']:.1f} ms, {verdict(crf['gpu'] < GOAL_CRF_SECONDS)}")
        shares = {n: self.share(n, "gpu") for n in self.rows if n.startswith("conv fc6")}
        shares = {n: s for n, s in shares.items() if s is not None}
        if shares:
            best = max(shares, key=shares.get)
            out.append(f"- goal: fc6 conv at >= {GOAL_CONV_SHARE:.0%} of the GPU's float32 "
                       f"matmul rate: best {shares[best]:.0%} ({best}), "
                       f"{verdict(shares[best] >= GOAL_CONV_SHARE)}")
        if self.errors.get("gpu", 0) > 1e-4:
            out.append("- WARNING: the GPU's float32 product is as inexact as TF32's: the "
                       "matmul yardstick is not true float32")
        return out

    def write(self):
        if self.out:
            atomic_write_text(self.out, self.markdown())


def main(args):
    devices = ["cpu"] + (["gpu"] if backend.gpu_available() else [])
    groups = set(("conv" if args.tiny else args.only or "conv,train,crf").split(","))
    reps = 1 if args.tiny else 2 if args.quick else 5
    table = Table(devices, args.out)
    order = devices[::-1]                 # the GPU first: a run cut short keeps its rows
    for device in order:
        xp = backend.xp_for(device)
        print(f"{device}: {device_name(device)}", flush=True)
        table.rates[device] = matmul_rate(xp, 8192 if device == "gpu" else 2048)
        table.errors[device] = matmul_error(xp)
        print(f"  float32 matmul {table.rates[device]:.0f} GFLOP/s, relative error vs float64 "
              f"{table.errors[device]:.1e}", flush=True)
    if "conv" in groups:
        for N in (1,) if args.tiny else (1, 10):
            for method in ("holes", "deinterlace"):
                for device in order:
                    xp = backend.xp_for(device)
                    run, flops = conv_case(xp, N, method)
                    if N == 10 and device == "cpu":     # 2-3 s a call: one call, no warm-up
                        seconds = median_time(run, xp, 1, warmup=0)
                    else:
                        seconds = median_time(run, xp, reps)
                    table.record(f"conv fc6 rate 12, N={N}, {method}", device, seconds, flops)
    if "train" in groups:
        train_rows(table, order, tiny=True, reps=reps)
    if "crf" in groups:
        for device in order:
            xp = backend.xp_for(device)
            table.record("dense CRF 500x375, 21 labels, 10 it.", device,
                         median_time(crf_case(xp), xp, reps))
    if "train" in groups:                 # last: the CPU's full-width step takes a minute
        train_rows(table, [d for d in order if d == "gpu" or not args.quick], tiny=False,
                   reps=reps)
    print()
    print(table.markdown(), end="")
    table.write()
    return 0


def train_rows(table, devices, tiny, reps):
    """Time one training step of the tiny or full-width ASPP-L on each device."""
    for device in devices:
        xp = backend.xp_for(device)
        run = train_case(xp, device, tiny=tiny)
        t0 = time.perf_counter()
        flops = 3 * 2 * count_conv_macs(run)      # GEMM FLOPs fwd+bwd; also the warm-up
        backend.synchronize(xp)
        if device == "cpu" and not tiny:          # ~7 TFLOP: a minute on 2 cores; the
            seconds = time.perf_counter() - t0    # counted call is the measurement
        else:
            seconds = median_time(run, xp, reps, warmup=0)
        table.record(f"train step, {'tiny' if tiny else 'full'} ASPP-L, 10x321x321", device,
                     seconds, flops)
        del run


if __name__ == "__main__":
    sys.exit(main(ARGS))
