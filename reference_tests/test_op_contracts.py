"""The functional API's contracts on bad input: caches know their op, one dtype rule, no empty
sizes, argument types checked. Every error names the function and the argument.

The values that the ops must still compute (float16 batch norm and cross-entropy) are checked
against the same computation in float64.
"""
import numpy as np
import pytest

from helpers import assert_close
from minideeplab import functional as F
from minideeplab.crf import dense_crf


def _ops(on, dtype="float32"):
    """name -> (forward() -> (y, cache), backward(dy, cache)), small inputs on the device."""
    rng = np.random.default_rng(0)
    x = on(rng.standard_normal((2, 2, 5, 5)).astype(dtype))
    w = on(rng.standard_normal((3, 2, 3, 3)).astype(dtype))
    c = on(np.ones(2, dtype), np.zeros(2, dtype))
    labels = on(rng.integers(0, 2, (2, 5, 5)))
    return {
        "conv2d": (lambda: F.conv2d(x, w, padding=1), F.conv2d_backward),
        "relu": (lambda: F.relu(x), F.relu_backward),
        "dropout": (lambda: F.dropout(x, 0.5, training=True, rng=0), F.dropout_backward),
        "max_pool2d": (lambda: F.max_pool2d(x, 2), F.max_pool2d_backward),
        "avg_pool2d": (lambda: F.avg_pool2d(x, 2), F.avg_pool2d_backward),
        "global_avg_pool": (lambda: F.global_avg_pool(x), F.global_avg_pool_backward),
        "batch_norm": (lambda: F.batch_norm(x, c[0], c[1], c[1], c[0], training=True),
                       F.batch_norm_backward),
        "resize_bilinear": (lambda: F.resize_bilinear(x, (7, 9)), F.resize_bilinear_backward),
        "add": (lambda: F.add([x, x]), F.add_backward),
        "concat": (lambda: F.concat([x, x]), F.concat_backward),
        "softmax_cross_entropy": (lambda: F.softmax_cross_entropy(x, labels),
                                  lambda dy, cache: F.softmax_cross_entropy_backward(cache)),
    }


OPS = list(_ops(lambda *a: a if len(a) > 1 else a[0]))


def _backward_name(op):
    return f"{op}_backward"


@pytest.mark.parametrize("op", OPS)
def test_every_cache_names_its_op(op, on):
    forward, _ = _ops(on)[op]
    _, cache = forward()
    assert type(cache).op == op


@pytest.mark.parametrize("op", OPS)
def test_every_backward_refuses_a_foreign_cache_by_name(op, on):
    ops = _ops(on)
    forward, backward = ops[op]
    y, _ = forward()
    for other, (other_forward, _) in ops.items():
        if other == op:
            continue
        _, foreign = other_forward()
        pattern = (rf"{_backward_name(op)}: cache must be the \w+Cache that {op} returned, got "
                   rf"a {type(foreign).__name__} \(made by {other}\)")
        with pytest.raises(TypeError, match=pattern):
            backward(y, foreign)
    with pytest.raises(TypeError, match=rf"{_backward_name(op)}: cache must be .* got None"):
        backward(y, None)


def test_relu_backward_refuses_a_dropout_cache_whose_fields_would_fit(on):
    # The dropout cache has a boolean mask of the right shape: without the check relu_backward
    # would return dy * mask, missing dropout's factor 2 (max 1.0 where 2.0 is right).
    x = on(np.ones((4, 4), "float32"))
    y, dcache = F.dropout(x, 0.5, training=True, rng=0)
    with pytest.raises(TypeError, match=r"relu_backward: cache must be the ReluCache that relu "
                                        r"returned, got a DropoutCache \(made by dropout\)"):
        F.relu_backward(x, dcache)
    assert float(F.dropout_backward(x, dcache).max()) == 2.0


@pytest.mark.parametrize("op", [o for o in OPS if o != "softmax_cross_entropy"])
def test_backward_refuses_a_gradient_of_another_dtype(op, on):
    forward, backward = _ops(on)[op]
    y, cache = forward()
    with pytest.raises(TypeError, match=rf"{_backward_name(op)}: dy has dtype float64 but the "
                                        r"forward pass computed in float32"):
        backward(y.astype("float64"), cache)
    grads = backward(y, cache)
    grads = grads if isinstance(grads, (tuple, list)) else [grads]
    assert all(g.dtype == np.float32 for g in grads if g is not None)


