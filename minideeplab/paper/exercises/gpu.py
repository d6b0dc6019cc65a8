"""Checks for the GPU exercises (notebook 08): a softmax on the inputs' device, which lines of a
loop make the host wait for the GPU, and the arithmetic intensity of a convolution.

All three run on a machine without a GPU:

* :func:`check_softmax` compares with :func:`minideeplab.functional.softmax` (float32 stays
  float32, huge scores, one label) and reads the names the function uses: an op takes its
  array module from its input (``xp = backend.get_array_module(x)``) and never names NumPy.
* :func:`check_sync_lines` runs the loop of :data:`SYNC_LOOP` on
  :class:`~minideeplab.paper.exercises._standin.DeviceArrayStandIn`, an array that keeps its values in NumPy but behaves like a CuPy array where it matters here:
  every call that needs a value on the host (``float``, ``int``, ``if``, ``.item()``,
  ``.get()``, printing, a boolean mask, ``nonzero``/``unique``) is recorded as a sync, and
  mixing it with a NumPy array is a ``TypeError``. The lines that sync are measured, not
  written down.
* :func:`check_conv_intensity` counts the multiply-adds with
  :func:`minideeplab.paper.backbone.count_conv_macs` while :func:`minideeplab.functional.conv2d`
  runs.
"""
import sys
import types

import numpy as np

from ... import functional as F
from ..backbone import count_conv_macs
from ._core import FAILED, NOT_IMPLEMENTED, PASSED, Case, CheckResult, evaluate, report, run_check
from ._standin import DeviceArrayStandIn, SyncLog, stand_in_module

__all__ = ["check_softmax", "check_sync_lines", "check_conv_intensity", "SYNC_LOOP",
           "DeviceArrayStandIn", "SyncLog", "measure_syncs", "conv_traffic_bytes"]


# ------------------------------------------------------------------ softmax on any device
def _names_used(code):
    """Global and attribute names a function's code (and the code nested in it) uses."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_used(const)
    return names


def _softmax_cases(rng):
    x = rng.standard_normal((2, 5, 3, 4)).astype(np.float32)
    yield Case("a float32 score map (2, 5, 3, 4), axis=1", (x, 1), F.softmax(x, axis=1),
               atol=1e-6)
    x = rng.standard_normal((3, 7))
    yield Case("float64 scores (3, 7), axis=-1", (x, -1), F.softmax(x, axis=-1))
    x = (rng.standard_normal((1, 4, 2, 3)) * 3 + 1000).astype(np.float32)
    yield Case("scores near 1000 (float32 exp overflows above 88)", (x, 1),
               F.softmax(x, axis=1), atol=1e-6)
    x = np.stack([np.full((3, 2, 2), 800.0), np.full((3, 2, 2), -800.0)]).astype(np.float32)
    x[:, 1] += 1.0
    yield Case("two images, one near +800 and one near -800", (x, 1), F.softmax(x, axis=1),
               atol=1e-6)
    x = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
    yield Case("a single label (L = 1)", (x, 1), F.softmax(x, axis=1))


def _with_dtype(fn):
    """``fn``'s answer and its dtype's name (so that a float64 answer to float32 scores fails)."""
    def tagged(x, axis):
        y = fn(x, axis)
        return y, getattr(getattr(y, "dtype", None), "name", type(y).__name__)
    return tagged


@np.errstate(all="ignore")
def _softmax_no_shift(x, axis):
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


@np.errstate(all="ignore")
def _softmax_global_max(x, axis):
    e = np.exp(x - x.max())
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_no_keepdims(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum()


def _softmax_float64(x, axis):
    return F.softmax(x.astype(np.float64), axis=axis)


def check_softmax(fn, *, seed=0):
    """Check ``fn(scores, axis)``: the softmax along ``axis``, stable for large scores, of the
    scores' dtype, its array module taken from the scores (``backend.get_array_module``), so
    the same function runs on a GPU.

    Mistakes recognised: no shift by the maximum (exp overflows), one maximum for the whole
    array (exp underflows to 0/0 where images differ by hundreds), a sum over every axis, an
    answer in float64 for float32 scores; and, read from the function's code, a function
    that names ``np``/``numpy`` or never calls ``get_array_module``.
    """
    name = "softmax on any device"
    if not callable(fn):
        return run_check(name, fn, [])
    names = _names_used(fn.__code__) if hasattr(fn, "__code__") else set()
    result = evaluate(name, _with_dtype(fn), (
        Case(c.description, c.args, (c.expected, c.expected.dtype.name), c.atol)
        for c in _softmax_cases(np.random.default_rng(seed))), [
        (_with_dtype(_softmax_no_shift), "Subtract each pixel's maximum over the labels "
                                         "before exp: exp(1000) overflows to inf, inf/inf is nan."),
        (_with_dtype(_softmax_global_max), "You subtracted the maximum of the whole array: "
                                           "an image whose scores are far below it gets exp(...)"
                                           " = 0 everywhere, and 0/0 = nan. Take the maximum "
                                           "along `axis` (keepdims=True)."),
        (_with_dtype(_softmax_no_keepdims), "Sum along `axis` only, with keepdims=True, so "
                                            "that each pixel's probabilities sum to 1."),
        (_with_dtype(_softmax_float64), "Keep the scores' dtype: float32 in, float32 out (on "
                                        "most GPUs float64 is many times slower, and it doubles"
                                        " the memory traffic)."),
    ])
    if result.status == PASSED:
        if names & {"np", "numpy"}:
            result = CheckResult(name, FAILED, "the numbers are right, but your function names "
                                 "NumPy (np.something): on CuPy arrays np.zeros, np.asarray and "
                                 "friends make host arrays or copies. Take every function from "
                                 "xp = backend.get_array_module(scores).")
        elif "get_array_module" not in names:
            result = CheckResult(name, FAILED, "the numbers are right, but your function never "
                                 "asks which module its input belongs to: start with "
                                 "xp = backend.get_array_module(scores) and use xp.exp, ...")
    return report(result)


# ------------------------------------------------------------------ which lines sync
SYNC_LOOP = """\
for step in range(3):
    logits = model(images)
    probs = xp.exp(logits - logits.max(axis=1, keepdims=True))
    probs = probs / probs.sum(axis=1, keepdims=True)
    loss = -xp.log(probs[0, 1] + 1e-7).mean()
    running = 0.9 * running + 0.1 * loss
    history.append(loss)
    if loss > best:
        best = loss
    n_fg = int((labels > 0).sum())
    fg_probs = probs[:, 1][labels > 0]
    lr = 0.01 * (1 - step / 3) ** 0.9
    print(f"step {step}: running loss {float(running):.3f}")
