"""Benchmark: the same code on the CPU (NumPy) and the GPU (CuPy), side by side.

Rows, each timed on both devices in one run (median of a few repeats, the GPU synchronised
around every call):

* the machine's float32 matmul rate (the yardstick: "ours vs a plain matmul");
* conv2d forward + backward on DeepLab-LargeFOV's fc6 (x (N, 512, 41, 41), w (1024, 512, 3,
  3), rate 12), holes and deinterlace, N = 1 and 10;
* one training iteration (forward, loss, backward, SGD) of the tiny and the full-width
  DeepLab-ASPP-L, batch 10, 321x321 (goal: GPU >= 20x the CPU);
* the dense CRF on a PASCAL-size image (500x375, 21 labels, 10 iterations, DeepLab's ResNet
  settings), lattice (goal: under 30 ms on the GPU).

    python benchmarks/bench_gpu.py             # both devices (GPU rows skipped without one)
    python benchmarks/bench_gpu.py --quick     # fewer repeats, no full-width CPU iteration

Prints a markdown table for the README's performance section.
"""
import argparse
import datetime

import numpy as np

from minideeplab import backend, functional as F
from minideeplab.models import build_model
from minideeplab.optim import SGD
from minideeplab.timing import describe_machine, median_time

RESNET_CRF = dict(w1=4.0, theta_alpha=67.0, theta_beta=3.0, w2=3.0, theta_gamma=1.0)


def device_name(device):
    if device == "gpu":
        import cupy
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        return props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return describe_machine()


def matmul_rate(xp, n):
    a = xp.asarray(np.random.default_rng(0).standard_normal((n, n)).astype("float32"))
    t = median_time(lambda: a @ a, xp, repeats=5)
    return 2 * n ** 3 / t / 1e9


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
        loss, cache = F.softmax_cross_entropy(logits, labels)
        opt.zero_grad()
        model.backward(F.softmax_cross_entropy_backward(cache))
        opt.step()
    return run


def crf_case(xp):
    from minideeplab.crf import dense_crf
    from minideeplab.paper.figures.common import sample_image
    rgb = sample_image(gray=False)                                   # (600, 512, 3) in [0, 1]
    ys = np.linspace(0, rgb.shape[0] - 1, 375).round().astype(int)
    xs = np.linspace(0, rgb.shape[1] - 1, 500).round().astype(int)
    image = (rgb[ys][:, xs] * 255).round().astype(np.uint8)          # 500x375, nearest
    rng = np.random.default_rng(3)
    logits = (3 * rng.standard_normal((1, 21, 47, 63))).astype("float32")
    up, _ = F.resize_bilinear(logits, (375, 500))
    probs = np.exp(up[0] - up[0].max(axis=0))
    probs /= probs.sum(axis=0)
    image, probs = xp.asarray(image), xp.asarray(probs.astype("float32"))
    return lambda: dense_crf(image, probs, iterations=10, **RESNET_CRF)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    devices = ["cpu"] + (["gpu"] if backend.gpu_available() else [])
    reps = 2 if args.quick else 5
    rows = {}                                     # name -> {device: seconds}
    flops = {}                                    # name -> float32 flops (conv rows)

    def record(name, device, seconds):
        rows.setdefault(name, {})[device] = seconds

    rates = {}
    for device in devices:
        xp = backend.xp_for(device)
        rates[device] = matmul_rate(xp, 4096 if device == "gpu" else 2048)
        for N in (1, 10):
            for method in ("holes", "deinterlace"):
                run, flops[f"conv fc6 rate 12, N={N}, {method}"] = conv_case(xp, N, method)
                record(f"conv fc6 rate 12, N={N}, {method}", device,
                       median_time(run, xp, reps if N == 1 or device == "gpu" else 2))
        record("train step, tiny ASPP-L, 10x321x321", device,
               median_time(train_case(xp, device, tiny=True), xp, reps))
        if device == "gpu" or not args.quick:
            record("train step, full ASPP-L, 10x321x321", device,
                   median_time(train_case(xp, device, tiny=False), xp,
                               reps if device == "gpu" else 1))
        record("dense CRF 500x375, 21 labels, 10 it.", device,
               median_time(crf_case(xp), xp, reps))
    date = datetime.date.today().isoformat()
    print(f"# CPU vs GPU, {date}")
    for d in devices:
        print(f"- {d}: {device_name(d)}, float32 matmul {rates[d]:.0f} GFLOP/s")
    if "gpu" not in devices:
        print("- gpu: not available here (CuPy with a CUDA device is needed): GPU columns empty")
    print()
    print("| workload | CPU (ms) | GPU (ms) | GPU speed-up | CPU / GPU share of matmul rate |")
    print("|---|---|---|---|---|")
    for name, t in rows.items():
        cpu, gpu = t.get("cpu"), t.get("gpu")
        share = "-"
        if name in flops:
            share = " / ".join(f"{flops[name] / t[d] / 1e9 / rates[d]:.0%}" for d in devices)
        print(f"| {name} | {1e3 * cpu:.1f} | "
              + (f"{1e3 * gpu:.2f} | {cpu / gpu:.1f}x |" if gpu else "- | - |") + f" {share} |")


if __name__ == "__main__":
    main()