@pytest.mark.parametrize("call, pattern", [
    (lambda x: F.resize_bilinear(x[:, :, :0], (4, 4)),
     r"resize_bilinear: x must not be empty, got x.shape=\(1, 3, 0, 5\)"),
    (lambda x: F.resize_labels_nearest(np.zeros((0, 5), "int64"), (4, 4)),
     r"resize_labels_nearest: labels must not be empty, got labels.shape=\(0, 5\)"),
    (lambda x: F.softmax(x[:, :0]), r"softmax: x must not be empty, got x.shape=\(1, 0, 5, 5\)"),
    (lambda x: F.log_softmax(x[:, :0]), r"log_softmax: x must not be empty"),
    (lambda x: F.softmax_cross_entropy(x[:, :0], np.zeros((1, 5, 5), "int64")),
     r"softmax_cross_entropy: logits must not be empty, got logits.shape=\(1, 0, 5, 5\)"),
    (lambda x: F.global_avg_pool(x[:, :, :0]), r"global_avg_pool: x must not be empty"),
    (lambda x: F.conv2d(x, np.zeros((0, 3, 1, 1), "float32")), r"conv2d: w must not be empty"),
    (lambda x: F.relu(x[:0]), r"relu: x must not be empty"),
    (lambda x: dense_crf(np.zeros((0, 0, 3), "uint8"), np.zeros((2, 0, 0))),
     r"dense_crf: probs must not be empty, got probs.shape=\(2, 0, 0\)"),
])
def test_empty_sizes_are_refused(call, pattern):
    x = np.ones((1, 3, 5, 5), "float32")
    with pytest.raises(ValueError, match=pattern):
        call(x)


def test_float16_batch_norm_of_large_values_is_normalised(on):
    # std ~1000: the variance (~1e6) does not fit float16 (max 65504); it is computed in float32
    x = np.random.default_rng(0).normal(50.0, 1000.0, (4, 3, 6, 6))
    g, b = np.array([1.0, 2.0, 0.5]), np.array([0.0, 1.0, -1.0])
    ref, rcache = F.batch_norm(x, g, b, np.zeros(3), np.ones(3), training=True)
    h = [a.astype("float16") for a in (x, g, b, np.zeros(3), np.ones(3))]
    with pytest.raises(ValueError, match=r"batch_norm: the updated running statistics reach "
                                         r"1.*e\+05, beyond the range of float16"):
        F.batch_norm(*on(*h), training=True, momentum=0.1)
    y, cache = F.batch_norm(*on(*h), training=True, momentum=0.0)
    assert y.dtype == np.float16
    assert_close(y.astype("float64"), ref, rtol=0, atol=2e-2)   # float16 has ~3 digits
    dy = np.random.default_rng(1).standard_normal(x.shape)
    for got, want in zip(F.batch_norm_backward(on(dy.astype("float16")), cache),
                         F.batch_norm_backward(dy, rcache)):
        assert got.dtype == np.float16
        assert_close(got.astype("float64"), want, rtol=2e-2, atol=2e-2 * float(abs(want).max()))


def test_float16_cross_entropy_of_huge_logits_is_finite(on):
    rng = np.random.default_rng(0)
    logits = rng.uniform(-1e4, 1e4, (2, 3, 4, 4))
    labels = rng.integers(0, 3, (2, 4, 4))
    ref, rcache = F.softmax_cross_entropy(logits, labels)
    loss, cache = F.softmax_cross_entropy(on(logits.astype("float16")), on(labels))
    assert loss.dtype == np.float16
    assert np.isfinite(float(loss))
    # the float16 logits themselves are rounded (spacing 8 at 1e4): compare with the float64
    # loss of the rounded logits
    ref16, rcache = F.softmax_cross_entropy(logits.astype("float16").astype("float64"), labels)
    assert abs(float(loss) - float(ref16)) <= 1e-3 * float(ref16)
    d = F.softmax_cross_entropy_backward(cache)
    assert d.dtype == np.float16
    assert_close(d.astype("float64"), F.softmax_cross_entropy_backward(rcache), 0, 1e-3)


