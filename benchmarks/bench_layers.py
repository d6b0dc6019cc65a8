"""Benchmark: forward + backward of DeepLab's non-convolution layers at training sizes.

Each row is one layer of DeepLab-LargeFOV / ASPP on a 321x321 crop (output stride 8), float32,
batch N: its median wall time for one forward and one backward pass, and (with --torch) the
same computed by PyTorch on the CPU in the same run, with the ratio ours / PyTorch.

    python benchmarks/bench_layers.py                  # N = 2
    python benchmarks/bench_layers.py --batch 10 --torch
    python benchmarks/bench_layers.py --device gpu     # the same on CuPy (no PyTorch column)
"""
import argparse

import numpy as np

from minideeplab import backend, functional as F
from minideeplab.timing import describe_machine, median_time


def cases(N, tiny=False):
    """(name, input shape, ours(x, labels) -> None, torch(x, labels) -> None).

    ``tiny``: the same layers on 33x33 crops (5x5 at output stride 8) with at most 8 channels.
    """
    big, small = (33, 5) if tiny else (321, 41)

    def c(channels):
        return min(channels, 8) if tiny else channels

    def pair(op, back, *args, **kw):
        def run(x, _):
            y, c = op(x, *args, **kw)
            back(y, c)
        return run

    def bn(x, _):
        C = x.shape[1]
        xp = backend.get_array_module(x)
        one, zero = xp.ones(C, x.dtype), xp.zeros(C, x.dtype)
        y, c = F.batch_norm(x, one, zero, zero, one, training=True)
        F.batch_norm_backward(y, c)

    def ce(x, labels):
        _, c = F.softmax_cross_entropy(x, labels)
        F.softmax_cross_entropy_backward(c)

    def dropout(x, _):
        y, c = F.dropout(x, 0.5, training=True, rng=rng)
        F.dropout_backward(y, c)

    rng = np.random.default_rng(0)
    return [
        ("pool1 max 3x3/2 p1", (N, c(64), big, big),
         pair(F.max_pool2d, F.max_pool2d_backward, 3, 2, 1),
         lambda t, T, _: T.max_pool2d(t, 3, 2, 1, ceil_mode=True)),
        ("pool5 max 3x3/1 p1", (N, c(512), small, small), pair(F.max_pool2d, F.max_pool2d_backward, 3, 1, 1),
         lambda t, T, _: T.max_pool2d(t, 3, 1, 1, ceil_mode=True)),
        ("avg 3x3/1 p1", (N, c(512), small, small), pair(F.avg_pool2d, F.avg_pool2d_backward, 3, 1, 1),
         lambda t, T, _: T.avg_pool2d(t, 3, 1, 1, ceil_mode=True)),
        ("relu fc6", (N, c(1024), small, small), pair(F.relu, F.relu_backward), lambda t, T, _: T.relu(t)),
        ("dropout fc6", (N, c(1024), small, small), dropout, lambda t, T, _: T.dropout(t, 0.5)),
        ("batch norm train", (N, c(256), small, small), bn,
         lambda t, T, _: T.batch_norm(t, None, None, training=True)),
        ("resize 41->321 (ac)", (N, c(21), small, small),
         pair(F.resize_bilinear, F.resize_bilinear_backward, (big, big)),
         lambda t, T, _: T.interpolate(t, size=(big, big), mode="bilinear", align_corners=True)),
        ("resize 321->41 (ac)", (N, c(21), big, big),
         pair(F.resize_bilinear, F.resize_bilinear_backward, (small, small)),
         lambda t, T, _: T.interpolate(t, size=(small, small), mode="bilinear", align_corners=True)),
        ("cross-entropy 41x41", (N, c(21), small, small), ce,
         lambda t, T, lab: T.cross_entropy(t, lab, ignore_index=255)),
        ("cross-entropy 321x321", (N, c(21), big, big), ce,
         lambda t, T, lab: T.cross_entropy(t, lab, ignore_index=255)),
    ]




def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=backend.DEVICES, default="cpu")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--torch", action="store_true", help="also time PyTorch (CPU)")
    ap.add_argument("--tiny", action="store_true",
                    help="the same layers on 33x33 crops with at most 8 channels, batch 1, one "
                         "repeat: a check that it runs, not a measurement")
    args = ap.parse_args()
    if args.tiny:
        args.batch, args.repeats = 1, 1
    xp = backend.xp_for(args.device)
    use_torch = args.torch and args.device == "cpu"
    if use_torch:
        import torch
        import torch.nn.functional as T
    rng = np.random.default_rng(0)
    print(f"# fwd+bwd, float32, N={args.batch}, {args.device}: {describe_machine()}")
    print("| layer | input | ours (ms) |" + (" PyTorch (ms) | ours / PyTorch |" if use_torch
                                              else ""))
    print("|---|---|---|" + ("---|---|" if use_torch else ""))
    for name, shape, ours, theirs in cases(args.batch, args.tiny):
        x_np = rng.standard_normal(shape).astype("float32")
        lab_np = rng.integers(0, shape[1], (shape[0],) + shape[2:])
        lab_np[rng.random(lab_np.shape) < 0.1] = 255
        x, lab = xp.asarray(x_np), xp.asarray(lab_np)
        t = median_time(lambda: ours(x, lab), xp, args.repeats)
        row = f"| {name} | {shape} | {1e3 * t:.1f} |"
        if use_torch:
            xt = torch.tensor(x_np, requires_grad=True)
            lt = torch.tensor(lab_np)

            def torch_run():
                y = theirs(xt, T, lt)
                y.backward(torch.ones_like(y) if y.ndim == 0 else y.detach())
            tt = median_time(torch_run, xp, args.repeats)
            row += f" {1e3 * tt:.1f} | {t / tt:.2f} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
