"""Property-based tests of the functional API (hypothesis): random shapes, dtypes, rates,
paddings and argument values, valid and invalid.

The property, for every op and its backward: the inputs are valid (decided here, independently
of the op) and the result equals a brute-force reference written out in this file, or they are
invalid and the op raises a ValueError or TypeError whose message starts with the function's
name and names one of its arguments. Any other exception, a refusal of valid input, or an
invalid input that is accepted fails the test.

The backward passes are checked against the forward by the adjoint identities of linear maps
(``<f(x), dy> = <x, f_backward(dy)>`` for conv, pooling, resize, concat) or against the
gradient written out (dropout, cross-entropy), and by central differences in float64 (batch
norm). Examples are derandomised, so CI runs the same cases every time; ``max_examples`` keeps
the file at a few seconds per op.
"""
import re

import numpy as np
import pytest
import scipy.special
from hypothesis import HealthCheck, event as _event, given, settings, strategies as st
from hypothesis.control import currently_in_test_context

from minideeplab import functional as F
from minideeplab.gradcheck import check_gradients

settings.register_profile("functional-properties", derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
PROFILE = settings.get_profile("functional-properties")

FLOATS = ("float64", "float32", "float16")


def mostly(valid, invalid, odds=9):
    """``valid`` drawn ``odds`` times as often as ``invalid``: most examples stay computable,
    and every argument is now and then wrong."""
    return st.sampled_from([True] * odds + [False]).flatmap(lambda v: valid if v else invalid)


def event(name):
    """Count what happened (``--hypothesis-show-statistics``), inside a hypothesis test only."""
    if currently_in_test_context():
        _event(name)


DTYPES = mostly(st.sampled_from(FLOATS), st.sampled_from(["int32", "bool"]), 14)
TOL = {"float64": 1e-9, "float32": 2e-5, "float16": 2e-2}   # relative to the terms' scale


def _array(seed, shape, dtype, low=-1.0, high=1.0):
    a = np.random.default_rng(seed).uniform(low, high, shape)
    return a.astype(dtype)


def _refused(fn, args, call):
    """Run ``call``; a refusal must be a ValueError/TypeError naming ``fn`` and an argument."""
    try:
        call()
    except (ValueError, TypeError) as e:
        event(f"refused: {fn}")
        msg = str(e)
        assert msg.startswith(f"{fn}:"), f"error not naming {fn}: {msg}"
        assert any(re.search(rf"(?<![\w.]){re.escape(a)}\b", msg) for a in args), \
            f"error naming none of {args}: {msg}"
        return
    raise AssertionError(f"{fn} accepted invalid input")


def _close(got, want, dtype, scale=1.0):
    got = np.asarray(got, dtype="float64")
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL[str(np.dtype(dtype))] * scale)


def _is_int(v, minimum):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) \
        and v >= minimum


def _pair_ok(v, minimum):
    if isinstance(v, (tuple, list)):
        return len(v) == 2 and all(_is_int(u, minimum) for u in v)
    return _is_int(v, minimum)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _dot(a, b):
    return float(np.sum(np.asarray(a, "float64") * np.asarray(b, "float64")))


BAD_INT = st.sampled_from([0, -1, 2.0, True, "1", None])
POSITIVE = mostly(st.integers(1, 3), BAD_INT)
NONNEGATIVE = mostly(st.integers(0, 2), st.sampled_from([-1, 1.0, True, "0"]))
POSITIVE_PAIR = mostly(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3),
                                                              st.integers(1, 3))),
                       st.sampled_from([0, (1, 0), (1, 2, 3), 1.5, True, "2", [2, -1]]))
NONNEGATIVE_PAIR = mostly(st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2),
                                                                 st.integers(0, 2))),
                          st.sampled_from([-1, (0, -1), (1, 2, 3), 1.0, False, "1"]))
BOOL = mostly(st.booleans(), st.sampled_from([1, 0, "yes", None]), 12)


