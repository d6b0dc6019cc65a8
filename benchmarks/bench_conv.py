"""Benchmark: atrous convolution fwd+bwd on DeepLab-LargeFOV's fc6, holes vs deinterlace.

The layer: x (N, 512, 41, 41) (a 321x321 crop at output stride 8), w (1024, 512, 3, 3),
padding = rate, float32. For each rate and method it prints the median wall time of one
forward + backward pass, the achieved GFLOP/s (three GEMMs' worth: y = w x, dw = dy x^T,
dx = w^T dy, i.e. 3 * 2*O*C*K*K*N*H_out*W_out flops), and the ratio to a plain ``matmul``
of the same shape ((O, C*K*K) @ (C*K*K, N*H_out*W_out)) timed in the same run.

    python benchmarks/bench_conv.py                 # all rates, N = 1 and N = 10
    python benchmarks/bench_conv.py --device gpu    # the same on CuPy
    python benchmarks/bench_conv.py --torch         # add PyTorch's conv2d as a comparison
    python benchmarks/bench_conv.py --tiny          # a small layer, seconds: a check that it runs

Goals: holes >= 70% of the matmul rate; deinterlace within 1.5x of holes.
"""
import argparse

import numpy as np

from minideeplab import backend, functional as F
from minideeplab.timing import describe_machine, median_time


LAYER = dict(C=512, O=1024, S=41, K=3)          # fc6 of LargeFOV on a 321x321 crop
TINY = dict(C=8, O=16, S=13, K=3)


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
                    help="a 13x13 layer of 8 -> 16 channels, rates 1 and 2, N = 1 and 2, one "
                         "repeat: a check that the benchmark runs, not a measurement of fc6")
    args = ap.parse_args()
    layer = TINY if args.tiny else LAYER
    if args.tiny:
        args.rates, args.batches, args.repeats = [1, 2], [1, 2], 1
    xp = backend.xp_for(args.device)
    rng = np.random.default_rng(0)
    methods = ["holes", "deinterlace"] + (["direct"] if args.direct else [])
    C, O, S, K = (layer[k] for k in "COSK")
    name = "a tiny layer" if args.tiny else "fc6 of DeepLab-LargeFOV"
    print(f"# conv fwd+bwd, {name} (x ({C}, {S}, {S}), w ({O}, {C}, {K}, {K})), float32, "
          f"{args.device}: {describe_machine()}")
    print("| N | rate | method | time (ms) | GFLOP/s | vs matmul | vs holes |")
    print("|---|---|---|---|---|---|---|")
    for N in args.batches:
        flops = 3 * 2 * O * C * K * K * N * S * S
        reps = args.repeats if N == 1 or args.tiny else max(3, args.repeats // 2)
        t_mm = median_time(matmul_case(xp, N, rng, **layer), xp, reps) * 3   # three GEMMs

        print(f"| {N} | - | matmul (3 GEMMs) | {1e3 * t_mm:.1f} | {flops / t_mm / 1e9:.1f} | "
              "1.00 | - |")
        for rate in args.rates:
            t_holes = None
            rows = [(m, conv_case(xp, N, rate, m, rng, **layer)) for m in methods]
            if args.torch and args.device == "cpu":
                rows.append(("pytorch", torch_case(N, rate, rng, **layer)))
            for name, fn in rows:
                t = median_time(fn, xp, 1 if name == "direct" else reps)
                t_holes = t if name == "holes" else t_holes
                print(f"| {N} | {rate} | {name} | {1e3 * t:.1f} | {flops / t / 1e9:.1f} | "
                      f"{t_mm / t:.2f} | {t / t_holes:.2f} |", flush=True)


if __name__ == "__main__":
    main()
