"""How fast: holes vs deinterlacing over rates (Sec. 3.1), and the same code on CPU and GPU.

Two measurements for the tutorials and the reproduce jobs, both medians of
:func:`minideeplab.timing.median_time` (which synchronises the GPU around the clock):

* :func:`time_atrous_methods` times ``conv2d(method="holes")`` against
  ``conv2d(method="deinterlace")`` over rates on an fc6-like layer (tutorial 02,
  ``reproduce --only atrous_timing``, which the default run skips: its times are this
  machine's, and :func:`timing_machine` names the machine and the date beside them);
* :func:`time_on_devices` runs the same workloads (an fc6-like atrous convolution
  forward+backward with both methods, and one forward+backward pass of a tiny
  DeepLab-LargeFOV) on every device asked for and available (tutorial 08). DeepLab's ops never
  choose a device: each takes its array module from its inputs, so moving the inputs moves
  the computation.

The figures of :mod:`minideeplab.paper.figures.deinterlace` and
:mod:`minideeplab.paper.figures.device` draw the rows returned here.
"""
from collections import namedtuple

import numpy as np

from .. import backend
from ..functional import conv2d, conv2d_backward
from ..models import build_model
from ..nn import LARGEFOV_RATE
from ..progress import progress_bar
from ..timing import median_time

__all__ = ["TimingRow", "TIMING_FULL", "TIMING_QUICK", "timing_title", "timing_machine",
           "time_atrous_methods",
           "format_timing", "DeviceTiming", "workloads", "time_on_devices",
           "pivot_device_timing", "format_device_timing"]

TimingRow = namedtuple("TimingRow", "rate method seconds sub_size")
TimingRow.__doc__ = ("Median seconds of one conv2d forward+backward at this rate and method; "
                     "sub_size is the deinterlaced sub-images' side.")

# the timing layer: fc6-like, 41x41 (a 321 crop at output stride 8); quick: 16 channels
TIMING_FULL = dict(rates=(1, 2, 3, 4, 6, 8, 12, 18, 24), channels=128, repeats=3)
TIMING_QUICK = dict(rates=(1, 2, 12), channels=16, repeats=1)


def timing_title(channels, device, size=41):
    """The timing figure's title: the layer's shapes and the device."""
    return (f"conv2d fwd+bwd, x (1, {channels}, {size}, {size}), w ({channels}, {channels}, 3, 3), "
            f"float32, {device}")


def timing_machine(device="cpu"):
    """One line naming the machine, the date and the load of a timing: the times depend on all
    three (the load average counts the other programs running at the time)."""
    import datetime
    import os

    from ..timing import describe_machine
    on = " (timed on its GPU)" if device == "gpu" else ""
    try:
        load = f", load average {os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):        # not on every platform
        load = ""
    return f"Measured on {describe_machine()}{on}, {datetime.date.today().isoformat()}{load}"


