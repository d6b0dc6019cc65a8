"""Argument checks and size arithmetic shared by the whole library.

Every public function (the functional ops, the layers, the CRF, the optimiser, the metrics, the
data pipeline) validates its inputs with these helpers, so that bad input fails early, before
any work, with an error that names the function, the argument and the shapes involved. Each
helper takes the calling function's name ``fn`` first for that message.
"""
import math
import numbers
import os

import numpy as np

from . import backend
from .errors import ArgumentError, BudgetExceededError


def conv_output_size(size, kernel, *, stride=1, padding=0, rate=1):
    """Output length of a (possibly atrous) convolution or pooling along one axis.

    ``(size + 2*padding - rate*(kernel-1) - 1) // stride + 1`` (Caffe and PyTorch; DeepLab v2,
    Sec. 3.1: the effective kernel of an atrous filter is ``k_e = k + (k-1)(r-1)``). Sizes,
    kernel, stride and rate are ints >= 1, padding >= 0; the result may be <= 0 (the kernel
    does not fit), which the ops refuse.
    """
    fn = "conv_output_size"
    check_ints(fn, 1, size=size, kernel=kernel, stride=stride, rate=rate)
    check_int(fn, "padding", padding, 0)
    return (size + 2 * padding - rate * (kernel - 1) - 1) // stride + 1


def effective_kernel_size(kernel, rate):
    """``k_e = k + (k - 1)(r - 1)``: the extent of a k-tap filter with rate r (paper Sec. 3.1);
    kernel and rate are ints >= 1."""
    check_ints("effective_kernel_size", 1, kernel=kernel, rate=rate)
    return kernel + (kernel - 1) * (rate - 1)


def check_array(fn, name, x, ndim=None, floating=True, nonempty=False):
    """Check that ``x`` is a NumPy/CuPy array of ``ndim`` dims (and floating point).

    With ``nonempty`` every axis must have at least one element (the functional ops ask for
    it: an op has nothing to compute on an empty map, and an empty label axis has no softmax).
    """
    if not (isinstance(x, np.ndarray) or backend.is_gpu_array(x)):
        raise ArgumentError(f"{fn}: {name} must be a NumPy or CuPy array, got {type(x).__name__}")
    if ndim is not None and x.ndim != ndim:
        raise ArgumentError(f"{fn}: {name} must have {ndim} dimensions, got {x.ndim} "
                            f"({name}.shape={tuple(x.shape)})")
    if floating and x.dtype.kind != "f":
        raise ArgumentError(f"{fn}: {name} must be a floating-point array, got dtype {x.dtype} "
                            f"({name}.shape={tuple(x.shape)})")
    if nonempty and 0 in x.shape:
        raise ArgumentError(f"{fn}: {name} must not be empty, got {name}.shape={tuple(x.shape)}")
    return x


