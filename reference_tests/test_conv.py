"""Atrous convolution: holes vs deinterlace vs direct, PyTorch golden values, gradients, errors.

Why the three methods must agree (DeepLab v2, Sec. 3.1): all compute
``y[i, j] = sum_{p,q} w[p, q] x_pad[s*i + r*p, s*j + r*q]``. "holes" gathers exactly those taps
into columns; "deinterlace" notes that the taps of output (r*u + a, r*v + b) all lie in the
sub-image x_pad[a::r, b::r], where they are neighbours, so an ordinary convolution of that
sub-image gives them; "direct" sums the taps one by one. They differ only in summation order,
so they agree to rounding error.
"""
import os

import numpy as np
import pytest

from helpers import assert_close, tolerances
from minideeplab import backend, functional as F, nn
from minideeplab.gradcheck import GradientCheckError, check_gradients

RATES = (1, 2, 3, 4, 8, 12, 24)
KERNELS = (1, 2, 3, 4, 7)


def _paddings(k, r):
    """0, "same" (r(k-1)//2), and the largest, r(k-1): the sweep's padding values."""
    return sorted({0, r * (k - 1) // 2, r * (k - 1)})


def _sweep():
    cases = []
    for r in RATES:
        for k in KERNELS:
            for i, p in enumerate(_paddings(k, r)):
                need = r * (k - 1) + 1 - 2 * p              # smallest input that fits
                base = max(need, 1)
                # alternate sizes that are / are not multiples of r, odd / even, non-square
                h = base + (-base) % r if i % 2 == 0 else base + 1 + (base % 2)
                w = base + 3 + (r > 1)
                cases.append(pytest.param(r, k, p, h, w, id=f"r{r}-k{k}-p{p}-{h}x{w}"))
    return cases


def _run_all(x, w, b, dy, methods, **kw):
    out = {}
    for m in methods:
        y, cache = F.conv2d(x, w, b, method=m, **kw)
        out[m] = (y,) + F.conv2d_backward(dy, cache)
    return out


def _random_case(rng, N, C, O, H, W, k, dtype):
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((O, C, k, k)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype)
    return x, w, b


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("rate,k,padding,H,W", _sweep())
def test_methods_agree_forward_and_backward(rate, k, padding, H, W, dtype, on):
    rng = np.random.default_rng(1000 * rate + 10 * k + padding)
    x, w, b = on(*_random_case(rng, 2, 3, 4, H, W, k, dtype))
    OH = F.conv_output_size(H, k, padding=padding, rate=rate)
    OW = F.conv_output_size(W, k, padding=padding, rate=rate)
    dy = on(rng.standard_normal((2, 4, OH, OW)).astype(dtype))
    out = _run_all(x, w, b, dy, F.CONV_METHODS, padding=padding, rate=rate)
    rtol, atol = tolerances(dtype)
    ref = out["direct"]
    assert ref[0].shape == (2, 4, OH, OW)
    for m in ("holes", "deinterlace"):
        for name, a, e in zip(("y", "dx", "dw", "db"), out[m], ref):
            assert a.dtype == np.dtype(dtype), (m, name, a.dtype)
            scale = float(abs(backend.asnumpy(e)).max()) + 1.0
            assert_close(a, e, rtol, atol * scale, f"{m} vs direct: {name}")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("rate,k,padding,H,W", [
    (1, 3, 1, 9, 8), (2, 3, 2, 11, 10), (3, 2, 1, 12, 13), (4, 4, 6, 17, 14),
    (2, 7, 6, 20, 21), (8, 3, 8, 24, 19), (1, 1, 0, 7, 6), (5, 1, 0, 9, 8)])
def test_stride_two_holes_vs_direct(rate, k, padding, H, W, dtype, on):
    rng = np.random.default_rng(rate * 31 + k)
    x, w, b = on(*_random_case(rng, 3, 2, 3, H, W, k, dtype))
    OH = F.conv_output_size(H, k, stride=2, padding=padding, rate=rate)
    OW = F.conv_output_size(W, k, stride=2, padding=padding, rate=rate)
    dy = on(rng.standard_normal((3, 3, OH, OW)).astype(dtype))
    out = _run_all(x, w, b, dy, ("holes", "direct"), stride=2, padding=padding, rate=rate)
    rtol, atol = tolerances(dtype)
    for name, a, e in zip(("y", "dx", "dw", "db"), out["holes"], out["direct"]):
        assert_close(a, e, rtol, atol * (float(abs(backend.asnumpy(e)).max()) + 1), name)


def test_non_square_padding_and_kernel(on):
    rng = np.random.default_rng(7)
    x = on(rng.standard_normal((2, 3, 13, 17)))
    w = on(rng.standard_normal((4, 3, 3, 5)))
    dy_shape = (2, 4, F.conv_output_size(13, 3, padding=1, rate=3),
                F.conv_output_size(17, 5, padding=4, rate=3))
    dy = on(rng.standard_normal(dy_shape))
    out = _run_all(x, w, None, dy, F.CONV_METHODS, padding=(1, 4), rate=3)
    for m in ("holes", "deinterlace"):
        assert out[m][3] is None  # no bias, no db
        for a, e in zip(out[m][:3], out["direct"][:3]):
            assert_close(a, e, 1e-10, 1e-10)


GOLDEN = os.path.join(os.path.dirname(__file__), "fixtures", "conv2d_golden.npz")


def _golden_cases():
    with np.load(GOLDEN, allow_pickle=False) as z:
        return sorted({k.split("/")[0] for k in z.files if "/" in k})


@pytest.mark.parametrize("method", F.CONV_METHODS)
@pytest.mark.parametrize("case", _golden_cases())
def test_against_pytorch_golden(case, method, on):
    with np.load(GOLDEN, allow_pickle=False) as z:
        g = {k.split("/")[1]: z[k] for k in z.files if k.startswith(case + "/")}
    stride, ph, pw, rate = (int(v) for v in g["meta"])
    if method == "deinterlace" and stride != 1:
        pytest.skip("deinterlace is defined for stride 1 only (checked in test_bad_input)")
    x, w, b, dy = on(g["x"], g["w"], g["b"], g["dy"])
    y, cache = F.conv2d(x, w, b, stride=stride, padding=(ph, pw), rate=rate, method=method)
    dx, dw, db = F.conv2d_backward(dy, cache)
    for name, a in dict(y=y, dx=dx, dw=dw, db=db).items():
        assert_close(a, g[name], 1e-10, 1e-10, f"{case} {method} {name} vs PyTorch")


@pytest.mark.parametrize("method", F.CONV_METHODS)
@pytest.mark.parametrize("rate,k,padding,stride", [(1, 3, 1, 1), (2, 3, 2, 1), (3, 2, 2, 1),
                                                   (2, 3, 1, 2), (4, 4, 5, 1)])
def test_gradient_check(method, rate, k, padding, stride, on):
    if method == "deinterlace" and stride != 1:
        pytest.skip("deinterlace is stride 1 only")
    rng = np.random.default_rng(rate + 10 * k)
    x, w, b = on(*_random_case(rng, 2, 2, 3, 9, 8, k, "float64"))

    def forward(x, w, b):
        return F.conv2d(x, w, b, stride=stride, padding=padding, rate=rate, method=method)[0]

    def backward(dy, x, w, b):
        _, cache = F.conv2d(x, w, b, stride=stride, padding=padding, rate=rate, method=method)
        return dict(zip(("x", "w", "b"), F.conv2d_backward(dy, cache)))

    check_gradients(forward, backward, dict(x=x, w=w, b=b), max_checks=60)


def test_gradient_check_catches_a_wrong_backward(on):
    """The helper itself must fail on a wrong gradient (here dx scaled by 1.001)."""
    rng = np.random.default_rng(3)
    x, w, b = on(*_random_case(rng, 1, 2, 2, 6, 6, 3, "float64"))

    def backward(dy, x, w, b):
        dx, dw, db = F.conv2d_backward(dy, F.conv2d(x, w, b, padding=1)[1])
        return dict(x=dx * 1.001, w=dw, b=db)

    with pytest.raises(GradientCheckError, match="gradient of 'x' wrong at index"):
        check_gradients(lambda x, w, b: F.conv2d(x, w, b, padding=1)[0], backward,
                        dict(x=x, w=w, b=b))


def test_conv_does_not_modify_its_inputs(on):
    rng = np.random.default_rng(5)
    x, w, b = on(*_random_case(rng, 2, 3, 4, 10, 10, 3, "float64"))
    copies = [a.copy() for a in (x, w, b)]
    for m in F.CONV_METHODS:
        y, cache = F.conv2d(x, w, b, padding=2, rate=2, method=m)
        dy = y * 0.5 + 1
        dy_copy = dy.copy()
        F.conv2d_backward(dy, cache)
        assert_close(dy, dy_copy, 0, 0, "dy changed")
        for a, c in zip((x, w, b), copies):
            assert_close(a, c, 0, 0, f"{m} modified an input")


def test_rate_equals_dilated_kernel(on):
    """Sec. 3.1: rate r equals an ordinary convolution with r-1 zeros inserted between taps."""
    rng = np.random.default_rng(11)
    x, w, _ = _random_case(rng, 1, 2, 3, 15, 14, 3, "float64")
    r = 3
    ke = F.effective_kernel_size(3, r)
    w_holes = np.zeros((3, 2, ke, ke))
    w_holes[:, :, ::r, ::r] = w
    x, w, w_holes = on(x, w, w_holes)
    y_atrous, _ = F.conv2d(x, w, padding=3, rate=r)
    y_dilated, _ = F.conv2d(x, w_holes, padding=3, rate=1, method="direct")
    assert_close(y_atrous, y_dilated, 1e-10, 1e-10)


@pytest.mark.parametrize("method", F.CONV_METHODS)
def test_layer_holds_params_and_accumulates_grads(method, on, device):
    layer = nn.Conv2d(3, 4, 3, padding=2, rate=2, method=method, seed=0, dtype="float64",
                      device=device)
    rng = np.random.default_rng(0)
    x = on(rng.standard_normal((2, 3, 9, 9)))
    y = layer(x)
    y_ref, cache = F.conv2d(x, layer.params["weight"], layer.params["bias"], padding=2, rate=2)
    assert_close(y, y_ref, 1e-12, 1e-12)
    dy = on(rng.standard_normal(y.shape))
    dx = layer.backward(dy)
    dx_ref, dw_ref, db_ref = F.conv2d_backward(dy, cache)
    assert_close(dx, dx_ref, 1e-12, 1e-12)
    assert_close(layer.grads["weight"], dw_ref, 1e-12, 1e-12)
    layer.forward(x)
    layer.backward(dy)                         # a second backward adds (weight sharing)
    assert_close(layer.grads["bias"], 2 * db_ref, 1e-12, 1e-12)
    layer.zero_grad()
    assert layer.grads == {}
    assert layer.num_parameters() == 4 * 3 * 9 + 4


# ------------------------------------------------------------------------------ bad input
def _ok(on):
    return on(np.zeros((1, 2, 8, 8), "float32"), np.zeros((3, 2, 3, 3), "float32"))


@pytest.mark.parametrize("kwargs,exc,pattern", [
    (dict(rate=0), ValueError, "rate must be >= 1"),
    (dict(rate=1.5), TypeError, "rate must be an integer"),
    (dict(rate=True), TypeError, "rate must be an integer"),
    (dict(padding=-1), ValueError, "padding must be >= 0"),
    (dict(padding=(1, 2, 3)), ValueError, "padding must be an int or a pair"),
    (dict(stride=0), ValueError, "stride must be >= 1"),
    (dict(method="winograd"), ValueError, "unknown method 'winograd'"),
    (dict(method="deinterlace", stride=2), ValueError, "supports stride=1 only"),
    (dict(rate=4), ValueError, r"kernel larger than the padded input.*x.shape=\(1, 2, 8, 8\)"),
])
def test_bad_hyper_parameters(kwargs, exc, pattern, on):
    x, w = _ok(on)
    with pytest.raises(exc, match=pattern):
        F.conv2d(x, w, **kwargs)


def test_bad_shapes(on):
    x, w = _ok(on)
    with pytest.raises(ValueError, match=r"x must have 4 dimensions, got 3 \(x.shape=\(2, 8, 8\)"):
        F.conv2d(x[0], w)
    with pytest.raises(ValueError, match=r"w must have 4 dimensions"):
        F.conv2d(x, w[0])
    with pytest.raises(ValueError, match=r"x has 2 channels but w expects 5 .*w.shape=\(3, 5, 3, 3\)"):
        F.conv2d(x, on(np.zeros((3, 5, 3, 3), "float32")))
    with pytest.raises(ValueError, match=r"b must have shape \(3,\)"):
        F.conv2d(x, w, on(np.zeros(4, "float32")))
    with pytest.raises(TypeError, match="x must be a NumPy or CuPy array"):
        F.conv2d(x.tolist(), w)
    with pytest.raises(TypeError, match="x must be a floating-point array"):
        F.conv2d(x.astype("int32"), w)
    with pytest.raises(TypeError, match="w has dtype float64 but x has dtype float32"):
        F.conv2d(x, w.astype("float64"))
    y, cache = F.conv2d(x, w, padding=1)
    with pytest.raises(ValueError, match=r"dy.shape=\(1, 3, 7, 7\) does not match"):
        F.conv2d_backward(y[:, :, :7, :7], cache)


@pytest.mark.parametrize("stride, rate", [(1, 1), (2, 1), (1, 3), (2, 2)])
def test_holes_forward_by_bands_of_channels_equals_direct(monkeypatch, stride, rate):
    """Above COLUMN_BUDGET the column matrix is built for bands of input channels, whose
    products are summed; the last band is shorter here (5 channels, 2 per band)."""
    import importlib
    im2col_module = importlib.import_module("minideeplab.functional.im2col")
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 5, 17, 13)), rng.standard_normal((4, 5, 3, 3))
    expected = F.conv2d(x, w, padding=rate, stride=stride, rate=rate, method="direct")[0]
    OH = (17 + 2 * rate - 2 * rate - 1) // stride + 1
    OW = (13 + 2 * rate - 2 * rate - 1) // stride + 1
    monkeypatch.setattr(im2col_module, "COLUMN_BUDGET", 2 * 9 * OH * OW * 2)
    y = F.conv2d(x, w, padding=rate, stride=stride, rate=rate, method="holes")[0]
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("H, W, rate, pad", [(9, 7, 4, 4), (6, 11, 6, 6), (8, 8, 2, 1), (5, 5, 9, 9)])
def test_taps_equal_direct(H, W, rate, pad):
    """Skipping the products with zero padding (large rates on small maps) is exact, forward
    and backward; the last case has every off-centre tap in the padding."""
    from minideeplab.functional import taps
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, H, W)), rng.standard_normal((4, 3, 3, 3))
    y_ref, cache = F.conv2d(x, w, padding=pad, rate=rate, method="direct")
    dy = rng.standard_normal(y_ref.shape)
    dx_ref, dw_ref, _ = F.conv2d_backward(dy, cache)
    y = taps.taps_forward(x, w, (pad, pad), rate)
    dx, dw = taps.taps_backward(dy, x, w, (pad, pad), rate)
    for name, a, e in (("y", y, y_ref), ("dx", dx, dx_ref), ("dw", dw, dw_ref)):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12, err_msg=name)


