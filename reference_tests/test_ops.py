"""ReLU, dropout and pooling: PyTorch golden values, brute-force references, gradients, errors."""
import numpy as np
import pytest

from golden_layers import golden, golden_cases
from helpers import assert_close
from minideeplab import backend, functional as F
from minideeplab.gradcheck import check_gradients


def grad_check_op(op, op_backward, x, max_checks=80, **kw):
    """Gradient check of a one-input op pair ``y, cache = op(x, **kw)``, ``dx = op_backward``."""
    check_gradients(lambda x: op(x, **kw)[0],
                    lambda dy, x: {"x": op_backward(dy, op(x, **kw)[1])},
                    {"x": x}, max_checks=max_checks)


# ------------------------------------------------------------------------------ ReLU
def test_relu_forward_backward(on):
    x = on(np.array([[-2.0, -0.0, 0.0, 1e-300, 3.5]]))
    y, cache = F.relu(x)
    assert_close(y, np.array([[0, 0, 0, 1e-300, 3.5]]), 0, 0)
    dx = F.relu_backward(on(np.array([[1.0, 2, 3, 4, 5]])), cache)
    assert_close(dx, np.array([[0, 0, 0, 4.0, 5]]), 0, 0)   # no gradient at x = 0


def test_relu_gradient(on):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5))
    x[np.abs(x) < 1e-3] = 0.5                                # stay away from the kink
    grad_check_op(F.relu, F.relu_backward, on(x))


def test_relu_keeps_dtype_and_input(on):
    x = on(np.random.default_rng(1).standard_normal((3, 4)).astype("float32"))
    x0 = x.copy()
    y, cache = F.relu(x)
    assert y.dtype == np.float32
    F.relu_backward(y, cache)
    assert_close(x, x0, 0, 0)


@pytest.mark.parametrize("shape", [(2, 13, 321, 333), (3, 2 ** 20 + 1)])
@pytest.mark.parametrize("inplace", [False, True])
def test_relu_on_large_maps_by_parts_is_elementwise_max(on, shape, inplace):
    # large enough to be cut between the threads and taken a block of zeros at a time;
    # NaN and -0.0 must come out as np.maximum makes them
    x = np.random.default_rng(3).standard_normal(shape).astype("float32")
    x.reshape(-1)[::9973] = np.nan
    x.reshape(-1)[5::9973] = -0.0
    dy = np.random.default_rng(4).standard_normal(shape).astype("float32")
    x_in = on(x.copy())
    y, cache = F.relu(x_in, inplace=inplace)
    assert (y is x_in) == inplace
    assert_close(y, np.maximum(x, np.float32(0)), 0, 0)
    if not inplace:
        assert_close(x_in, x, 0, 0)
    assert_close(F.relu_backward(on(dy), cache), dy * (np.maximum(x, 0) > 0), 0, 0)


# ------------------------------------------------------------------------------ dropout
def test_dropout_eval_is_identity(on):
    x = on(np.random.default_rng(2).standard_normal((2, 3, 4, 4)))
    y, cache = F.dropout(x, 0.5, training=False)
    assert_close(y, x, 0, 0)
    assert y is not x
    assert_close(F.dropout_backward(x * 2, cache), x * 2, 0, 0)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_inverted_scaling_and_mean(p, on):
    x = on(np.full((4, 8, 64, 64), 3.0))
    y, cache = F.dropout(x, p, training=True, rng=np.random.default_rng(3))
    y = backend.asnumpy(y)
    kept = y != 0
    assert_close(y[kept], np.full(kept.sum(), 3.0 / (1 - p)), 1e-15, 0)  # inverted scaling
    n = y.size
    # the kept fraction is Binomial(n, 1-p)/n: within 5 standard deviations of 1-p
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)
    assert abs(y.mean() - 3.0) < 5 * 3.0 * np.sqrt(p / ((1 - p) * n))  # E[y] = x


