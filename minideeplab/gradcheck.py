"""Gradient checks by central differences, for every hand-written backward pass.

With a random upstream gradient ``dy`` (never all ones: a sum would hide errors that cancel),
the scalar ``L(inputs) = sum(f(inputs) * dy)`` has the gradient that the backward pass returns
when it is given ``dy``. Each partial derivative is estimated by central differences::

    dL/dx[k] ~ (L(x + eps e_k) - L(x - eps e_k)) / (2 eps)

which is accurate to O(eps^2); in float64 with eps = 1e-6 the estimate is good to about 1e-8
relative. Inputs must be float64 for the check to mean anything.

Typical use, for an op pair ``y, cache = op(x, w)`` / ``dx, dw = op_backward(dy, cache)``::

    check_gradients(lambda x, w: op(x, w)[0],
                    lambda dy, x, w: dict(zip("xw", op_backward(dy, op(x, w)[1]))),
                    {"x": x, "w": w})
"""
from collections import namedtuple

import numpy as np

from . import backend
from .errors import ArgumentError

__all__ = ["GradientCheckError", "numerical_gradient", "compare_gradients", "check_gradients",
           "rel_error", "GradientArrays", "gradient_arrays"]


class GradientCheckError(AssertionError):
    """An analytic gradient disagrees with the numerical one (message has the worst index)."""


def rel_error(a, b, floor=1e-8):
    """Element-wise ``|a - b| / max(|a| + |b|, floor)`` as a NumPy array."""
    a, b = backend.asnumpy(a), backend.asnumpy(b)
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)


def _sample_indices(shape, max_checks, rng):
    size = int(np.prod(shape))
    if max_checks is None or size <= max_checks:
        return np.arange(size)
    return np.sort(rng.choice(size, size=max_checks, replace=False))


def numerical_gradient(f, inputs, name, dy, *, eps=1e-6, indices=None):
    """Central-difference estimate of d sum(f(**inputs) * dy) / d inputs[name].

    Parameters
    ----------
    f : callable(**inputs) -> array y
    inputs : dict of name -> float64 array (not modified: perturbed copies are used)
    name : which input to differentiate
    dy : array shaped like y, the upstream gradient
    indices : flat indices to estimate (None: all)

    Returns
    -------
    (len(indices),) NumPy array of estimates, and the indices used.
    """
    x = inputs[name]
    xp = backend.get_array_module(x)
    size = int(np.prod(x.shape))
    indices = np.arange(size) if indices is None else np.asarray(indices)
    x_copy = x.copy(order="C")  # a private, contiguous copy to perturb
    xp_flat = x_copy.reshape(-1)  # a view of x_copy
    args = dict(inputs)
    args[name] = x_copy
    out = np.empty(len(indices))
    for k, idx in enumerate(indices):
        idx = int(idx)
        old = float(xp_flat[idx])
        xp_flat[idx] = old + eps
        plus = float(xp.sum(f(**args) * dy))
        xp_flat[idx] = old - eps
        minus = float(xp.sum(f(**args) * dy))
        xp_flat[idx] = old
        out[k] = (plus - minus) / (2 * eps)
    return out, indices


def compare_gradients(name, analytic, numeric, indices, shape, *, rtol=1e-5, atol=1e-8):
    """Raise :class:`GradientCheckError` naming the worst index unless they agree.

    Agreement: ``|a - n| <= atol + rtol * max(|a|, |n|)`` for every checked entry.
    Returns the worst relative error.
    """
    a = backend.asnumpy(analytic).reshape(-1)[indices]
    err = np.abs(a - numeric)
    bound = atol + rtol * np.maximum(np.abs(a), np.abs(numeric))
    worst = int(np.argmax(err - bound))
    if err[worst] > bound[worst]:
        where = np.unravel_index(int(indices[worst]), shape)
        raise GradientCheckError(
            f"gradient of {name!r} wrong at index {tuple(int(i) for i in where)}: analytic "
            f"{a[worst]:.10g} vs numerical {numeric[worst]:.10g} (abs error {err[worst]:.3g}, "
            f"allowed {bound[worst]:.3g}); {int((err > bound).sum())} of {len(indices)} "
            "checked entries fail")
    return float(rel_error(a, numeric).max()) if len(a) else 0.0


