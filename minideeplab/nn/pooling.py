"""Pooling layers: thin holders around :mod:`minideeplab.functional.pooling` (no parameters)."""
from .. import checks, functional as F
from .module import Module

__all__ = ["MaxPool2d", "AvgPool2d", "GlobalAvgPool"]


def _check_window(fn, kernel, stride, padding, ceil_mode):
    """The window arguments, checked when the layer is built (the sizes again at forward)."""
    checks.check_pair(fn, "kernel", kernel, 1)
    if stride is not None:
        checks.check_pair(fn, "stride", stride, 1)
    checks.check_pair(fn, "padding", padding, 0)
    checks.check_bool(fn, "ceil_mode", ceil_mode)


class MaxPool2d(Module):
    """Max pooling (DeepLab's VGG pool1-pool3: 3x3 stride 2 pad 1; pool4/pool5: stride 1).

    Parameters: kernel, stride (default: kernel), padding, ceil_mode (default True: Caffe's
    rounding up; see :mod:`minideeplab.functional.pooling`).
    Shapes: x (N, C, H, W) -> y (N, C, H_out, W_out).
    """

    def __init__(self, kernel, stride=None, padding=0, *, ceil_mode=True):
        super().__init__()
        _check_window("MaxPool2d", kernel, stride, padding, ceil_mode)
        self.kernel, self.stride, self.padding, self.ceil_mode = kernel, stride, padding, ceil_mode

    def forward(self, x):
        y, self.cache = F.max_pool2d(x, self.kernel, self.stride, self.padding,
                                     ceil_mode=self.ceil_mode)
        return y

    def backward(self, dy):
        return F.max_pool2d_backward(dy, self.saved_cache())

    def __repr__(self):
        return (f"MaxPool2d(kernel={self.kernel}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode})")


class AvgPool2d(Module):
    """Average pooling (e.g. DeepLab v1's 3x3 stride-1 ``pool5a``); Caffe's AVE rules.

    Parameters: kernel, stride (default: kernel), padding, ceil_mode (default True),
    count_include_pad (default True, Caffe). Shapes: (N, C, H, W) -> (N, C, H_out, W_out).
    """

    def __init__(self, kernel, stride=None, padding=0, *, ceil_mode=True,
                 count_include_pad=True):
        super().__init__()
        _check_window("AvgPool2d", kernel, stride, padding, ceil_mode)
        checks.check_bool("AvgPool2d", "count_include_pad", count_include_pad)
        self.kernel, self.stride, self.padding, self.ceil_mode = kernel, stride, padding, ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, x):
        y, self.cache = F.avg_pool2d(x, self.kernel, self.stride, self.padding,
                                     ceil_mode=self.ceil_mode,
                                     count_include_pad=self.count_include_pad)
        return y

    def backward(self, dy):
        return F.avg_pool2d_backward(dy, self.saved_cache())

    def __repr__(self):
        return (f"AvgPool2d(kernel={self.kernel}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}, count_include_pad={self.count_include_pad})")


class GlobalAvgPool(Module):
    """Mean over all positions (DeepLab v3's image pooling). (N, C, H, W) -> (N, C, 1, 1)."""

    def forward(self, x):
        y, self.cache = F.global_avg_pool(x)
        return y

    def backward(self, dy):
        return F.global_avg_pool_backward(dy, self.saved_cache())

    def __repr__(self):
        return "GlobalAvgPool()"
