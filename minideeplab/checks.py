"""Argument checks and size arithmetic shared by the whole library.

Every public function (the functional ops, the layers, the CRF, the optimiser, the metrics, the
data pipeline) validates its inputs with these helpers, so that bad input fails early, before
any work, with an error that names the function, the argument and the shapes involved. Each
helper takes the calling function's name ``fn`` first for that message.
"""
import numbers

import numpy

from . import backend


def conv_output_size(size, kernel, *, stride=1, padding=0, rate=1):
    """Output length of a (possibly atrous) convolution or pooling along one axis.

    ``(size + 2*padding - rate*(kernel-1) - 1) // stride + 1`` (Caffe and PyTorch; DeepLab v2,
    Sec. 3.1: the effective kernel of an atrous filter is ``k_e = k + (k-1)(r-1)``).
    """
    return (size + 2 * padding - rate * (kernel - 1) - 1) // stride + 1


def effective_kernel_size(kernel, rate):
    """``k_e = k + (k - 1)(r - 1)``: the extent of a k-tap filter with rate r (paper Sec. 3.1)."""
    return kernel + (kernel - 1) * (rate - 1)


def check_array(fn, name, x, ndim=None, floating=True):
    """Check that ``x`` is a NumPy/CuPy array of ``ndim`` dims (and floating point)."""
    if not (isinstance(x, numpy.ndarray) or backend.is_gpu_array(x)):
        raise TypeError(f"{fn}: {name} must be a NumPy or CuPy array, got {type(x).__name__}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{fn}: {name} must have {ndim} dimensions, got {x.ndim} "
                         f"({name}.shape={tuple(x.shape)})")
    if floating and x.dtype.kind != "f":
        raise TypeError(f"{fn}: {name} must be a floating-point array, got dtype {x.dtype} "
                        f"({name}.shape={tuple(x.shape)})")
    return x


def check_int(fn, name, value, minimum):
    """Check an integer hyper-parameter (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{fn}: {name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value}")
    return int(value)


def check_number(fn, name, value, minimum=None, maximum=None):
    """Check a real-valued hyper-parameter (bools and NaN are refused); returns a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{fn}: {name} must be a real number, got {value!r}")
    value = float(value)
    if value != value:
        raise ValueError(f"{fn}: {name} is NaN")
    if minimum is not None and value < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{fn}: {name} must be <= {maximum}, got {value}")
    return value


def check_pair(fn, name, value, minimum):
    """An int or a pair of ints (for height and width), each >= minimum."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{fn}: {name} must be an int or a pair (h, w), got {value!r}")
        return (check_int(fn, f"{name}[0]", value[0], minimum),
                check_int(fn, f"{name}[1]", value[1], minimum))
    v = check_int(fn, name, value, minimum)
    return (v, v)


def check_choice(fn, name, value, choices):
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{fn}: unknown {name} {value!r}; choose one of {tuple(choices)}")
    return value


def check_same_dtype(fn, **arrays):
    """All given arrays (None ignored) must share one dtype: no silent float64 promotion."""
    items = [(k, v) for k, v in arrays.items() if v is not None]
    first_name, first = items[0]
    for name, a in items[1:]:
        if a.dtype != first.dtype:
            raise TypeError(f"{fn}: {name} has dtype {a.dtype} but {first_name} has dtype "
                            f"{first.dtype}; convert one of them with .astype(...)")
