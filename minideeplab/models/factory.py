"""Build any DeepLab variant by name (the command line's ``--model``).

================  ===============================================================  ==========
name              network                                                          paper
================  ===============================================================  ==========
``"largefov"``    VGG-16, fc6 3x3 rate 12, 1024 channels                           v2 Tab. 3
``"aspp-s"``      VGG-16, ASPP rates (2, 4, 8, 12), branches summed                v2 Tab. 3
``"aspp-l"``      VGG-16, ASPP rates (6, 12, 18, 24), branches summed              v2 Tab. 3
``"resnet"``      ResNet-101, output stride 8, four 3x3 convs to classes, summed   v2 Sec. 4
``"v3"``          ResNet-101, output stride 16, multi-grid (1, 2, 4), ASPP v3      v3 Sec. 3.3
================  ===============================================================  ==========

``tiny=True`` shrinks a network for CPU training in minutes: VGG width 1/16 (conv1 4 channels,
fc6/fc7 64), ResNet blocks (1, 1, 1, 1) at width 1/8. Explicit ``width``/``depth`` win.

Every model built here carries ``model.preprocessing``, the input transformation its weights
expect (:class:`~minideeplab.preprocess.Preprocessing`), and ``model.build_args``, which records
it with everything else, so that a checkpoint rebuilds the model together with its input recipe.
"""
import inspect
import math
import numbers

from .. import backend, checks
from ..errors import ArgumentError, BudgetExceededError
from ..functional import CONV_METHODS
from ..nn import init
from ..nn.aspp import ASPP_L_RATES, ASPP_S_RATES
from ..preprocess import Preprocessing
from .msc import MultiScale
from .resnet import TINY_RESNET, DeepLabResNet
from .vgg import DeepLabVGG16, deeplab_vgg16

__all__ = ["MODEL_NAMES", "TINY_VGG_WIDTH", "build_model"]

MODEL_NAMES = ("largefov", "aspp-s", "aspp-l", "resnet", "v3")
TINY_VGG_WIDTH = 1 / 16
_VGG_RATES = {"largefov": None, "aspp-s": ASPP_S_RATES, "aspp-l": ASPP_L_RATES}  # nn/aspp.py


def build_model(name, num_classes=21, *, tiny=False, width=None, depth=None, scales=None,
                method="holes", seed=0, dtype="float32", device=None, preprocessing=None,
                **kwargs):
    """A DeepLab network by name (see the module doc).

    Parameters
    ----------
    name : one of :data:`MODEL_NAMES`
    num_classes : int, L
    tiny : bool, the small CPU presets (see the module doc)
    width : float, channel multiplier (default 1, or the tiny preset's)
    depth : ResNet depth, 50 / 101 / 152 or four block counts (default 101, or tiny's);
        not allowed for the VGG models
    scales : None, or multi-scale input scales such as (1, 0.75, 0.5): the network is wrapped
        in :class:`~.msc.MultiScale` (max fusion)
    method : "holes" | "deinterlace" | "direct", the atrous convolution method
    seed, dtype, device : initialisation seed, parameter dtype and device
    preprocessing : :class:`~minideeplab.preprocess.Preprocessing` (or its ``to_json()`` dict)
        that the model's inputs go through; None: ``Preprocessing()`` (the image minus Caffe's
        mean pixel, RGB, scale 1). The trainer sets it from its ``input_scale``.
    **kwargs : passed on: for VGG (:func:`~.vgg.deeplab_vgg16`) ``fc6_kernel``, ``fc6_rate``,
        ``fc_channels``, ``dropout``; for ResNet (:class:`~.resnet.DeepLabResNet`)
        ``output_stride``, ``multi_grid``, ``rates``, ``frozen_bn``, ``aspp_channels``, ...

    Returns
    -------
    Module with ``forward(x) -> logits``, ``backward(dlogits) -> dx``, ``output_stride``,
    ``preprocessing`` and ``build_args`` (a JSON-able dict such that
    ``build_model(**build_args)`` rebuilds it, preprocessing included, for checkpoints).
    """
    _check_arguments(name, num_classes, tiny, width, scales, method, seed, dtype, device,
                     kwargs)
    preprocessing = (Preprocessing() if preprocessing is None
                     else Preprocessing.from_json(preprocessing))
    if name not in _VGG_RATES:        # recorded, so a checkpoint says which schedule it had
        kwargs.setdefault("schedule", "paper")
    args = dict(name=name, num_classes=num_classes, tiny=tiny, width=width, depth=depth,
                scales=None if scales is None else list(scales), method=method, seed=seed,
                dtype=dtype, preprocessing=preprocessing.to_json(), **kwargs)
    common = dict(method=method, seed=seed, dtype=dtype, device=device)
    try:
        if not init.counting():           # (a copy of placeholders allocates nothing)
            check_parameter_budget(f"build_model({name!r})", lambda: _build(
                name, num_classes, tiny, width, depth, scales, common, kwargs))
        model = _build(name, num_classes, tiny, width, depth, scales, common, kwargs)
    except ArgumentError as e:        # a constructor's check: say whose call it was
        raise ArgumentError(f"build_model({name!r}): {e}") from e
    model.preprocessing = preprocessing
    model.build_args = args
    return model


