"""Benchmark: atrous convolution fwd+bwd on DeepLab-LargeFOV's fc6, holes vs deinterlace.

The layer: x (N, 512, 41, 41) (a 321x321 crop at output stride 8), w (1024, 512, 3, 3),
padding = rate, float32. For each rate and method it prints the median wall time of one
forward + backward pass, the achieved GFLOP/s (three GEMMs' worth: y = w x, dw = dy x^T,
dx = w^T dy, i.e. 3 * 2*O*C*K*K*N*H_out*W_out flops), and the ratio to a plain ``matmul``
of the same shape ((O, C*K*K) @ (C*K*K, N*H_out*W_out)) timed in the same run.

    python benchmarks/bench_conv.py                 # all rates, N = 1 and N = 10
    python benchmarks/bench_conv.py --device gpu    # the same on CuPy
    python benchmarks/bench_conv.py --torch         # add PyTorch's conv2d as a comparison

Goals: holes >= 70% of the matmul rate; deinterlace within 1.5x of holes.
"""
import argparse

import numpy as np

from minideeplab import backend, functional as F
from minideeplab.timing import describe_machine, median_time


def conv_case(xp, N, rate, method, rng, C=512, O=1024, S=41, K=3):
    x = xp.asarray(rng.standard_normal((N, C, S, S)).astype("float32"))
    w = xp.asarray((rng.standard_normal((O, C, K, K)) * 0.01).astype("float32"))

    def fwd_bwd():
        y, cache = F.conv2d(x, w, padding=rate, rate=rate, method=method)
        F.conv2d_backward(y, cache)
    return fwd_bwd


def torch_case(N, rate, rng, C=512, O=1024, S=41, K=3):
    import torch
    x = torch.tensor(rng.standard_normal((N, C, S, S)).astype("float32"), requires_grad=True)
    w = torch.tensor((rng.standard_normal((O, C, K, K)) * 0.01).astype("float32"),
                     requires_grad=True)

    def fwd_bwd():
        y = torch.nn.functional.conv2d(x, w, padding=rate, dilation=rate)
        y.backward(y.detach())
    return fwd_bwd


def matmul_case(xp, N, rng, C=512, O=1024, S=41, K=3):
    a = xp.asarray(rng.standard_normal((O, C * K * K)).astype("float32"))
    b = xp.asarray(rng.standard_normal((C * K * K, N * S * S)).astype("float32"))
    return lambda: a @ b




def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=backend.DEVICES, default="cpu")
    ap.add_argument("--rates", type=int, nargs="+", default=[12, 1, 2, 4, 24])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--direct", action="store_true", help="also time the slow reference loop")
    ap.add_argument("--torch", action="store_true", help="also time PyTorch's conv2d (CPU)")
    ap.add_argument("--tiny", action="store_true",
                    help="the smallest case once: the code path in seconds (for the tests)")
    args = ap.parse_args()
    if args.tiny:
        args.rates, args.batches, args.repeats = [2], [1], 1
    xp = backend.xp_for(args.device)
    rng = np.random.default_rng(0)
    methods = ["holes", "deinterlace"] + (["direct"] if args.direct else [])
    print(f"# conv fwd+bwd, fc6 of DeepLab-LargeFOV, float32, {args.device}: {describe_machine()}")
    print("| N | rate | method | time (ms) | GFLOP/s | vs matmul | vs holes |")
    print("|---|---|---|---|---|---|---|")
    for N in args.batches:
        flops = 3 * 2 * 1024 * 512 * 9 * N * 41 * 41
        reps = args.repeats if N == 1 else max(3, args.repeats // 2)
        t_mm = median_time(matmul_case(xp, N, rng), xp, reps) * 3   # three GEMMs' worth
        print(f"| {N} | - | matmul (3 GEMMs) | {1e3 * t_mm:.1f} | {flops / t_mm / 1e9:.1f} | "
              "1.00 | - |")
        for rate in args.rates:
            t_holes = None
            rows = [(m, conv_case(xp, N, rate, m, rng)) for m in methods]
            if args.torch and args.device == "cpu":
                rows.append(("pytorch", torch_case(N, rate, rng)))
            for name, fn in rows:
                t = median_time(fn, xp, 1 if name == "direct" else reps)
                t_holes = t if name == "holes" else t_holes
                print(f"| {N} | {rate} | {name} | {1e3 * t:.1f} | {flops / t / 1e9:.1f} | "
                      f"{t_mm / t:.2f} | {t / t_holes:.2f} |", flush=True)


if __name__ == "__main__":
    main()