def test_dropout_seed_and_backward_mask(on):
    rng = np.random.default_rng(4)
    x = on(rng.standard_normal((2, 5, 6, 7)))
    y1, c1 = F.dropout(x, 0.5, training=True, rng=123)
    y2, c2 = F.dropout(x, 0.5, training=True, rng=np.random.default_rng(123))
    assert_close(y1, y2, 0, 0)                                 # same seed, same mask
    gen = np.random.default_rng(123)
    _, c3 = F.dropout(x, 0.5, training=True, rng=gen)
    _, c4 = F.dropout(x, 0.5, training=True, rng=gen)
    assert (backend.asnumpy(c3.mask) != backend.asnumpy(c4.mask)).any()  # a Generator advances
    dy = on(rng.standard_normal(x.shape))
    dx = F.dropout_backward(dy, c1)
    mask = backend.asnumpy(y1) != 0
    assert_close(dx, np.where(mask, backend.asnumpy(dy) * 2.0, 0.0), 1e-15, 0)
    # the gradient check with a fixed seed: forward and backward share the mask
    check_gradients(lambda x: F.dropout(x, 0.5, training=True, rng=7)[0],
                    lambda dy, x: {"x": F.dropout_backward(
                        dy, F.dropout(x, 0.5, training=True, rng=7)[1])},
                    {"x": x}, max_checks=60)


def test_dropout_extremes_and_errors(on):
    x = on(np.ones((2, 3)))
    assert_close(F.dropout(x, 0.0, training=True)[0], x, 0, 0)
    assert_close(F.dropout(x, 1.0, training=True)[0], np.zeros((2, 3)), 0, 0)
    with pytest.raises(ValueError, match=r"dropout: p must be <= 1.0, got 1.5"):
        F.dropout(x, 1.5, training=True, rng=0)
    with pytest.raises(ValueError, match=r"dropout: rng .* is required when training"):
        F.dropout(x, 0.5, training=True)


