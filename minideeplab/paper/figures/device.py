"""The same code on NumPy and CuPy: time a few workloads on each available device.

DeepLab's ops never choose a device: each takes its array module from its inputs
(``xp = backend.get_array_module(x)``), so moving the inputs with
:func:`~minideeplab.backend.to_device` moves the computation. :func:`time_on_devices` runs the
same workloads (an fc6-like atrous convolution forward+backward with both methods, and one
forward+backward pass of a tiny DeepLab-LargeFOV) on every device asked for and available,
and :func:`fig_device_timing` draws them side by side.
"""
from collections import namedtuple

import numpy as np

from ... import backend
from ...timing import median_time
from ...functional import conv2d, conv2d_backward
from .common import SUBIMAGE_COLORS, new_figure, style_axes

__all__ = ["DeviceTiming", "workloads", "time_on_devices", "format_device_timing",
           "fig_device_timing"]

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
                y, cache = conv2d(x, w, padding=12, rate=12, method=method)
                conv2d_backward(y, cache)
            return run
        return setup

    def model_step(xp):
        from ...models import build_model
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
    for name, setup, device in (progress(cases, desc="devices") if progress else cases):
        xp = backend.xp_for(device)
        # warm-up call first: allocations, GPU kernels compiled
        rows.append(DeviceTiming(name, device, median_time(setup(xp), xp, repeats)))
    return rows


def _pivot(rows):
    """(sorted devices, workloads in first-seen order, {(workload, device): seconds})."""
    by = {(r.workload, r.device): r.seconds for r in rows}
    return sorted({r.device for r in rows}), list(dict.fromkeys(r.workload for r in rows)), by


def format_device_timing(rows):
    """A text table: one line per workload, ms per device, and the speed-up when both ran."""
    devices, names, by = _pivot(rows)
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


def fig_device_timing(rows, title="The same code on NumPy (cpu) and CuPy (gpu)"):
    """Grouped bars: one group per workload, one bar per device (log scale). Returns the Figure."""
    devices, names, by = _pivot(rows)
    fig = new_figure(7.5, 3.8)
    ax = fig.add_subplot()
    width = 0.8 / len(devices)
    for k, d in enumerate(devices):
        xs = np.arange(len(names)) + (k - (len(devices) - 1) / 2) * width
        ms = [1e3 * by[(n, d)] for n in names]
        ax.bar(xs, ms, width, label=d, color=SUBIMAGE_COLORS[k])
        for x, v in zip(xs, ms):
            ax.text(x, v, f"{v:,.0f}" if v >= 100 else f"{v:.3g}", ha="center", va="bottom",
                    fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, fontsize=8)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    style_axes(ax, title=title if len(devices) > 1 else title + " (no GPU here: cpu only)",
               ylabel="median ms per forward+backward")
    return fig
