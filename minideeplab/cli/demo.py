"""python -m minideeplab demo: atrous convolution three ways on a LargeFOV fc6-like layer.

Computes one atrous convolution (forward and backward) by holes, by deinterlacing and by the
plain loop, checks that the three agree, and times each: one warm-up call, then the median of
--repeats calls (the times are this machine's, and they vary with what else it is running).
"""
import time

import numpy as np

from .. import backend, functional as F
from ..checks import check_budget
from ..nn import LARGEFOV_RATE
from ..timing import median_time
from .arguments import positive_int


def add_parser(sub):
    p = sub.add_parser("demo", help="compute one atrous convolution three ways and compare",
                       description=__doc__)
    p.add_argument("--rate", type=positive_int, default=LARGEFOV_RATE,
                   help=f"atrous rate r (default {LARGEFOV_RATE}, LargeFOV)")
    p.add_argument("--size", type=positive_int, default=41,
                   help="feature map side (41 = 321/8 + 1)")
    p.add_argument("--channels", type=positive_int, default=64,
                   help="input and output channels")
    p.add_argument("--repeats", type=positive_int, default=5,
                   help="timed calls per method after one warm-up; the median is shown "
                        "(default 5)")
    p.add_argument("--device", choices=backend.DEVICES, default=None)
    return p


def run(args):
    xp = backend.xp_for(args.device)
    rng = np.random.default_rng(0)
    C, S, r = args.channels, args.size, args.rate
    check_budget("demo", f"--channels {C}, --size {S}, --rate {r}", 8, x=(1, C, S, S),
                 w=(C, C, 3, 3), padded_x=(1, C, S + 2 * r, S + 2 * r))     # before drawing
    x = xp.asarray(rng.standard_normal((1, C, S, S)).astype("float32"))
    w = xp.asarray((rng.standard_normal((C, C, 3, 3)) / np.sqrt(9 * C)).astype("float32"))
    print(f"atrous convolution: x {tuple(x.shape)}, w {tuple(w.shape)}, rate {r}, padding {r} "
          f"(effective kernel {F.effective_kernel_size(3, r)}x{F.effective_kernel_size(3, r)}), "
          f"on {backend.device_of(x)}; forward + backward, median of {args.repeats} after one "
          "warm-up")
    outputs = {}
    for method in F.CONV_METHODS:
        cpu = []                      # CPU seconds of each call (this process, all threads)

        def forward_backward():
            t0 = time.process_time()
            y, cache = F.conv2d(x, w, padding=r, rate=r, method=method)
            F.conv2d_backward(y, cache)
            cpu.append(time.process_time() - t0)
            outputs[method] = y

        seconds = median_time(forward_backward, xp, repeats=args.repeats, warmup=1)
        outputs[method] = backend.asnumpy(outputs[method])
        cpu_note = (f" (CPU time {1e3 * float(np.median(cpu[1:])):.1f} ms)"
                    if xp is np else "")
        print(f"  {method:12s} y {tuple(outputs[method].shape)}  {1e3 * seconds:8.1f} ms"
              + cpu_note)
    ref = outputs["direct"]
    for method in ("holes", "deinterlace"):
        err = float(np.abs(outputs[method] - ref).max())
        print(f"  max |{method} - direct| = {err:.2e}")
    return 0