def test_conv2d_goes_tap_by_tap_for_big_sparse_layers(monkeypatch):
    import importlib
    conv_module = importlib.import_module("minideeplab.functional.conv")
    from minideeplab.functional import taps
    assert taps.valid_taps_pay_off((41, 41), (36, 36), (256, 2048, 3, 3), 36, 1)
    assert not taps.valid_taps_pay_off((65, 65), (12, 12), (256, 2048, 3, 3), 12, 1)
    assert not taps.valid_taps_pay_off((9, 7), (4, 4), (4, 3, 3, 3), 4, 2)   # small
    calls = []
    monkeypatch.setattr(conv_module, "valid_taps_pay_off", lambda *a: True)
    for name in ("taps_forward", "taps_backward"):
        real = getattr(conv_module, name)
        monkeypatch.setattr(conv_module, name,
                            lambda *a, real=real, name=name: calls.append(name) or real(*a))
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((1, 3, 7, 6)), rng.standard_normal((2, 3, 3, 3))
    y, cache = F.conv2d(x, w, padding=5, rate=5)
    dy = rng.standard_normal(y.shape)
    dx, dw, _ = F.conv2d_backward(dy, cache)
    assert calls == ["taps_forward", "taps_backward"]
    y_ref, cache_ref = F.conv2d(x, w, padding=5, rate=5, method="direct")
    for a, e in zip((y, dx, dw), (y_ref,) + F.conv2d_backward(dy, cache_ref)[:2]):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)