def time_atrous_methods(rates=(1, 2, 3, 4, 6, 8, 12, 18, 24), *, size=41, channels=256,
                        batch=1, kernel=3, repeats=3, device="cpu", progress=None, seed=0):
    """Median time of one conv2d forward + backward, holes vs deinterlace, for each rate.

    The layer is fc6-like: x (batch, channels, size, size), w (channels, channels, K, K),
    padding r(K-1)/2 (the size is kept), float32 on ``device``. ``progress``: a bar over the
    cases (:func:`minideeplab.progress.progress_bar`).

    Returns a list of :class:`TimingRow`.
    """
    xp = backend.xp_for(device)
    rng = np.random.default_rng(seed)
    x = xp.asarray(rng.standard_normal((batch, channels, size, size)).astype(np.float32))
    w = xp.asarray((rng.standard_normal((channels, channels, kernel, kernel))
                    / np.sqrt(channels * kernel * kernel)).astype(np.float32))
    rows = []
    cases = [(r, m) for r in rates for m in ("holes", "deinterlace")]
    for r, method in progress_bar(progress, cases, desc="holes vs deinterlace"):
        pad = r * (kernel - 1) // 2

        def fwd_bwd():
            y, cache = conv2d(x, w, padding=pad, rate=r, method=method)
            conv2d_backward(y, cache)
        sub = -(-(size + 2 * pad) // r)                     # ceil((size + 2 pad) / r)
        rows.append(TimingRow(r, method, median_time(fwd_bwd, xp, repeats), sub))
    return rows


def format_timing(rows):
    """The timing rows as a text table: rate, sub-image side, ms per method, ratio."""
    by = {(t.rate, t.method): t for t in rows}
    rates = sorted({t.rate for t in rows})
    lines = [f"{'rate':>5} {'sub-image':>9} {'holes ms':>9} {'deinterlace ms':>15} "
             f"{'deinterlace/holes':>18}"]
    for r in rates:
        h, d = by[(r, "holes")], by[(r, "deinterlace")]
        lines.append(f"{r:>5} {d.sub_size:>9} {1e3 * h.seconds:>9.1f} {1e3 * d.seconds:>15.1f} "
                     f"{d.seconds / h.seconds:>18.2f}")
    return "\n".join(lines)


DeviceTiming = namedtuple("DeviceTiming", "workload device seconds")
DeviceTiming.__doc__ = "Median seconds of one run of a workload on a device ('cpu'/'gpu')."


def workloads(quick=False):
    """name -> setup(xp) -> run(): each run is one forward+backward pass.

    * ``conv <method> rate 12``: x (N, C, 41, 41), w (C, C, 3, 3), padding 12 (fc6 of
      LargeFOV with C channels; C = 128, N = 2; quick: C = 16, N = 1);
    * ``tiny LargeFOV step``: ``build_model("largefov", tiny=True)`` on (1, 3, S, S) images,
      S = 321, the paper's crop (quick: 33), forward + backward of random score gradients.
    """
    C, N, S = (16, 1, 33) if quick else (128, 2, 321)

    def conv(method):
        def setup(xp):
            rng = np.random.default_rng(0)
            x = xp.asarray(rng.standard_normal((N, C, 41, 41)).astype(np.float32))
            w = xp.asarray((rng.standard_normal((C, C, 3, 3)) / np.sqrt(9 * C))
                           .astype(np.float32))

            def run():
                y, cache = conv2d(x, w, padding=LARGEFOV_RATE, rate=LARGEFOV_RATE,
                                  method=method)
                conv2d_backward(y, cache)
            return run
        return setup

    def model_step(xp):
        device = "gpu" if xp is not np else "cpu"
        model = build_model("largefov", tiny=True, device=device)
        rng = np.random.default_rng(0)
        x = xp.asarray(rng.standard_normal((1, 3, S, S)).astype(np.float32))
        dlogits = None

        def run():
            nonlocal dlogits
            logits = model(x)
            if dlogits is None:
                dlogits = xp.asarray(rng.standard_normal(logits.shape).astype(np.float32))
            model.backward(dlogits)
        return run

    return {"conv holes rate 12": conv("holes"),
            "conv deinterlace rate 12": conv("deinterlace"),
            "tiny LargeFOV step": model_step}


def time_on_devices(devices=("cpu", "gpu"), *, quick=False, repeats=3, progress=None):
    """Time every workload on every device in ``devices`` that is available here.

    Devices that are not available are skipped (``backend.gpu_available()`` is False on a
    CPU-only machine). Each timing is the median of ``repeats`` runs after one warm-up run,
    with the GPU synchronised before the clock stops. Returns a list of :class:`DeviceTiming`.
    """
    usable = [d for d in devices if d == "cpu" or backend.gpu_available()]
    cases = [(name, setup, d) for d in usable for name, setup in workloads(quick).items()]
    rows = []
    for name, setup, device in progress_bar(progress, cases, desc="devices"):
        xp = backend.xp_for(device)
        # warm-up call first: allocations, GPU kernels compiled
        rows.append(DeviceTiming(name, device, median_time(setup(xp), xp, repeats)))
    return rows


def pivot_device_timing(rows):
    """(sorted devices, workloads in first-seen order, {(workload, device): seconds})."""
    by = {(r.workload, r.device): r.seconds for r in rows}
    return sorted({r.device for r in rows}), list(dict.fromkeys(r.workload for r in rows)), by


def format_device_timing(rows):
    """A text table: one line per workload, ms per device, and the speed-up when both ran."""
    devices, names, by = pivot_device_timing(rows)
    head = f"{'workload':26s}" + "".join(f"{d + ' ms':>11s}" for d in devices)
    if len(devices) == 2:
        head += f"{'cpu/gpu':>9s}"
    lines = [head]
    for n in names:
        line = f"{n:26s}" + "".join(f"{1e3 * by[(n, d)]:>11.1f}" for d in devices)
        if len(devices) == 2:
            line += f"{by[(n, 'cpu')] / by[(n, 'gpu')]:>9.1f}"
        lines.append(line)
    return "\n".join(lines)