# ------------------------------------------------------------------------------ pooling
def _brute_pool(x, k, s, p, ceil_mode, kind, include_pad=True):
    """Caffe's pooling loops, written out: window [i*s - p, i*s - p + k) clipped as Caffe does."""
    N, C, H, W = x.shape
    OH, OW = (F.pool_output_size(n, k, s, p, ceil_mode) for n in (H, W))
    y = np.empty((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            h0, w0 = i * s - p, j * s - p
            h1, w1 = min(h0 + k, H + p), min(w0 + k, W + p)
            win = x[:, :, max(h0, 0):min(h1, H), max(w0, 0):min(w1, W)]
            # Caffe's pool_size for AVE counts the padding; else only the real pixels
            size = (h1 - h0) * (w1 - w0) if include_pad else win.shape[2] * win.shape[3]
            y[:, :, i, j] = win.max(axis=(2, 3)) if kind == "max" else win.sum(axis=(2, 3)) / size
    return y


@pytest.mark.parametrize("H,k,s,p", [(321, 3, 2, 1), (161, 3, 2, 1), (81, 3, 2, 1),
                                     (41, 3, 1, 1), (7, 2, 2, 0), (5, 2, 2, 1), (10, 3, 2, 0),
                                     (10, 3, 3, 1), (12, 4, 3, 2), (6, 1, 2, 0)])
def test_pool_output_size_rounds_up_as_caffe(H, k, s, p):
    """Caffe: ceil((H + 2p - k) / s) + 1, minus one if the last window starts in the padding.

    PyTorch's ceil_mode applies the correction also without padding; the two rules differ only
    when k < s and p = 0 (Caffe would keep a window that lies outside the input). We use
    PyTorch's rule.
    """
    out = int(np.ceil((H + 2 * p - k) / s)) + 1
    starts_outside = (out - 1) * s >= H + p
    caffe = out - 1 if p > 0 and starts_outside else out
    pytorch = out - 1 if starts_outside else out
    assert F.pool_output_size(H, k, s, p) == pytorch
    assert (caffe == pytorch) == (not (p == 0 and k < s and starts_outside))
    assert F.pool_output_size(H, k, s, p, ceil_mode=False) == (H + 2 * p - k) // s + 1


def test_deeplab_vgg_pooling_sizes():
    """321 -> 161 -> 81 -> 41 through pool1-pool3; pool4/pool5 keep 41 (output stride 8; docs/conventions.md, "Pooling output size")."""
    sizes = [321]
    for s in (2, 2, 2, 1, 1):
        sizes.append(F.pool_output_size(sizes[-1], 3, s, 1))
    assert sizes == [321, 161, 81, 41, 41, 41]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", golden_cases("maxpool"))
def test_pool_against_pytorch_golden(case, kind, on):
    g = golden(f"{kind}pool", case)
    k, s, p, ceil = (int(v) for v in g["meta"])
    op, op_back = ((F.max_pool2d, F.max_pool2d_backward) if kind == "max"
                   else (F.avg_pool2d, F.avg_pool2d_backward))
    x, dy = on(g["x"], g["dy"])
    y, cache = op(x, k, s, p, ceil_mode=bool(ceil))
    assert_close(y, g["y"], 1e-12, 1e-12, f"{case} y vs PyTorch")
    assert_close(op_back(dy, cache), g["dx"], 1e-12, 1e-12, f"{case} dx vs PyTorch")
    assert_close(y, _brute_pool(g["x"], k, s, p, bool(ceil), kind), 1e-12, 1e-12,
                 f"{case} y vs Caffe loops")


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("k,s,p,shape", [(3, 2, 1, (2, 2, 9, 8)), (3, 1, 1, (1, 2, 6, 7)),
                                         (2, 2, 1, (1, 2, 5, 6)), ((3, 2), (2, 1), (1, 0),
                                                                   (1, 2, 7, 6))])
def test_pool_gradient(kind, k, s, p, shape, on):
    x = on(np.random.default_rng(5).standard_normal(shape))  # ties have probability 0
    if kind == "max":
        grad_check_op(F.max_pool2d, F.max_pool2d_backward, x, kernel=k, stride=s, padding=p)
    else:
        grad_check_op(F.avg_pool2d, F.avg_pool2d_backward, x, kernel=k, stride=s, padding=p)


def test_avg_pool_count_include_pad_false(on):
    x = np.random.default_rng(6).standard_normal((1, 2, 7, 8))
    y, _ = F.avg_pool2d(on(x), 3, 2, 1, count_include_pad=False)
    assert_close(y, _brute_pool(x, 3, 2, 1, True, "avg", include_pad=False), 1e-12, 1e-12)
    grad_check_op(F.avg_pool2d, F.avg_pool2d_backward, on(x), kernel=3, stride=2, padding=1,
                  count_include_pad=False)


def test_max_pool_backward_sends_each_gradient_to_one_argmax(on):
    x = on(np.random.default_rng(7).standard_normal((2, 3, 9, 9)))
    y, cache = F.max_pool2d(x, 3, 2, 1)
    dx = F.max_pool2d_backward(on(np.ones(y.shape)), cache)
    assert float(dx.sum()) == y.size                          # total mass preserved
    assert_close(F.max_pool2d(x, 3, 2, 1)[0], y, 0, 0)        # deterministic


def test_global_avg_pool(on):
    x = on(np.random.default_rng(8).standard_normal((2, 3, 5, 4)))
    y, cache = F.global_avg_pool(x)
    assert y.shape == (2, 3, 1, 1)
    assert_close(y, backend.asnumpy(x).mean(axis=(2, 3), keepdims=True), 1e-14, 1e-14)
    grad_check_op(F.global_avg_pool, F.global_avg_pool_backward, x)


@pytest.mark.parametrize("op", [F.max_pool2d, F.avg_pool2d])
def test_pool_bad_input(op, on):
    x = on(np.zeros((1, 2, 8, 8)))
    with pytest.raises(ValueError, match=r"padding must be at most half the kernel"):
        op(x, 3, 2, 2)
    with pytest.raises(ValueError, match=r"kernel \(9, 9\) larger than the padded input "
                                         r"\(x.shape=\(1, 2, 8, 8\)"):
        op(x, 9, 1, 0)
    with pytest.raises(ValueError, match=r"stride must be >= 1"):
        op(x, 3, 0, 1)
    with pytest.raises(ValueError, match=r"x must have 4 dimensions"):
        op(x[0], 3, 2, 1)
    y, cache = op(x, 3, 2, 1)
    backward = F.max_pool2d_backward if op is F.max_pool2d else F.avg_pool2d_backward
    with pytest.raises(ValueError, match=r"dy.shape=\(1, 2, 3, 5\) does not match the forward "
                                         r"output shape \(1, 2, 5, 5\)"):
        backward(y[:, :, :3], cache)


# ------------------------------------------------------------------------------ add, concat
def test_add_and_concat_values_and_gradients(on):
    rng = np.random.default_rng(9)
    xs = [rng.standard_normal((2, 3, 4, 5)) for _ in range(3)]
    y, _ = F.add(on(*xs))
    assert_close(y, xs[0] + xs[1] + xs[2], 1e-15, 0)
    ys = [rng.standard_normal((2, c, 4, 5)) for c in (1, 3, 2)]
    z, _ = F.concat(on(*ys))
    assert_close(z, np.concatenate(ys, axis=1), 0, 0)
    inputs = {f"x{i}": on(x) for i, x in enumerate(xs)}
    check_gradients(lambda **kw: F.add(list(kw.values()))[0],
                    lambda dy, **kw: dict(zip(kw, F.add_backward(dy, F.add(list(kw.values()))[1]))),
                    inputs, max_checks=40)
    inputs = {f"x{i}": on(x) for i, x in enumerate(ys)}
    check_gradients(lambda **kw: F.concat(list(kw.values()))[0],
                    lambda dy, **kw: dict(zip(kw, F.concat_backward(
                        dy, F.concat(list(kw.values()))[1]))),
                    inputs, max_checks=40)


def test_add_backward_returns_separate_arrays(on):
    dy = on(np.ones((1, 2, 3, 3)))
    grads = F.add_backward(dy, F.add(on(np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 3, 3))))[1])
    grads[0] += 1                                             # must not change dy or grads[1]
    assert_close(dy, np.ones((1, 2, 3, 3)), 0, 0)
    assert_close(grads[1], np.ones((1, 2, 3, 3)), 0, 0)