def check_int(fn, name, value, minimum):
    """Check an integer hyper-parameter (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentError(f"{fn}: {name} must be an integer, got {value!r}")
    if value < minimum:
        raise ArgumentError(f"{fn}: {name} must be >= {minimum}, got {value}")
    return int(value)


def check_ints(fn, minimum, **values):
    """:func:`check_int` on every keyword argument (name=value), each >= ``minimum``."""
    return [check_int(fn, name, value, minimum) for name, value in values.items()]


def check_number(fn, name, value, minimum=None, maximum=None):
    """Check a real-valued hyper-parameter (bools, NaN and infinities are refused); returns a
    finite float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentError(f"{fn}: {name} must be a real number, got {value!r}")
    try:
        value = float(value)
    except OverflowError:                  # an int beyond float64's range
        value = math.inf if value > 0 else -math.inf
    if value != value:
        raise ArgumentError(f"{fn}: {name} is NaN")
    if math.isinf(value):
        raise ArgumentError(f"{fn}: {name} must be a finite number, got {value}")
    if minimum is not None and value < minimum:
        raise ArgumentError(f"{fn}: {name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ArgumentError(f"{fn}: {name} must be <= {maximum}, got {value}")
    return value


def check_pair(fn, name, value, minimum):
    """An int or a pair of ints (for height and width), each >= minimum."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ArgumentError(f"{fn}: {name} must be an int or a pair (h, w), got {value!r}")
        return (check_int(fn, f"{name}[0]", value[0], minimum),
                check_int(fn, f"{name}[1]", value[1], minimum))
    v = check_int(fn, name, value, minimum)
    return (v, v)


def check_bool(fn, name, value):
    """A bool (Python or NumPy): strings such as 'no' are not silently truthy."""
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentError(f"{fn}: {name} must be True or False, got {value!r}")
    return bool(value)


def check_rng(fn, name, rng, required=True):
    """A ``numpy.random.Generator`` (returned as is) or an int seed >= 0 (a new Generator).

    ``None`` is allowed only when not ``required`` (then None is returned).
    """
    if rng is None and not required:
        return None
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (bool, np.bool_)) or not isinstance(rng, numbers.Integral):
        raise ArgumentError(f"{fn}: {name} must be a numpy.random.Generator or an int seed >= 0, "
                            f"got {rng!r}")
    if rng < 0:
        raise ArgumentError(f"{fn}: {name} must be an int seed >= 0 (or a Generator), got {rng}")
    return np.random.default_rng(int(rng))


def check_choice(fn, name, value, choices):
    """Check that ``value`` is one of ``choices``."""
    # True == 1: a bool must not pass for an int choice, nor an int for a bool choice
    is_bool = isinstance(value, (bool, np.bool_))
    try:
        known = value in choices and is_bool == any(isinstance(c, bool) for c in choices)
    except (TypeError, ValueError):       # an unhashable or array-valued argument
        known = False
    if not known:
        raise ArgumentError(f"{fn}: unknown {name} {value!r}; choose one of {tuple(choices)}")
    return value


FLOAT_DTYPES = (np.dtype("float16"), np.dtype("float32"), np.dtype("float64"))


def check_state(fn, state):
    """A state dict: a mapping name -> NumPy/CuPy array of real numbers (what ``load_state_dict``
    copies from); returns it. Errors name the entry."""
    if not hasattr(state, "keys") or not hasattr(state, "__getitem__"):
        raise ArgumentError(f"{fn}: state must be a dict of arrays (name -> array), got "
                            f"{type(state).__name__}")
    for name in state.keys():
        value = state[name]
        if not (isinstance(value, np.ndarray) or backend.is_gpu_array(value)) \
                or value.dtype.kind not in "biuf":
            got = (f"dtype {value.dtype}" if hasattr(value, "dtype")
                   else type(value).__name__)
            raise ArgumentError(f"{fn}: state[{name!r}] must be a NumPy or CuPy array of real "
                                f"numbers, got {got}")
    return state


def check_float_dtype(fn, name, dtype):
    """A floating-point dtype (float16, float32 or float64, as a name or a dtype); returns it.
    (longdouble is refused: CuPy has none, and its size depends on the platform.)"""
    try:
        dt = None if dtype is None else np.dtype(dtype)     # dtype(None) would be float64
    except (TypeError, ValueError):
        dt = None
    if dt is None or dt not in FLOAT_DTYPES or isinstance(dtype, (bool, np.bool_)):
        raise ArgumentError(f"{fn}: {name} must be a floating-point dtype: float16, float32 or "
                            f"float64, got {dtype!r}")
    return dt


def check_cache(fn, cache, expected):
    """The ``cache`` argument of a backward pass must be the cache its forward op returned.

    Every cache type names the op that makes it (``type(cache).op``), so a cache passed to
    the wrong backward is refused by name instead of giving an AttributeError or, worse, a
    wrong gradient from a cache whose fields happen to fit.
    """
    if not isinstance(cache, expected):
        made = getattr(type(cache), "op", None)
        got = "None" if cache is None else f"a {type(cache).__name__}" + (
            f" (made by {made})" if made else "")
        raise ArgumentError(f"{fn}: cache must be the {expected.__name__} that {expected.op} "
                            f"returned, got {got}")
    return cache


def check_grad(fn, dy, cache_dtype, expected_shape, name="dy"):
    """An upstream gradient: an array of the forward's dtype and output shape."""
    check_array(fn, name, dy, ndim=len(expected_shape), nonempty=True)
    if dy.dtype != cache_dtype:
        raise ArgumentError(f"{fn}: {name} has dtype {dy.dtype} but the forward pass computed in "
                            f"{np.dtype(cache_dtype)}; pass a {np.dtype(cache_dtype)} "
                            f"gradient (gradients keep the forward's dtype)")
    if tuple(dy.shape) != tuple(expected_shape):
        raise ArgumentError(f"{fn}: {name}.shape={tuple(dy.shape)} does not match the forward "
                            f"output shape {tuple(expected_shape)}")
    return dy


def compute_dtype(dtype):
    """The dtype an op accumulates reductions in: float32 for float16 inputs, else the input's.

    float16 holds numbers up to 65504 with three significant digits, which a variance of
    values ~1000 or a sum of many log-probabilities exceeds; such reductions are done in
    float32 and the results cast back to float16.
    """
    return np.dtype("float32") if np.dtype(dtype) == np.float16 else np.dtype(dtype)


def check_same_dtype(fn, **arrays):
    """All given arrays (None ignored) must share one dtype: no silent float64 promotion."""
    items = [(k, v) for k, v in arrays.items() if v is not None]
    first_name, first = items[0]
    for name, a in items[1:]:
        if a.dtype != first.dtype:
            raise ArgumentError(f"{fn}: {name} has dtype {a.dtype} but {first_name} has dtype "
                                f"{first.dtype}; convert one of them with .astype(...)")


def memory_budget():
    """The most bytes one array (or a model's parameters) may take: this machine's physical
    memory (``os.sysconf``; 2**38 where the platform does not say). A request beyond it cannot
    succeed, so it is refused before it is tried (docs/conventions.md, "Limits and budgets")."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 2 ** 38


def check_budget(fn, because, itemsize, **shapes):
    """Refuse arrays that cannot fit in memory, before they are allocated.

    ``shapes``: name -> shape (ints, computed from the arguments in Python integers, so no
    product overflows); each array of ``itemsize`` bytes per element must fit
    :func:`memory_budget`. ``because`` names the arguments that set the sizes, for the message.
    """
    budget = memory_budget()
    for name, shape in shapes.items():
        nbytes = math.prod(int(n) for n in shape) * int(itemsize)
        if nbytes > budget:
            raise BudgetExceededError(
                f"{fn}: {because} would make {name} of shape {tuple(int(n) for n in shape)} "
                f"({nbytes / 2 ** 30:.3g} GiB), more than this machine's memory "
                f"({budget / 2 ** 30:.3g} GiB)")
