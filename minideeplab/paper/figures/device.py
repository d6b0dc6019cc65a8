"""The same code on NumPy and CuPy: the workloads' times on each device, side by side.

:func:`fig_device_timing` draws the rows of :func:`minideeplab.paper.speed.time_on_devices`.
"""
import numpy as np

from ..speed import pivot_device_timing
from .common import SUBIMAGE_COLORS, new_figure, style_axes

__all__ = ["fig_device_timing"]


def fig_device_timing(rows, title="The same code on NumPy (cpu) and CuPy (gpu)"):
    """Grouped bars: one group per workload, one bar per device (log scale). Returns the Figure."""
    devices, names, by = pivot_device_timing(rows)
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