def check_gradients(forward, backward, inputs, *, wrt=None, seed=0, eps=1e-6, rtol=1e-5,
                    atol=1e-8, max_checks=200):
    """Check a hand-written backward pass against central differences.

    Parameters
    ----------
    forward : callable(**inputs) -> y, an array
    backward : callable(dy, **inputs) -> dict name -> gradient array (shaped like the input)
    inputs : dict name -> float64 array
    wrt : names to check (default: every name that ``backward`` returns)
    seed : seeds the random upstream gradient ``dy`` ~ N(0, 1) and the sampled indices
    max_checks : at most this many entries per input are checked (sampled at random)

    Returns
    -------
    dict name -> worst relative error seen. Raises :class:`GradientCheckError` on failure.
    """
    for k, v in inputs.items():
        if v.dtype != np.float64:
            raise ArgumentError(f"check_gradients: input {k!r} must be float64 for a meaningful "
                                f"check, got {v.dtype}")
    rng = np.random.default_rng(seed)
    y = forward(**inputs)
    xp = backend.get_array_module(y)
    dy = xp.asarray(rng.standard_normal(y.shape))
    grads = backward(dy, **inputs)
    names = list(grads) if wrt is None else list(wrt)
    worst = {}
    for name in names:
        if grads.get(name) is None:
            raise GradientCheckError(f"backward returned no gradient for {name!r}")
        if tuple(grads[name].shape) != tuple(inputs[name].shape):
            raise GradientCheckError(
                f"gradient of {name!r} has shape {tuple(grads[name].shape)}, input has "
                f"{tuple(inputs[name].shape)}")
        idx = _sample_indices(inputs[name].shape, max_checks, rng)
        numeric, idx = numerical_gradient(forward, inputs, name, dy, eps=eps, indices=idx)
        worst[name] = compare_gradients(name, grads[name], numeric, idx, inputs[name].shape,
                                        rtol=rtol, atol=atol)
    return worst


GradientArrays = namedtuple("GradientArrays", "x dy analytic numeric max_rel_error")
GradientArrays.__doc__ = """One input's gradient in full, to look at: the input x, the upstream
gradient dy (shaped like the output), the analytic gradient from the backward pass and the
central-difference estimate (both shaped like x), and the worst relative error between them.
All NumPy arrays."""


def gradient_arrays(forward, backward, inputs, name, *, dy=None, seed=0, eps=1e-6):
    """The analytic and the numerical gradient of every entry of ``inputs[name]``.

    Same conventions as :func:`check_gradients` (``forward(**inputs) -> y``,
    ``backward(dy, **inputs) -> {name: gradient}``, float64 inputs, a random upstream gradient
    ``dy ~ N(0, 1)`` drawn from ``seed`` unless given), but nothing is compared or raised:
    every entry is estimated, and the arrays are returned for a figure or a reader to inspect.
    Cost: two forward passes per entry of the input.

    Returns
    -------
    :class:`GradientArrays`
    """
    x = inputs[name]
    if x.dtype != np.float64:
        raise ArgumentError(f"gradient_arrays: input {name!r} must be float64 for a meaningful "
                            f"check, got {x.dtype}")
    y = forward(**inputs)
    xp = backend.get_array_module(y)
    if dy is None:
        dy = np.random.default_rng(seed).standard_normal(y.shape)
    if tuple(dy.shape) != tuple(y.shape):
        raise ArgumentError(f"gradient_arrays: dy has shape {tuple(dy.shape)}, the output has "
                            f"{tuple(y.shape)}")
    dy = xp.asarray(dy)
    analytic = backend.asnumpy(backward(dy, **inputs)[name])
    numeric, _ = numerical_gradient(forward, inputs, name, dy, eps=eps)
    numeric = numeric.reshape(analytic.shape)
    return GradientArrays(backend.asnumpy(x), backend.asnumpy(dy), analytic, numeric,
                          float(rel_error(analytic, numeric).max()))