def test_taps_gradient_check(monkeypatch):
    """The tap-by-tap backward (big rates on small maps) in float64, random upstream gradient."""
    import importlib
    monkeypatch.setattr(importlib.import_module("minideeplab.functional.conv"), "valid_taps_pay_off",
                        lambda *a: True)
    rng = np.random.default_rng(4)
    x, w, b = _random_case(rng, 2, 3, 2, 7, 8, 3, "float64")

    def forward(x, w, b):
        return F.conv2d(x, w, b, padding=4, rate=4)[0]

    def backward(dy, x, w, b):
        return dict(zip("xwb", F.conv2d_backward(dy, F.conv2d(x, w, b, padding=4, rate=4)[1])))

    check_gradients(forward, backward, dict(x=x, w=w, b=b), max_checks=60)


@pytest.mark.parametrize("stride,rate,pad,H,W", [(1, 1, 1, 9, 7), (1, 6, 6, 8, 9), (2, 1, 1, 11, 10),
                                                 (1, 3, 0, 10, 12), (2, 2, 3, 9, 9), (1, 4, 9, 5, 6)])
def test_few_filters_multiply_first_and_shift_after(stride, rate, pad, H, W):
    """Few filters on many channels (DeepLab v2's ResNet head: 21 x 9 taps on 2048 channels):
    every tap's product with the whole input, shifted into place, equals the direct sum,
    forward and backward."""
    import importlib
    conv_module = importlib.import_module("minideeplab.functional.conv")
    rng = np.random.default_rng(5)
    x, w, b = _random_case(rng, 2, 40, 1, H, W, 3, "float64")
    assert conv_module._holes_way(x.shape, w.shape, stride, (pad, pad), rate) == "shifted"
    y, cache = F.conv2d(x, w, b, stride=stride, padding=pad, rate=rate)
    y_ref, cache_ref = F.conv2d(x, w, b, stride=stride, padding=pad, rate=rate, method="direct")
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    for name, a, e in zip(("dx", "dw", "db"), F.conv2d_backward(dy, cache),
                          F.conv2d_backward(dy, cache_ref)):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12, err_msg=name)


def test_few_filters_gradient_check():
    rng = np.random.default_rng(6)
    x, w, b = _random_case(rng, 2, 36, 1, 6, 7, 3, "float64")

    def forward(x, w, b):
        return F.conv2d(x, w, b, padding=2, rate=2)[0]

    def backward(dy, x, w, b):
        return dict(zip("xwb", F.conv2d_backward(dy, F.conv2d(x, w, b, padding=2, rate=2)[1])))

    check_gradients(forward, backward, dict(x=x, w=w, b=b), max_checks=60)
