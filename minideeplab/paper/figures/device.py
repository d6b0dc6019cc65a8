"""The same code on NumPy and CuPy: the workloads' times on each device, side by side.

:func:`fig_device_timing` draws the rows of :func:`minideeplab.paper.speed.time_on_devices`.
"""
import numpy as np

from ..speed import pivot_device_timing
from .common import SUBIMAGE_COLORS, new_figure, style_axes

__all__ = ["fig_device_timing"]


def fig_device_timing(rows, title="The same code on NumPy (cpu) and CuPy (gpu)"):
    """Each workload's median time per device as points on a log axis (times span several
    orders of magnitude; bars would start at an arbitrary bottom and their lengths would
    exaggerate the differences), and, with two devices, the speed-up cpu / gpu as bars on a
    linear axis from 0. Returns the Figure."""
    devices, names, by = pivot_device_timing(rows)
    both = len(devices) == 2
    fig = new_figure(11 if both else 7.5, 3.8)
    axes = np.atleast_1d(fig.subplots(1, 2 if both else 1))
    ax = axes[0]
    for k, d in enumerate(devices):
        xs = np.arange(len(names)) + (k - (len(devices) - 1) / 2) * 0.25
        ms = [1e3 * by[(n, d)] for n in names]
        ax.plot(xs, ms, "o", ms=7, label=d, color=SUBIMAGE_COLORS[k])
        for x, v in zip(xs, ms):
            ax.annotate(f"{v:,.0f}" if v >= 100 else f"{v:.3g}", (x, v), fontsize=7,
                        xytext=(5, 0), textcoords="offset points", va="center")
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, fontsize=8)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.legend(fontsize=8)
    ax.grid(axis="y", which="both", alpha=0.3)
    style_axes(ax, title=title if both else title + " (no GPU here: cpu only)",
               ylabel="median ms per run (log scale)")
    if both:
        ratio = [by[(n, "cpu")] / by[(n, "gpu")] for n in names]
        axes[1].bar(range(len(names)), ratio, 0.6, color=SUBIMAGE_COLORS[2])
        axes[1].axhline(1.0, color="k", lw=0.8)
        for x, v in enumerate(ratio):
            axes[1].text(x, v, f"{v:.1f}x", ha="center", va="bottom", fontsize=7)
        axes[1].set_ylim(bottom=0)
        axes[1].set_xticks(range(len(names)))
        axes[1].set_xticklabels(names, fontsize=8)
        style_axes(axes[1], title="speed-up (linear axis from 0)", ylabel="cpu time / gpu time")
    return fig
