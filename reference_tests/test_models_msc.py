"""Multi-scale inputs with max fusion, and the model factory."""
import json

import numpy as np
import pytest

from minideeplab import backend, functional as F, nn
from minideeplab.gradcheck import check_gradients
from minideeplab.models import MODEL_NAMES, MultiScale, build_model
from minideeplab.models.msc import scaled_size


def _tiny_net(dtype="float64", dropout=0.0, bn=False):
    layers = {"conv": nn.Conv2d(3, 4, 3, padding=1, dtype=dtype, seed=1)}
    if bn:
        layers["bn"] = nn.BatchNorm2d(4, dtype=dtype)
    layers["relu"] = nn.ReLU()
    if dropout:
        layers["drop"] = nn.Dropout(dropout, seed=0)
    layers["pool"] = nn.MaxPool2d(3, 2, 1)
    layers["cls"] = nn.Conv2d(4, 3, 1, dtype=dtype, seed=2)
    return nn.Sequential(layers)


def test_caffe_interp_sizes():
    assert [scaled_size(321, s) for s in (1, 0.75, 0.5)] == [321, 241, 161]
    assert [scaled_size(13, s) for s in (1, 0.75, 0.5)] == [13, 10, 7]


def test_max_fusion_equals_brute_force(on):
    net = _tiny_net("float32").eval()
    net.to(backend.device_of(on(np.zeros(1))))
    msc = MultiScale(net, (0.5, 1, 0.75))
    x_host = np.random.default_rng(0).standard_normal((2, 3, 21, 17)).astype(np.float32)
    y = backend.asnumpy(msc(on(x_host)))
    # brute force, one scale at a time, on the host: run, resize to the scale-1 output, max
    full = backend.asnumpy(net(on(x_host)))
    maps = [full]
    for s, size in ((0.75, (16, 13)), (0.5, (11, 9))):
        xs = F.resize_bilinear(x_host, size, align_corners=True)[0]
        ys = backend.asnumpy(net(on(xs)))
        maps.append(F.resize_bilinear(ys, full.shape[2:], align_corners=True)[0])
    expected = np.maximum(np.maximum(maps[0], maps[1]), maps[2])
    assert y.shape == full.shape == (2, 3, 11, 9)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
    # every scale wins somewhere: the test exercises the whole fusion
    winners = np.argmax(np.stack(maps), axis=0)
    assert set(np.unique(winners)) == {0, 1, 2}


@pytest.mark.parametrize("bn,dropout", [(False, 0.0), (True, 0.5)])
def test_gradient_through_three_scales(bn, dropout):
    """With batch norm (batch statistics per scale) and dropout (a mask per scale), a backward
    that used the wrong scale's cache would fail this check."""
    net = _tiny_net(bn=bn, dropout=dropout)
    msc = MultiScale(net)
    rng = np.random.default_rng(0)
    inputs = {"x": rng.standard_normal((2, 3, 13, 13)),
              "w": net.conv.params["weight"].copy(), "b": net.cls.params["bias"] + 0.1}

    def forward(x, w, b):
        net.conv.params["weight"], net.cls.params["bias"] = w, b
        if dropout:
            net.drop.reseed(5)                  # the same three masks in every forward pass
        return msc(x)

    def backward(dy, x, w, b):
        forward(x, w, b)
        msc.zero_grad()
        dx = msc.backward(dy)
        return {"x": dx, "w": net.conv.grads["weight"], "b": net.cls.grads["bias"]}

    check_gradients(forward, backward, inputs, max_checks=40)


def test_tiny_deeplab_with_msc_on_321():
    model = build_model("largefov", 4, width=1 / 32, scales=(1, 0.75, 0.5))
    x = np.random.default_rng(0).standard_normal((1, 3, 321, 321)).astype(np.float32)
    y = model(x)
    assert y.shape == (1, 4, 41, 41) and model.output_stride == 8
    assert model.backward(y).shape == x.shape
    assert all(k.startswith("net.") for k in model.state_dict())


def test_msc_errors():
    net = _tiny_net()
    with pytest.raises(ValueError, match="include 1.0"):
        MultiScale(net, (0.75, 0.5))
    with pytest.raises(TypeError, match="net must be a Module"):
        MultiScale(lambda x: x)
    msc = MultiScale(net)
    y = msc(np.zeros((1, 3, 9, 9)))
    msc.backward(y)
    with pytest.raises(RuntimeError, match="call forward first"):
        msc.backward(y)
    msc(np.zeros((1, 3, 9, 9)))
    with pytest.raises(ValueError, match=r"dy.shape=\(1, 3, 4, 4\) does not match"):
        msc.backward(np.zeros((1, 3, 4, 4)))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_build_model_by_name_and_rebuild_from_args(name):
    model = build_model(name, 5, tiny=True, seed=3)
    args = json.loads(json.dumps(model.build_args))         # as a checkpoint stores them
    again = build_model(**args)
    a, b = model.state_dict(), again.state_dict()
    assert sorted(a) == sorted(b)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    x = np.random.default_rng(0).standard_normal((2, 3, 33, 33)).astype(np.float32)
    y = model(x)
    stride = 16 if name == "v3" else 8
    assert y.shape == (2, 5, (33 - 1) // stride + 1, (33 - 1) // stride + 1)


def test_build_model_errors():
    with pytest.raises(ValueError, match="unknown model name 'fcn'"):
        build_model("fcn")
    with pytest.raises(ValueError, match="depth=50 is for the ResNet models"):
        build_model("largefov", depth=50)