def test_add_and_concat_bad_input(on):
    a, b = on(np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 4, 3)))
    with pytest.raises(ValueError, match=r"add: xs\[1\].shape=\(1, 2, 4, 3\) differs from "
                                         r"xs\[0\].shape=\(1, 2, 3, 3\)"):
        F.add([a, b])
    with pytest.raises(ValueError, match=r"concat: xs\[1\].shape=\(1, 2, 4, 3\) and "
                                         r"xs\[0\].shape=\(1, 2, 3, 3\) must agree"):
        F.concat([a, b])
    with pytest.raises(ValueError, match=r"xs must hold at least one array"):
        F.add([])
    with pytest.raises(TypeError, match=r"xs must be a list of arrays"):
        F.concat(a)
    with pytest.raises(TypeError, match=r"xs\[1\] has dtype float32 but xs\[0\] has dtype float64"):
        F.add([a, a.astype("float32")])


def test_relu_inplace_must_be_a_bool():
    from minideeplab import nn
    from minideeplab.errors import ArgumentError
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ArgumentError, match="relu: inplace must be True or False"):
        F.relu(x, inplace="yes")
    with pytest.raises(ArgumentError, match="ReLU: inplace must be True or False"):
        nn.ReLU(inplace=1)
    assert (x == 1).all()