def test_dropout_takes_numpy_scalars_and_refuses_bools(on):
    x = on(np.ones((8, 8), "float32"))
    want, _ = F.dropout(x, 0.5, training=True, rng=3)
    for p in (np.float32(0.5), np.float64(0.5)):
        assert_close(F.dropout(x, p, training=True, rng=3)[0], want, 0, 0)
    with pytest.raises(TypeError, match=r"dropout: p must be a real number, got True"):
        F.dropout(x, True, training=True, rng=0)
    with pytest.raises(ValueError, match=r"dropout: p is NaN"):
        F.dropout(x, float("nan"), training=True, rng=0)


@pytest.mark.parametrize("rng, exc, pattern", [
    ("abc", TypeError, r"dropout: rng must be a numpy.random.Generator or an int seed >= 0, "
                       r"got 'abc'"),
    (-1, ValueError, r"dropout: rng must be an int seed >= 0 \(or a Generator\), got -1"),
    (1.5, TypeError, r"dropout: rng must be"),
    (True, TypeError, r"dropout: rng must be"),
])
def test_dropout_rng_errors_name_rng(rng, exc, pattern):
    with pytest.raises(exc, match=pattern):
        F.dropout(np.ones((2, 2)), 0.5, training=True, rng=rng)


def test_training_must_be_a_bool(on):
    x = on(np.ones((2, 2, 2, 2)))
    c = on(np.ones(2), np.zeros(2))
    with pytest.raises(TypeError, match=r"dropout: training must be True or False, got 'no'"):
        F.dropout(x, 0.5, training="no", rng=0)
    with pytest.raises(TypeError, match=r"batch_norm: training must be True or False, got 'no'"):
        F.batch_norm(x, c[0], c[1], c[1], c[0], training="no")
    with pytest.raises(TypeError, match=r"max_pool2d: ceil_mode must be True or False"):
        F.max_pool2d(x, 2, ceil_mode=1)
    with pytest.raises(TypeError, match=r"softmax_cross_entropy: check_labels must be True or "
                                        r"False, got 'no'"):
        F.softmax_cross_entropy(x, on(np.zeros((2, 2, 2), "int64")), check_labels="no")
    y, _ = F.dropout(x, 0.5, training=np.bool_(False))       # NumPy bools are bools
    assert_close(y, x, 0, 0)


def test_cross_entropy_backward_checks_dloss(on):
    logits = on(np.zeros((1, 3, 2, 2)))
    _, cache = F.softmax_cross_entropy(logits, on(np.zeros((1, 2, 2), "int64")))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy_backward: dloss must be a scalar "
                                         r".*got dloss.shape=\(3,\)"):
        F.softmax_cross_entropy_backward(cache, dloss=on(np.ones(3)))
    with pytest.raises(TypeError, match=r"softmax_cross_entropy_backward: dloss must be a real "
                                        r"number or a 0-d array, got True"):
        F.softmax_cross_entropy_backward(cache, dloss=True)
    with pytest.raises(TypeError, match=r"dloss has dtype float32 but the logits had dtype "
                                        r"float64"):
        F.softmax_cross_entropy_backward(cache, dloss=on(np.array(2.0, "float32")))
    one = F.softmax_cross_entropy_backward(cache)
    for dloss in (2, np.float32(2.0), on(np.array(2.0))):
        assert_close(F.softmax_cross_entropy_backward(cache, dloss=dloss), 2 * one, 1e-12, 0)


@pytest.mark.parametrize("call, exc, pattern", [
    (lambda x: F.softmax(x, axis=4), ValueError, r"softmax: axis must be in \[-4, 4\)"),
    (lambda x: F.log_softmax(x, axis="1"), TypeError, r"log_softmax: axis must be an integer"),
    (lambda x: F.concat([x, x], axis=7), ValueError, r"concat: axis must be in \[-4, 4\)"),
    (lambda x: F.resize_bilinear(x, (3, 3), align_corners=1), ValueError,
     r"resize_bilinear: unknown align_corners 1"),
    (lambda x: F.conv2d(x, x[:1], method=["holes"]), ValueError, r"conv2d: unknown method"),
    (lambda x: F.batch_norm(x, *[np.ones(3)] * 4, training=True, eps=float("inf")),
     ValueError, r"batch_norm: eps must be (> 0 and )?(a )?finite( number)?, got inf"),
])
def test_argument_values_are_checked(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call(np.ones((1, 3, 4, 4)))
