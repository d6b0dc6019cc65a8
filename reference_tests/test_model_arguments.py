"""Models and layers validate every constructor argument when they are built, not at the first
forward pass, and refuse a backward pass that has no forward pass to differentiate."""
import numpy as np
import pytest

from minideeplab import nn
from minideeplab.models import MODEL_NAMES, build_model


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("kwargs, exc, pattern", [
    (dict(num_classes=0), ValueError, r"build_model: num_classes must be >= 1, got 0"),
    (dict(num_classes="21"), TypeError, r"build_model: num_classes must be an integer, got '21'"),
    (dict(num_classes=2.0), TypeError, r"build_model: num_classes must be an integer"),
    (dict(method="fft"), ValueError, r"build_model: unknown method 'fft'"),
    (dict(dtype="int32"), TypeError, r"build_model: dtype must be a floating-point dtype"),
    (dict(dtype="nonsense"), TypeError, r"build_model: dtype must be a floating-point dtype"),
    (dict(tiny="yes"), TypeError, r"build_model: tiny must be True or False"),
    (dict(width=0), ValueError, r"build_model: width must be a finite number > 0"),
    (dict(width="1"), TypeError, r"build_model: width must be a real number"),
    (dict(seed=-1), ValueError, r"build_model: seed must be >= 0"),
    (dict(device="tpu"), ValueError, r"build_model: unknown device 'tpu'"),
    (dict(scales="1"), TypeError, r"build_model: scales must be None or a tuple of numbers"),
    (dict(width=float("inf")), ValueError, r"build_model: width must be a finite number"),
    (dict(dtype=None), TypeError, r"build_model: dtype must be a floating-point dtype"),
    (dict(scales=[0.5]), ValueError, r"build_model\('[\w-]+'\): MultiScale: scales must be "
                                     r"distinct numbers in \(0, 1\] that include 1.0"),
    (dict(depth=7), ValueError, r"build_model\('[\w-]+'\): .*depth"),
    (dict(no_such_option=1), TypeError, r"build_model: unknown keyword argument\(s\) "
                                        r"\['no_such_option'\]"),
])
def test_build_model_refuses_bad_arguments_before_building(name, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        build_model(name, **dict(dict(tiny=True), **kwargs))


def test_resnet_refuses_zero_classes_like_vgg():
    from minideeplab.models import DeepLabResNet
    from minideeplab.models.vgg import deeplab_vgg16
    for build in (lambda: DeepLabResNet(0, "v2"), lambda: DeepLabResNet(0, "v3")):
        with pytest.raises(ValueError, match=r"DeepLabResNet: num_classes must be an integer "
                                             r">= 1, got 0"):
            build()
    with pytest.raises(ValueError, match=r"deeplab_vgg16: num_classes must be an integer >= 1"):
        deeplab_vgg16(0)


@pytest.mark.parametrize("name", ["resnet", "v3"])
@pytest.mark.parametrize("kwargs, pattern", [
    (dict(multi_grid=2), r"multi_grid must be None or a non-empty tuple of ints >= 1"),
    (dict(rates=(6, 0)), r"rates must be None or a non-empty tuple of ints >= 1"),
    (dict(aspp_channels="abc"), r"aspp_channels must be an integer"),
    (dict(frozen_bn="yes"), r"frozen_bn must be True or False"),
    (dict(bn_momentum=1.5), r"bn_momentum must be <= 1.0"),
    (dict(dropout="abc"), r"dropout must be a real number"),
    (dict(head_conv=None), r"head_conv must be True or False"),
    (dict(pool_ceil_mode=1), r"pool_ceil_mode must be True or False"),
])
def test_resnet_options_are_checked_by_name(name, kwargs, pattern):
    with pytest.raises((ValueError, TypeError), match=rf"build_model\('{name}'\): "
                                                      rf"DeepLabResNet: {pattern}"):
        build_model(name, 3, tiny=True, **kwargs)


@pytest.mark.parametrize("kwargs", [dict(aspp_channels=16), dict(dropout=0.1),
                                    dict(head_conv=True), dict(pool_align_corners=False)])
def test_v3_head_options_are_refused_for_the_v2_head_not_ignored(kwargs):
    (name, value), = kwargs.items()
    with pytest.raises(ValueError, match=rf"DeepLabResNet: {name}={value!r} is an option of the "
                                         r"v3 head"):
        build_model("resnet", 3, tiny=True, **kwargs)
    build_model("v3", 3, tiny=True, **kwargs)                   # where it belongs


def test_vgg_dropout_is_checked_by_name():
    with pytest.raises(ValueError, match=r"build_model\('largefov'\): deeplab_vgg16: dropout "
                                         r"must be <= 1.0, got 1.5"):
        build_model("largefov", 3, tiny=True, dropout=1.5)


@pytest.mark.parametrize("build, exc, pattern", [
    (lambda: nn.Conv2d(3, 4, 3, method="fft"), ValueError, r"Conv2d: unknown method 'fft'"),
    (lambda: nn.Conv2d(3, 4, 3, dtype="int32"), TypeError, r"Conv2d: dtype must be a floating"),
    (lambda: nn.Conv2d(3, 0, 3), ValueError, r"Conv2d: out_channels must be >= 1, got 0"),
    (lambda: nn.Conv2d(3, 4, (3, 0)), ValueError, r"Conv2d: kernel_size\[1\] must be >= 1"),
    (lambda: nn.Conv2d(3, 4, 3, rate=0), ValueError, r"Conv2d: rate must be >= 1, got 0"),
    (lambda: nn.Conv2d(3, 4, 3, stride=2, method="deinterlace"), ValueError,
     r"Conv2d: method='deinterlace' supports stride=1 only"),
    (lambda: nn.Conv2d(3, 4, 3, bias="no"), TypeError, r"Conv2d: bias must be True or False"),
    (lambda: nn.BatchNorm2d(4, momentum=2), ValueError, r"BatchNorm2d: momentum must be <= 1"),
    (lambda: nn.BatchNorm2d(4, eps=0), ValueError, r"BatchNorm2d: eps must be > 0 and finite"),
    (lambda: nn.BatchNorm2d(4, dtype="float"), None, None),       # 'float' is float64: fine
    (lambda: nn.Dropout(1.5), ValueError, r"Dropout: p must be <= 1.0, got 1.5"),
    (lambda: nn.Dropout(0.5, seed="abc"), TypeError, r"Dropout: seed must be a numpy.random"),
    (lambda: nn.Dropout(0.5, seed=-3), ValueError, r"Dropout: seed must be an int seed >= 0"),
    (lambda: nn.MaxPool2d("3"), TypeError, r"MaxPool2d: kernel must be an integer"),
    (lambda: nn.MaxPool2d(3, 0), ValueError, r"MaxPool2d: stride must be >= 1, got 0"),
    (lambda: nn.AvgPool2d(3, padding=(1, -1)), ValueError, r"AvgPool2d: padding\[1\] must be"),
    (lambda: nn.AvgPool2d(3, count_include_pad="no"), TypeError,
     r"AvgPool2d: count_include_pad must be True or False"),
    (lambda: nn.ResizeBilinear((0, 3)), ValueError, r"ResizeBilinear: size\[0\] must be >= 1"),
    (lambda: nn.ResizeBilinear(zoom_factor=1.5), TypeError,
     r"ResizeBilinear: zoom_factor must be an integer"),
    (lambda: nn.ResizeBilinear(align_corners="yes"), TypeError,
     r"ResizeBilinear: align_corners must be True or False"),
])
def test_layers_refuse_bad_arguments_when_built(build, exc, pattern):
    if exc is None:
        build()
        return
    with pytest.raises(exc, match=pattern):
        build()


@pytest.mark.parametrize("layer, name", [
    (lambda: nn.Conv2d(2, 3, 3), "Conv2d"), (lambda: nn.ReLU(), "ReLU"),
    (lambda: nn.Dropout(0.5, seed=0), "Dropout"), (lambda: nn.BatchNorm2d(2), "BatchNorm2d"),
    (lambda: nn.MaxPool2d(2), "MaxPool2d"), (lambda: nn.AvgPool2d(2), "AvgPool2d"),
    (lambda: nn.GlobalAvgPool(), "GlobalAvgPool"), (lambda: nn.ResizeBilinear((3, 3)),
                                                    "ResizeBilinear"),
])
def test_backward_before_forward_is_refused_with_a_message(layer, name):
    with pytest.raises(RuntimeError, match=rf"{name}.backward: no cache from a forward pass to "
                                           r"differentiate; call forward first"):
        layer().backward(np.zeros((1, 2, 3, 3), "float32"))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_backward_before_forward_and_after_to(name):
    model = build_model(name, 3, tiny=True, width=1 / 32)
    with pytest.raises(RuntimeError, match=r"\w+\.backward: no cache from a forward pass"):
        model.backward(np.zeros((2, 3, 2, 2), "float32"))
    model.train()
    x = np.random.default_rng(0).standard_normal((2, 3, 17, 17)).astype("float32")
    y = model.forward(x)
    dx = model.backward(np.ones_like(y))                 # the forward makes backward possible
    assert dx.shape == x.shape
    model.to("cpu")                                      # .to() drops the caches
    with pytest.raises(RuntimeError, match=r"no cache from a forward pass to differentiate"):
        model.backward(np.ones_like(y))