def parameter_bytes(build):
    """The bytes of the parameters and buffers of the network ``build()`` makes, counted on a
    copy built inside :func:`~minideeplab.nn.init.shapes_only` (nothing is allocated)."""
    with init.shapes_only():
        model = build()
    return sum(int(a.size) * a.dtype.itemsize for a in model.state_dict().values())


def check_parameter_budget(fn, build):
    """Refuse a network whose parameters alone exceed this machine's memory (an absurd
    ``num_classes`` or ``width``), before any of them is allocated; returns their bytes."""
    try:
        nbytes = parameter_bytes(build)
    except BudgetExceededError as e:          # one parameter alone cannot be shaped or held
        raise BudgetExceededError(f"{fn}: {e}") from None
    budget = checks.memory_budget()
    if nbytes > budget:
        raise BudgetExceededError(f"{fn}: its parameters would take {nbytes / 2 ** 30:.3g} GiB "
                                  f"(num_classes, width, depth), more than this machine's "
                                  f"memory ({budget / 2 ** 30:.3g} GiB)")
    return nbytes


def _build(name, num_classes, tiny, width, depth, scales, common, kwargs):
    if name in _VGG_RATES:
        if depth is not None:
            raise ArgumentError(f"depth={depth!r} is for the ResNet models, not {name!r}")
        width = (TINY_VGG_WIDTH if tiny else 1.0) if width is None else width
        model = deeplab_vgg16(num_classes, aspp_rates=_VGG_RATES[name], width=width,
                              **common, **kwargs)
    else:
        if width is None:
            width = TINY_RESNET["width"] if tiny else 1.0
        if depth is None:
            depth = TINY_RESNET["depth"] if tiny else 101
        depth = tuple(depth) if isinstance(depth, list) else depth
        model = DeepLabResNet(num_classes, "v2" if name == "resnet" else "v3", depth=depth,
                              width=width, **common, **kwargs)
    return model if scales is None else MultiScale(model, scales)


# arguments that build_model sets itself, so they cannot come through **kwargs
_SET_BY_BUILD_MODEL = {"self", "num_classes", "aspp_rates", "width", "head", "depth", "method",
                       "seed", "dtype", "device"}


def _check_arguments(name, num_classes, tiny, width, scales, method, seed, dtype, device,
                     kwargs):
    """Validate every argument before anything is built; errors name the argument."""
    fn = "build_model"
    if not isinstance(name, str) or name not in MODEL_NAMES:
        raise ArgumentError(f"{fn}: unknown model name {name!r}; choose one of {MODEL_NAMES}")
    checks.check_int(fn, "num_classes", num_classes, 1)
    checks.check_bool(fn, "tiny", tiny)
    if width is not None and not 0 < checks.check_number(fn, "width", width, 0.0) < math.inf:
        raise ArgumentError(f"{fn}: width must be a finite number > 0, got {width!r}")
    if scales is not None:
        if not isinstance(scales, (tuple, list)) or not all(
                isinstance(s, numbers.Real) and not isinstance(s, bool) for s in scales):
            raise ArgumentError(f"{fn}: scales must be None or a tuple of numbers in (0, 1] that "
                                f"includes 1.0, got {scales!r}")
    checks.check_choice(fn, "method", method, CONV_METHODS)
    checks.check_int(fn, "seed", seed, 0)
    checks.check_float_dtype(fn, "dtype", dtype)
    if device is not None:
        checks.check_choice(fn, "device", device, backend.DEVICES)
    cls = DeepLabVGG16 if name in _VGG_RATES else DeepLabResNet
    allowed = set(inspect.signature(cls.__init__).parameters) - _SET_BY_BUILD_MODEL
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise ArgumentError(f"{fn}: unknown keyword argument(s) {unknown} for {name!r}; it accepts "
                            f"{sorted(allowed)}")
