"""The convolution layer: a thin holder of ``weight``/``bias`` around :func:`functional.conv2d`."""
from .. import backend, checks, functional as F
from ..errors import ArgumentError
from . import init
from .module import Module

__all__ = ["Conv2d"]


class Conv2d(Module):
    """Atrous 2-D convolution layer (DeepLab v2, Sec. 3.1).

    Parameters
    ----------
    in_channels, out_channels : int, C and O
    kernel_size : int or (KH, KW)
    stride, padding, rate : as :func:`minideeplab.functional.conv2d`
    bias : bool, learn a bias (O,)
    method : "holes" | "deinterlace" | "direct", how the atrous convolution is computed
    weight_std : float or None; None is He initialisation, sqrt(2 / (C*KH*KW))
    seed : int or numpy Generator for the initial weights
    dtype, device : of the parameters (device None: the default device)

    ``params``: ``weight`` (O, C, KH, KW) and ``bias`` (O,). As in DeepLab's Caffe prototxt,
    biases get ``lr_mult = 2`` and ``decay_mult = 0``.
    Shapes: x (N, C, H, W) -> y (N, O, H_out, W_out).
    """

    def __init__(self, in_channels, out_channels, kernel_size, *, stride=1, padding=0, rate=1,
                 bias=True, method="holes", weight_std=None, seed=None, dtype="float32",
                 device=None):
        super().__init__()
        fn = "Conv2d"
        in_channels = checks.check_int(fn, "in_channels", in_channels, 1)
        out_channels = checks.check_int(fn, "out_channels", out_channels, 1)
        kh, kw = checks.check_pair(fn, "kernel_size", kernel_size, 1)
        checks.check_int(fn, "stride", stride, 1)
        checks.check_pair(fn, "padding", padding, 0)
        checks.check_int(fn, "rate", rate, 1)
        checks.check_bool(fn, "bias", bias)
        checks.check_rng(fn, "seed", seed, required=False)
        checks.check_choice(fn, "method", method, F.CONV_METHODS)
        if method == "deinterlace" and stride != 1:
            raise ArgumentError(f"{fn}: method='deinterlace' supports stride=1 only, got "
                                f"stride={stride}")
        if weight_std is not None:
            checks.check_number(fn, "weight_std", weight_std, 0.0)
        dtype = checks.check_float_dtype(fn, "dtype", dtype)
        if device is not None:
            backend.xp_for(device)                     # a clear error for an unknown device
        shape = (out_channels, in_channels, kh, kw)
        if not init.counting():                # drawn in float64, then cast
            checks.check_budget(fn, "in_channels, out_channels and kernel_size", 8,
                                weight=shape)
        if weight_std is None:
            self.params["weight"] = init.he_normal(shape, seed, dtype, device)
        else:
            self.params["weight"] = init.normal(shape, weight_std, seed, dtype, device)
        if bias:
            self.params["bias"] = init.zeros((out_channels,), dtype, device)
            self.lr_mult["bias"] = 2.0
            self.decay_mult["bias"] = 0.0
        self.stride, self.padding, self.rate, self.method = stride, padding, rate, method

    def forward(self, x):
        y, self.cache = F.conv2d(x, self.params["weight"], self.params.get("bias"),
                                 stride=self.stride, padding=self.padding, rate=self.rate,
                                 method=self.method)
        return y

    def backward(self, dy):
        dx, dw, db = F.conv2d_backward(dy, self.saved_cache())
        self.accumulate_grad("weight", dw)
        self.accumulate_grad("bias", db)
        return dx

    def __repr__(self):
        O, C, KH, KW = self.params["weight"].shape
        return (f"Conv2d({C}, {O}, kernel=({KH}, {KW}), stride={self.stride}, "
                f"padding={self.padding}, rate={self.rate}, method={self.method!r})")