"""


def measure_syncs(source=SYNC_LOOP, seed=0):
    """Run ``source`` (the loop of :data:`SYNC_LOOP` by default) with stand-in device arrays
    and return {line number (1-based): [kinds of sync, once per iteration]}; printed output
    is discarded."""
    log = SyncLog()
    rng = np.random.default_rng(seed)
    images = DeviceArrayStandIn(rng.standard_normal((2, 3, 4, 4)).astype(np.float32), log)
    labels = DeviceArrayStandIn(rng.integers(0, 3, (2, 4, 4)), log)
    weight = DeviceArrayStandIn(rng.standard_normal((3, 3)).astype(np.float32), log)
    xp = stand_in_module(log)

    def model(x):                       # a 1x1 convolution: device work only
        return xp.einsum("lc,nchw->nlhw", weight, x)

    scope = {"xp": xp, "model": model, "images": images, "labels": labels, "history": [],
             "running": DeviceArrayStandIn(np.float32(0), log),
             "best": DeviceArrayStandIn(np.float32(-np.inf), log), "print": lambda *a: None}
    def tracer(frame, event, arg):
        if frame.f_code.co_filename == "<sync loop>" and event == "line":
            log.line = frame.f_lineno
        return tracer
    code = compile(source, "<sync loop>", "exec")
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        exec(code, scope)
    finally:
        sys.settrace(previous)
    per_line = {}
    for line, kind in log.events:
        per_line.setdefault(line, []).append(kind)
    return per_line


def _loop_line(n):
    return SYNC_LOOP.split("\n")[n - 1].strip()


def check_sync_lines(fn):
    """Check ``fn()``: the set of line numbers of :data:`SYNC_LOOP` (1 = the ``for`` line)
    that make the host wait for the GPU, measured by running the loop on
    :class:`DeviceArrayStandIn`.

    A wrong answer is told how many of its lines do not sync and how many syncing lines it
    left out, and why the first of its lines that does not sync only queues work; it is never
    told which lines it missed, so the check does not give the answer away.
    """
    name = "sync lines"
    if not callable(fn):
        return run_check(name, fn, [])
    measured = measure_syncs()
    truth = set(measured)
    try:
        answer = fn()
    except NotImplementedError:
        return report(CheckResult(name, NOT_IMPLEMENTED,
                                  "replace the `raise NotImplementedError` with your code"))
    except Exception as e:  # noqa: BLE001 - a student's bug is reported with its cause
        return report(CheckResult(name, FAILED, f"your function raised {type(e).__name__}: {e}",
                                  error=e))
    try:
        answer = {int(n) for n in answer}
    except (TypeError, ValueError):
        return report(CheckResult(name, FAILED, f"return a set of line numbers, got {answer!r}"))
    if answer == truth:
        per = "; ".join(f"line {n}: {', '.join(sorted(set(k)))}"
                        for n, k in sorted(measured.items()))
        return report(CheckResult(name, PASSED, f"measured on stand-in device arrays: {per}"))
    extra, missed = sorted(answer - truth), truth - answer
    words = []
    if extra:
        words.append(f"{len(extra)} of your lines do not sync; line {extra[0]} "
                     f"(`{_loop_line(extra[0])}`) only queues work on the device: its result "
                     "stays a device array and the host goes on")
    if missed:
        words.append(f"you left out {len(missed)} line(s) that do sync: look for every place "
                     "where the host needs a value the GPU has computed (converting it to a "
                     "Python number, branching on it, printing it, or a result whose size "
                     "depends on the values)")
    return report(CheckResult(name, FAILED, "; ".join(words)))


# ------------------------------------------------------------------ arithmetic intensity
def conv_traffic_bytes(c_in, c_out, k, h, w, bytes_per_value=4):
    """The least memory traffic of a stride-1 'same' convolution of one (c_in, h, w) map: read
    the input and the (c_out, c_in, k, k) weights once, write the (c_out, h, w) output once."""
    return bytes_per_value * (c_in * h * w + c_out * c_in * k * k + c_out * h * w)


def _conv_flops(c_in, c_out, k, h, w, rate=1):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, c_in, h, w)).astype(np.float32)
    weight = rng.standard_normal((c_out, c_in, k, k)).astype(np.float32)
    pad = rate * (k // 2)
    return 2 * count_conv_macs(lambda: F.conv2d(x, weight, padding=pad, rate=rate))


def _intensity_cases():
    for c_in, c_out, k, h, w, b, what in [
            (8, 16, 3, 9, 9, 4, "a small 3x3 convolution, float32"),
            (4, 4, 1, 7, 5, 4, "a 1x1 convolution"),
            (16, 32, 3, 13, 13, 2, "float16 (2 bytes per value)"),
            (3, 5, 5, 6, 11, 8, "a 5x5 kernel on a non-square map, float64")]:
        flops = _conv_flops(c_in, c_out, k, h, w)
        yield Case(f"{what}: c_in={c_in}, c_out={c_out}, k={k}, h={h}, w={w}, "
                   f"bytes_per_value={b}", (c_in, c_out, k, h, w, b),
                   flops / conv_traffic_bytes(c_in, c_out, k, h, w, b), atol=1e-9)


def _ai_macs(c_in, c_out, k, h, w, b):
    return c_in * c_out * k * k * h * w / conv_traffic_bytes(c_in, c_out, k, h, w, b)


def _ai_no_weights(c_in, c_out, k, h, w, b):
    return 2 * c_in * c_out * k * k * h * w / (b * (c_in + c_out) * h * w)


def _ai_values_not_bytes(c_in, c_out, k, h, w, b):
    return 2 * c_in * c_out * k * k * h * w / conv_traffic_bytes(c_in, c_out, k, h, w, 1)


def _ai_k_not_squared(c_in, c_out, k, h, w, b):
    return 2 * c_in * c_out * k * h * w / (b * (c_in * h * w + c_out * c_in * k
                                                + c_out * h * w))


def check_conv_intensity(fn):
    """Check ``fn(c_in, c_out, k, h, w, bytes_per_value)``: the arithmetic intensity (FLOPs per
    byte of memory traffic) of a stride-1 'same' k x k convolution of one (c_in, h, w) map to
    c_out channels. FLOPs: 2 per multiply-add, the multiply-adds counted while
    :func:`minideeplab.functional.conv2d` runs; bytes: :func:`conv_traffic_bytes`.

    Mistakes recognised: multiply-adds instead of FLOPs, the weights left out of the traffic,
    values instead of bytes, k instead of k * k taps.
    """
    return run_check("conv arithmetic intensity", fn, _intensity_cases(), [
        (_ai_macs, "A multiply-add is 2 FLOPs (one multiply, one add); rooflines count FLOPs."),
        (_ai_no_weights, "The weights are read too: c_out * c_in * k * k values."),
        (_ai_values_not_bytes, "Count bytes, not values: multiply by bytes_per_value."),
        (_ai_k_not_squared, "A k x k kernel has k * k taps per input channel."),
    ])
