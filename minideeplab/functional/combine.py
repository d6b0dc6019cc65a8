"""Combining parallel branches: element-wise sum and channel concatenation, with backward.

DeepLab v2's ASPP (Sec. 3.3, Fig. 4 and 7) runs parallel branches on one feature map and
**sums** their class scores (the Caffe release's ``Eltwise SUM`` over fc8_1..fc8_4). DeepLab v3's
ASPP (Chen et al. 2017, Sec. 3.3) **concatenates** its branches' features along the channels
and mixes them with a 1x1 convolution.

Shapes: xs is a list of B arrays. For ``add`` all are (N, C, H, W) and y is (N, C, H, W); for
``concat`` x_b is (N, C_b, H, W) and y is (N, C_1 + ... + C_B, H, W).
"""
from collections import namedtuple

from .. import backend
from ..checks import check_array, check_cache, check_grad, check_int, check_same_dtype
from ..errors import ArgumentError

__all__ = ["add", "add_backward", "concat", "concat_backward"]

AddCache = namedtuple("AddCache", "count shape dtype")
AddCache.__doc__ = "count: the number of summed arrays; shape, dtype: their common shape, dtype."
AddCache.op = "add"
ConcatCache = namedtuple("ConcatCache", "sizes axis shape dtype")
ConcatCache.__doc__ = ("sizes: each input's extent along ``axis``; shape: the output shape; "
                       "dtype: the inputs'.")
ConcatCache.op = "concat"


def _check_list(fn, xs):
    if not isinstance(xs, (list, tuple)):
        raise ArgumentError(f"{fn}: xs must be a list of arrays, got {type(xs).__name__}")
    if len(xs) == 0:
        raise ArgumentError(f"{fn}: xs must hold at least one array, got an empty list")
    for i, x in enumerate(xs):
        check_array(fn, f"xs[{i}]", x, nonempty=True)
    check_same_dtype(fn, **{f"xs[{i}]": x for i, x in enumerate(xs)})
    return backend.get_array_module(*xs)


def add(xs):
    """Element-wise sum of branch outputs: ``y = x_1 + ... + x_B`` (ASPP v2's fusion).

    xs : list of B arrays of one shape -> y (a new array), cache AddCache
    """
    fn = "add"
    xp = _check_list(fn, xs)
    shape = tuple(xs[0].shape)
    for i, x in enumerate(xs[1:], 1):
        if tuple(x.shape) != shape:
            raise ArgumentError(f"{fn}: xs[{i}].shape={tuple(x.shape)} differs from "
                                f"xs[0].shape={shape}; summed branches must have one shape")
    y = xp.zeros(shape, dtype=xs[0].dtype)
    for x in xs:
        y += x
    return y, AddCache(len(xs), shape, xs[0].dtype)


def add_backward(dy, cache):
    """Gradient of :func:`add`: every input gets ``dy`` (a separate copy each)."""
    fn = "add_backward"
    check_cache(fn, cache, AddCache)
    check_grad(fn, dy, cache.dtype, cache.shape)
    return [dy.copy() for _ in range(cache.count)]


def concat(xs, axis=1):
    """Concatenate branch outputs along the channels (ASPP v3's fusion).

    xs : list of B arrays (N, C_b, H, W), equal except along ``axis`` (default 1, channels)
    -> y (N, sum C_b, H, W), cache ConcatCache
    """
    fn = "concat"
    xp = _check_list(fn, xs)
    ref = tuple(xs[0].shape)
    axis = check_int(fn, "axis", axis, -len(ref))
    if axis >= len(ref):
        raise ArgumentError(f"{fn}: axis must be in [-{len(ref)}, {len(ref)}) for arrays of shape "
                            f"{ref}, got {axis}")
    axis %= len(ref)
    for i, x in enumerate(xs[1:], 1):
        s = tuple(x.shape)
        if len(s) != len(ref) or s[:axis] + s[axis + 1:] != ref[:axis] + ref[axis + 1:]:
            raise ArgumentError(f"{fn}: xs[{i}].shape={s} and xs[0].shape={ref} must agree on "
                                f"every axis except axis={axis}")
    y = xp.concatenate(xs, axis=axis)
    return y, ConcatCache(tuple(int(x.shape[axis]) for x in xs), axis, tuple(y.shape),
                          xs[0].dtype)


def concat_backward(dy, cache):
    """Gradient of :func:`concat`: the slices of ``dy`` that each input filled (copies)."""
    fn = "concat_backward"
    check_cache(fn, cache, ConcatCache)
    check_grad(fn, dy, cache.dtype, cache.shape)
    out, start = [], 0
    index = [slice(None)] * dy.ndim
    for size in cache.sizes:
        index[cache.axis] = slice(start, start + size)
        out.append(dy[tuple(index)].copy())
        start += size
    return out
