"""``python -m minideeplab demo``: atrous convolution three ways on a LargeFOV fc6-like layer."""
import time

import numpy as np

from .. import backend, functional as F
from .arguments import positive_int


def add_parser(sub):
    p = sub.add_parser("demo", help="compute one atrous convolution three ways and compare",
                       description=__doc__)
    p.add_argument("--rate", type=positive_int, default=12,
                   help="atrous rate r (default 12, LargeFOV)")
    p.add_argument("--size", type=positive_int, default=41,
                   help="feature map side (41 = 321/8 + 1)")
    p.add_argument("--channels", type=positive_int, default=64,
                   help="input and output channels")
    p.add_argument("--device", choices=backend.DEVICES, default=None)
    return p


def run(args):
    xp = backend.xp_for(args.device)
    rng = np.random.default_rng(0)
    C, S, r = args.channels, args.size, args.rate
    x = xp.asarray(rng.standard_normal((1, C, S, S)).astype("float32"))
    w = xp.asarray((rng.standard_normal((C, C, 3, 3)) / np.sqrt(9 * C)).astype("float32"))
    print(f"atrous convolution: x {tuple(x.shape)}, w {tuple(w.shape)}, rate {r}, padding {r} "
          f"(effective kernel {F.effective_kernel_size(3, r)}x{F.effective_kernel_size(3, r)}), "
          f"on {backend.device_of(x)}")
    results = {}
    for method in F.CONV_METHODS:
        t0 = time.perf_counter()
        y, cache = F.conv2d(x, w, padding=r, rate=r, method=method)
        dx, dw, _ = F.conv2d_backward(y, cache)
        backend.synchronize(xp)
        results[method] = (backend.asnumpy(y), time.perf_counter() - t0)
        print(f"  {method:12s} y {tuple(y.shape)}  fwd+bwd {1e3 * results[method][1]:8.1f} ms")
    ref = results["direct"][0]
    for method in ("holes", "deinterlace"):
        err = float(np.abs(results[method][0] - ref).max())
        print(f"  max |{method} - direct| = {err:.2e}")
    return 0