# ----------------------------------------------------------------------------- conv2d
def _brute_conv(x, w, b, s, pad, r):
    """y[n, o, i, j] = b[o] + sum_{c,p,q} w[o, c, p, q] x_pad[n, c, s*i + r*p, s*j + r*q]."""
    (ph, pw), (KH, KW) = pad, w.shape[2:]
    xp_ = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    OH = (xp_.shape[2] - r * (KH - 1) - 1) // s + 1
    OW = (xp_.shape[3] - r * (KW - 1) - 1) // s + 1
    y = np.zeros((x.shape[0], w.shape[0], OH, OW))
    for i in range(OH):
        for j in range(OW):
            patch = xp_[:, :, s * i:s * i + r * (KH - 1) + 1:r, s * j:s * j + r * (KW - 1) + 1:r]
            y[:, :, i, j] = np.einsum("nckl,ockl->no", patch, w)
    return y if b is None else y + b[None, :, None, None]


@settings(PROFILE, max_examples=500)
@given(seed=st.integers(0, 2 ** 16), n=st.integers(1, 2), c=mostly(st.integers(1, 3), st.just(0)),
       hw=st.tuples(mostly(st.integers(1, 8), st.just(0), 14), st.integers(1, 8)),
       o=st.integers(1, 3), k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       cw=mostly(st.just(0), st.just(1), 14), dtype=DTYPES,
       wdtype=mostly(st.just("same"), st.sampled_from(FLOATS), 14),
       stride=mostly(st.integers(1, 3), BAD_INT), padding=NONNEGATIVE_PAIR,
       rate=mostly(st.integers(1, 3), BAD_INT), bias=st.booleans(),
       method=mostly(st.sampled_from(F.CONV_METHODS), st.just("fft"), 14))
def test_conv2d_matches_brute_force_or_refuses(seed, n, c, hw, o, k, cw, dtype, wdtype, stride,
                                               padding, rate, bias, method):
    wdtype = dtype if wdtype == "same" else wdtype
    x = _array(seed, (n, c) + hw, dtype)
    w = _array(seed + 1, (o, c + cw) + k, wdtype)
    b = _array(seed + 2, (o,), wdtype) if bias else None
    args = ("x", "w", "b", "stride", "padding", "rate", "method", "kernel")
    ok = (x.dtype.kind == "f" and x.dtype == w.dtype and c >= 1 and hw[0] >= 1 and cw == 0
          and _is_int(stride, 1) and _is_int(rate, 1) and _pair_ok(padding, 0)
          and method in F.CONV_METHODS and not (method == "deinterlace" and stride != 1))
    if ok:
        ph, pw = _pair(padding)
        ok = rate * (k[0] - 1) + 1 <= hw[0] + 2 * ph and rate * (k[1] - 1) + 1 <= hw[1] + 2 * pw
    call = lambda: F.conv2d(x, w, b, stride=stride, padding=padding, rate=rate, method=method)
    if not ok:
        _refused("conv2d", args, call)
        return
    y, cache = call()
    event("computed: conv2d")
    x64, w64 = x.astype("float64"), w.astype("float64")
    want = _brute_conv(x64, w64, None if b is None else b.astype("float64"), stride,
                       _pair(padding), rate)
    assert y.dtype == x.dtype and y.shape == want.shape
    scale = c * k[0] * k[1] + 1
    _close(y, want, dtype, scale)
    dy = _array(seed + 3, y.shape, dtype)
    dx, dw, db = F.conv2d_backward(dy, cache)
    assert dx.dtype == dw.dtype == x.dtype and (db is None) == (b is None)
    # the adjoint identities: <y - b, dy> = <x, dx> = <w, dw>, and <b, db> = <b 1, dy>
    lin = _dot(want - (0 if b is None else b.astype("float64")[None, :, None, None]), dy)
    big = scale * dy.size
    assert abs(_dot(x, dx) - lin) <= TOL[dtype] * big
    assert abs(_dot(w, dw) - lin) <= TOL[dtype] * big
    if b is not None:
        _close(db, dy.astype("float64").sum(axis=(0, 2, 3)), dtype, dy[:, 0].size)
    _refused("conv2d_backward", ("dy", "cache"), lambda: F.conv2d_backward(dy[:, :, :-1], cache))


# ----------------------------------------------------------------------------- pooling
def _pool_size(n, k, s, p, ceil_mode):
    if not ceil_mode:
        return (n + 2 * p - k) // s + 1
    out = -(-(n + 2 * p - k) // s) + 1
    return out - 1 if (out - 1) * s >= n + p else out


def _brute_pool(x, k, s, p, ceil_mode, kind, include_pad):
    """Each window [i*s - p, i*s - p + k), clipped to the padded input (Caffe's rules)."""
    N, C, H, W = x.shape
    OH, OW = _pool_size(H, k[0], s[0], p[0], ceil_mode), _pool_size(W, k[1], s[1], p[1],
                                                                     ceil_mode)
    y = np.empty((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            h0, w0 = i * s[0] - p[0], j * s[1] - p[1]
            h1, w1 = min(h0 + k[0], H + p[0]), min(w0 + k[1], W + p[1])
            win = x[:, :, max(h0, 0):min(h1, H), max(w0, 0):min(w1, W)]
            size = (h1 - h0) * (w1 - w0) if include_pad else win.shape[2] * win.shape[3]
            y[:, :, i, j] = win.max(axis=(2, 3)) if kind == "max" else win.sum(axis=(2, 3)) / size
    return y


@settings(PROFILE, max_examples=500)
@given(seed=st.integers(0, 2 ** 16),
       shape=st.tuples(st.integers(1, 2), mostly(st.integers(1, 2), st.just(0)),
                       st.integers(1, 7), st.integers(1, 7)),
       dtype=DTYPES, kernel=POSITIVE_PAIR, stride=st.one_of(st.none(), POSITIVE_PAIR),
       padding=mostly(st.just(0), NONNEGATIVE_PAIR, 1), ceil_mode=BOOL, include_pad=BOOL,
       kind=st.sampled_from(["max", "avg"]))
def test_pooling_matches_brute_force_or_refuses(seed, shape, dtype, kernel, stride, padding,
                                                ceil_mode, include_pad, kind):
    x = _array(seed, shape, dtype)
    fn = f"{kind}_pool2d"
    args = ("x", "kernel", "stride", "padding", "ceil_mode", "count_include_pad")
    ok = (x.dtype.kind == "f" and shape[1] >= 1 and _pair_ok(kernel, 1)
          and (stride is None or _pair_ok(stride, 1)) and _pair_ok(padding, 0)
          and isinstance(ceil_mode, bool) and (kind == "max" or isinstance(include_pad, bool)))
    if ok:
        k, p = _pair(kernel), _pair(padding)
        s = k if stride is None else _pair(stride)
        ok = all(p[a] <= k[a] // 2 and shape[2 + a] + 2 * p[a] >= k[a] for a in (0, 1))
    if kind == "max":
        call = lambda: F.max_pool2d(x, kernel, stride, padding, ceil_mode=ceil_mode)
    else:
        call = lambda: F.avg_pool2d(x, kernel, stride, padding, ceil_mode=ceil_mode,
                                    count_include_pad=include_pad)
    if not ok:
        _refused(fn, args, call)
        return
    y, cache = call()
    event(f"computed: {kind}_pool2d")
    want = _brute_pool(x.astype("float64"), k, s, p, ceil_mode, kind, include_pad)
    assert y.dtype == x.dtype and y.shape == want.shape
    _close(y, want, dtype)
    dy = _array(seed + 1, y.shape, dtype)
    dx = (F.max_pool2d_backward if kind == "max" else F.avg_pool2d_backward)(dy, cache)
    assert dx.dtype == x.dtype and dx.shape == x.shape
    # max: each dy goes to its window's maximum, so <x, dx> = <y, dy> and sum dx = sum dy;
    # avg is linear, so <x, dx> = <y, dy> is its adjoint identity
    assert abs(_dot(x, dx) - _dot(want, dy)) <= TOL[dtype] * dy.size * k[0] * k[1]
    assert abs(float(dx.astype("float64").sum()) - float(dy.astype("float64").sum())) <= \
        TOL[dtype] * dy.size * k[0] * k[1] or kind == "avg"


# ----------------------------------------------------------------------------- resize
def _brute_resize(x, size, align_corners):
    def taps(i, n_in, n_out):
        if align_corners:
            s = i * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            s = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = min(int(np.floor(s)), n_in - 1)
        return i0, min(i0 + 1, n_in - 1), s - i0
    y = np.zeros(x.shape[:2] + size)
    for i in range(size[0]):
        h0, h1, lh = taps(i, x.shape[2], size[0])
        for j in range(size[1]):
            w0, w1, lw = taps(j, x.shape[3], size[1])
            y[:, :, i, j] = ((1 - lh) * (1 - lw) * x[:, :, h0, w0] + (1 - lh) * lw * x[:, :, h0, w1]
                             + lh * (1 - lw) * x[:, :, h1, w0] + lh * lw * x[:, :, h1, w1])
    return y


@settings(PROFILE, max_examples=400)
@given(seed=st.integers(0, 2 ** 16), shape=st.tuples(st.integers(1, 2), st.integers(1, 2),
                                                     mostly(st.integers(1, 6), st.just(0)),
                                                     st.integers(1, 6)),
       dtype=DTYPES, size=mostly(st.one_of(st.integers(1, 9), st.tuples(
           st.integers(1, 9), st.integers(1, 9))), POSITIVE_PAIR, 3), align_corners=BOOL)
def test_resize_matches_brute_force_or_refuses(seed, shape, dtype, size, align_corners):
    x = _array(seed, shape, dtype)
    ok = (x.dtype.kind == "f" and shape[2] >= 1 and _pair_ok(size, 1)
          and isinstance(align_corners, bool))
    call = lambda: F.resize_bilinear(x, size, align_corners=align_corners)
    if not ok:
        _refused("resize_bilinear", ("x", "size", "align_corners"), call)
        return
    y, cache = call()
    event("computed: resize_bilinear")
    want = _brute_resize(x.astype("float64"), _pair(size), align_corners)
    assert y.dtype == x.dtype and y.shape == want.shape
    _close(y, want, dtype)
    dy = _array(seed + 1, y.shape, dtype)
    dx = F.resize_bilinear_backward(dy, cache)
    assert dx.dtype == x.dtype and dx.shape == x.shape
    assert abs(_dot(x, dx) - _dot(want, dy)) <= TOL[dtype] * dy.size


@settings(PROFILE, max_examples=300)
@given(seed=st.integers(0, 2 ** 16),
       shape=mostly(st.sampled_from([(2, 5), (2, 3, 4), (1, 1), (7, 3), (1, 9, 2)]),
                    st.sampled_from([(0, 4), (3, 0), (5,), (1, 2, 3, 4)]), 4),
       dtype=mostly(st.sampled_from(["int64", "uint8", "int32"]), st.just("float32"), 6),
       size=POSITIVE_PAIR)
def test_label_resize_picks_nearest_labels_or_refuses(seed, shape, dtype, size):
    labels = np.random.default_rng(seed).integers(0, 256, shape).astype(dtype)
    ok = (len(shape) in (2, 3) and 0 not in shape and labels.dtype.kind in "iu"
          and _pair_ok(size, 1))
    call = lambda: F.resize_labels_nearest(labels, size)
    if not ok:
        _refused("resize_labels_nearest", ("labels", "size"), call)
        return
    out = call()
    event("computed: resize_labels_nearest")
    (H, W), (h, w) = shape[-2:], _pair(size)
    rows = [int(np.floor(i * (H - 1) / (h - 1) + 0.5)) if h > 1 else 0 for i in range(h)]
    cols = [int(np.floor(j * (W - 1) / (w - 1) + 0.5)) if w > 1 else 0 for j in range(w)]
    np.testing.assert_array_equal(out, labels[..., rows, :][..., cols])


# ----------------------------------------------------------------------------- activations
@settings(PROFILE, max_examples=300)
@given(seed=st.integers(0, 2 ** 16),
       shape=mostly(st.sampled_from([(3,), (2, 3), (1, 2, 3, 4)]), st.just((0, 3)), 12),
       dtype=DTYPES,
       p=mostly(st.one_of(st.floats(0, 1), st.sampled_from([np.float32(0.5), np.float64(0.25),
                                                             0, 1])),
                st.sampled_from([True, -0.1, 1.5, float("nan"), "0.5", None]), 6),
       training=mostly(st.sampled_from([True, False, np.bool_(True)]),
                       st.sampled_from(["no", 1, None]), 6),
       rng=mostly(st.one_of(st.integers(0, 5), st.just(np.random.default_rng(0))),
                  st.sampled_from([None, -1, "abc", 1.5, True]), 6))
def test_dropout_and_relu_match_their_definition_or_refuse(seed, shape, dtype, p, training,
                                                           rng):
    x = _array(seed, shape, dtype, 0.5, 2.0) * np.where(
        np.random.default_rng(seed).random(shape) < 0.5, -1, 1).astype(dtype)   # never 0
    floating = x.dtype.kind == "f" and 0 not in shape
    if not floating:
        _refused("relu", ("x",), lambda: F.relu(x))
    else:
        y, cache = F.relu(x)
        event("computed: relu")
        np.testing.assert_array_equal(y, np.maximum(x, 0))
        dy = _array(seed + 1, shape, dtype)
        np.testing.assert_array_equal(F.relu_backward(dy, cache), dy * (x > 0))
    p_ok = (isinstance(p, (int, float, np.floating)) and not isinstance(p, bool)
            and 0 <= p <= 1)
    rng_ok = rng is None or _is_int(rng, 0) or isinstance(rng, np.random.Generator)
    t_ok = isinstance(training, (bool, np.bool_))
    needs_rng = t_ok and training and p_ok and 0 < p < 1
    ok = floating and p_ok and rng_ok and t_ok and not (needs_rng and rng is None)
    call = lambda: F.dropout(x, p, training=training, rng=rng)
    if not ok:
        _refused("dropout", ("x", "p", "training", "rng"), call)
        return
    y, cache = call()
    event("computed: dropout")
    assert y.dtype == x.dtype and y.shape == x.shape
    if not training or p == 0:
        np.testing.assert_array_equal(y, x)
    kept = y != 0
    scale = 1.0 if not training or p == 0 else 0.0 if p == 1 else 1.0 / (1.0 - float(p))
    _close(y, np.where(kept, x.astype("float64") * scale, 0.0), dtype, 2 * scale + 1)
    dy = _array(seed + 1, shape, dtype)
    _close(F.dropout_backward(dy, cache), np.where(kept, dy.astype("float64") * scale, 0.0),
           dtype, 2 * scale + 1)


# ----------------------------------------------------------------------------- losses
@settings(PROFILE, max_examples=300)
@given(seed=st.integers(0, 2 ** 16), shape=st.tuples(st.integers(1, 2),
                                                     mostly(st.integers(1, 4), st.just(0), 12),
                                                     st.integers(1, 3), st.integers(1, 3)),
       dtype=DTYPES, magnitude=st.sampled_from([1.0, 30.0, 1e4]),
       axis=mostly(st.sampled_from([1, -3, 0, 3]), st.sampled_from([4, -5, "1", 1.0]), 6),
       ignore_index=mostly(st.sampled_from([255, 255, None, 0, np.int64(255)]),
                           st.sampled_from(["255", True, 2.5]), 6),
       label_shift=mostly(st.just(0), st.just(1), 6),
       label_dtype=mostly(st.sampled_from(["int64", "uint8"]), st.just("float32"), 8))
def test_softmax_and_cross_entropy_match_scipy_or_refuse(seed, shape, dtype, magnitude, axis,
                                                         ignore_index, label_shift,
                                                         label_dtype):
    logits = _array(seed, shape, dtype, -magnitude, magnitude)
    floating = logits.dtype.kind == "f" and shape[1] >= 1
    ax_ok = _is_int(axis, -4) and axis < 4
    for fn, op, ref in (("softmax", F.softmax, scipy.special.softmax),
                        ("log_softmax", F.log_softmax, scipy.special.log_softmax)):
        call = lambda: op(logits, axis=axis)
        if not (floating and ax_ok):
            _refused(fn, ("x", "axis"), call)
            continue
        got = call()
        event(f"computed: {fn}")
        assert got.dtype == logits.dtype
        want = ref(logits.astype("float64"), axis=axis)
        # float16 logits of 1e4 are themselves rounded by 8: compare in terms of that spacing
        _close(got, want, dtype, 1.0 if fn == "softmax" else magnitude)
    L = max(shape[1], 1)
    rng = np.random.default_rng(seed + 1)
    labels = rng.integers(0, L + label_shift, (shape[0],) + shape[2:])
    labels[rng.random(labels.shape) < 0.3] = 255
    labels = labels.astype(label_dtype)
    index_ok = ignore_index is None or _is_int(ignore_index, -10 ** 9)
    valid_pixels = labels != ignore_index if ignore_index is not None else \
        np.ones(labels.shape, bool)
    ok = (floating and labels.dtype.kind in "iu" and index_ok
          and not ((labels >= L) & valid_pixels).any())
    call = lambda: F.softmax_cross_entropy(logits, labels, ignore_index=ignore_index)
    if not ok:
        _refused("softmax_cross_entropy", ("logits", "labels", "ignore_index"), call)
        return
    loss, cache = call()
    event("computed: softmax_cross_entropy")
    assert loss.dtype == logits.dtype and np.isfinite(float(loss))
    logp = scipy.special.log_softmax(logits.astype("float64"), axis=1)
    safe = np.where(valid_pixels, labels, 0).astype("int64")
    picked = np.take_along_axis(logp, safe[:, None], axis=1)[:, 0]
    count = max(int(valid_pixels.sum()), 1)
    _close(loss, -(picked * valid_pixels).sum() / count, dtype, magnitude)
    dlogits = F.softmax_cross_entropy_backward(cache, dloss=2.0)
    onehot = np.arange(L)[None, :, None, None] == safe[:, None]
    want = 2.0 * (np.exp(logp) - onehot) * valid_pixels[:, None] / count
    assert dlogits.dtype == logits.dtype
    _close(dlogits, want, dtype, 2.0)
    _refused("softmax_cross_entropy_backward", ("dloss", "cache"),
             lambda: F.softmax_cross_entropy_backward(cache, dloss=np.ones(3, dtype)))


# ----------------------------------------------------------------------------- batch norm
@settings(PROFILE, max_examples=250)
@given(seed=st.integers(0, 2 ** 16), shape=st.tuples(st.integers(1, 3),
                                                     mostly(st.integers(1, 3), st.just(0), 14),
                                                     st.integers(1, 3), st.integers(1, 3)),
       dtype=DTYPES, pdtype=mostly(st.just("same"), st.sampled_from(FLOATS), 14),
       std=st.sampled_from([1.0, 1.0, 100.0]), training=BOOL,
       momentum=mostly(st.sampled_from([0.1, 0.0, 1.0, np.float32(0.5)]),
                       st.sampled_from([1.5, -0.1, True, "0.1"])),
       eps=mostly(st.sampled_from([1e-5, 1e-3]), st.sampled_from([0.0, -1.0, float("inf")])))
def test_batch_norm_matches_brute_force_or_refuses(seed, shape, dtype, pdtype, std, training,
                                                   momentum, eps):
    pdtype = dtype if pdtype == "same" else pdtype
    C = shape[1]
    x = (_array(seed, shape, "float64") * std + 3.0).astype(dtype)
    g, b = _array(seed + 1, (C,), pdtype, 0.5, 2), _array(seed + 2, (C,), pdtype)
    rm, rv = _array(seed + 3, (C,), pdtype), _array(seed + 4, (C,), pdtype, 0.5, 2)
    M = shape[0] * shape[2] * shape[3]
    m_ok = (isinstance(momentum, (float, np.floating)) and 0 <= momentum <= 1)
    ok = (x.dtype.kind == "f" and x.dtype == g.dtype and C >= 1
          and isinstance(training, bool) and m_ok and 0 < eps < np.inf
          and not (training and M < 2))
    call = lambda: F.batch_norm(x, g, b, rm, rv, training=training, momentum=momentum, eps=eps)
    args = ("x", "gamma", "beta", "running_mean", "running_var", "training", "momentum", "eps")
    if not ok:
        _refused("batch_norm", args, call)
        return
    x64, g64, b64 = x.astype("float64"), g.astype("float64"), b.astype("float64")
    if training:
        mean, var = x64.mean(axis=(0, 2, 3)), x64.var(axis=(0, 2, 3))
        new_var = (1 - momentum) * rv.astype("float64") + momentum * var * M / (M - 1)
        if dtype == "float16" and new_var.max() > 65504:
            _refused("batch_norm", args, call)                 # running_var would be inf
            return
    else:
        mean, var = rm.astype("float64"), rv.astype("float64")
    y, cache = call()
    event("computed: batch_norm")
    c = lambda v: v[None, :, None, None]
    want = c(g64) * (x64 - c(mean)) / np.sqrt(c(var) + eps) + c(b64)
    assert y.dtype == x.dtype
    _close(y, want, dtype, 4.0 + float(np.abs(want).max()))
    if training:
        _close(cache.running_mean, (1 - momentum) * rm.astype("float64") + momentum * mean,
               dtype, 5.0 + std)
    if dtype == "float64":
        check_gradients(lambda x, g, b: F.batch_norm(x, g, b, rm, rv, training=training,
                                                     momentum=momentum, eps=eps)[0],
                        lambda dy, x, g, b: dict(zip("xgb", F.batch_norm_backward(
                            dy, F.batch_norm(x, g, b, rm, rv, training=training,
                                             momentum=momentum, eps=eps)[1]))),
                        dict(x=x, g=g, b=b), max_checks=6, seed=seed)


# ----------------------------------------------------------------------------- combine
@settings(PROFILE, max_examples=300)
@given(seed=st.integers(0, 2 ** 16), count=st.integers(0, 3),
       shapes=st.lists(st.tuples(st.integers(1, 2), mostly(st.integers(1, 3), st.just(0), 20),
                                 st.integers(1, 3)), min_size=3, max_size=3),
       same=st.booleans(), dtypes=st.lists(DTYPES, min_size=3, max_size=3),
       axis=mostly(st.sampled_from([1, 0, 2, -1]), st.sampled_from([3, -4, "1"]), 6),
       as_list=st.sampled_from([True, True, False]))
def test_add_and_concat_match_numpy_or_refuse(seed, count, shapes, same, dtypes, axis,
                                              as_list):
    if same:
        shapes, dtypes = [shapes[0]] * 3, [dtypes[0]] * 3
    xs = [_array(seed + i, shapes[i], dtypes[i]) for i in range(count)]
    arg = xs if as_list else tuple(xs)
    base = (count >= 1 and all(x.dtype.kind == "f" and 0 not in x.shape for x in xs)
            and len({x.dtype for x in xs}) == 1)
    add_ok = base and len({x.shape for x in xs}) == 1
    if not add_ok:
        _refused("add", ("xs",), lambda: F.add(arg))
    else:
        y, cache = F.add(arg)
        event("computed: add")
        _close(y, sum(x.astype("float64") for x in xs), dtypes[0], count)
        grads = F.add_backward(y, cache)
        assert len(grads) == count and all(g is not y and (g == y).all() for g in grads)
    ax_ok = _is_int(axis, -3) and axis < 3
    cat_ok = base and ax_ok and len({x.shape[:axis % 3] + x.shape[axis % 3 + 1:]
                                     for x in xs}) == 1
    if not cat_ok:
        _refused("concat", ("xs", "axis"), lambda: F.concat(arg, axis=axis))
        return
    y, cache = F.concat(arg, axis=axis)
    event("computed: concat")
    np.testing.assert_array_equal(y, np.concatenate(xs, axis=axis))
    for g, x in zip(F.concat_backward(y, cache), xs):
        np.testing.assert_array_equal(g, x)


def test_the_refusal_checker_rejects_wrong_answers():
    """The property's checker fails on an accepted invalid input, an error that does not name
    the function or an argument, and an exception of another type."""
    def raises(e):
        def call():
            raise e
        return call
    _refused("f", ("x",), raises(ValueError("f: x must be positive")))
    for call in (lambda: None, raises(ValueError("x must be positive")),
                 raises(ValueError("f: it went wrong")), raises(TypeError("f: xs is a list"))):
        with pytest.raises(AssertionError):
            _refused("f", ("x",), call)
    with pytest.raises(IndexError):
        _refused("f", ("x",), raises(IndexError("f: x out of range")))
