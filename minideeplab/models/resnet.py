"""ResNet backbones with atrous convolution, and DeepLab's v2 and v3 heads on top.

DeepLab v2, Sec. 4.1 ("we re-purpose ResNet-101 by atrous convolution"), and DeepLab v3
(Chen et al. 2017, "Rethinking Atrous Convolution", Sec. 3.2-3.3):

* **Bottleneck block** (He et al. 2016): 1x1 (C -> P) - BN - ReLU - 3x3 (P -> P, stride s,
  rate r) - BN - ReLU - 1x1 (P -> 4P) - BN, plus the shortcut (identity, or 1x1 stride-s
  convolution + BN when the shape changes), then ReLU. The stride sits on the 3x3 convolution
  (torchvision's "ResNet v1.5"); Caffe's MSRA ResNet-101 that DeepLab v2 used puts it on the
  first 1x1 instead. The parameter count is the same.
* **Output stride** (docs/conventions.md, "Networks"): the stem (7x7/2 conv, 3x3/2 max pool)
  and layer2 halve the map four times in all (stride 8); layer3 and layer4 halve it again for
  output stride 32. For output stride 16 layer4's stride becomes 1 and its **unit rate** 2; for
  8, layer3 gets unit rate 2 and layer4 4 (v3, Sec. 3.1: the stride of the last strided layer
  is set to 1 and every later convolution's rate doubled).
* **Multi-grid** (v3, Sec. 3.2): the rate of layer4's block b is the unit rate times
  ``grid[b]``, for *every* block, the first included: (1, 2, 4) gives (2, 4, 8) at output
  stride 16 and (4, 8, 16) at 8. Without a grid every block of a converted stage has the unit
  rate. This is ``schedule="paper"``, the default.
* **torchvision's schedule** (``schedule="torchvision"``, its ``replace_stride_with_dilation``):
  the first block of a converted stage keeps the *previous* rate, the others get the unit rate,
  and there is no multi-grid. The stride of a stage sits on its first block's 3x3 convolution
  (below), so that convolution reads the previous stage's map, whose samples are the previous
  rate apart: with this schedule the converted network computes exactly the numbers of the
  strided one where the strided one computes them (the test checks it). The paper's rule comes
  from ResNets whose stride sits *before* that convolution (TensorFlow's, at the end of the
  previous block), where it is exact too; on these blocks it widens the first 3x3 of a
  converted stage, so the network differs slightly from the strided one. Rates are not
  weights: both schedules load the same weights, and torchvision's trained networks
  (:mod:`.torchvision_deeplab`) need its own schedule to reproduce its outputs.
* **v2 head** (``"resnet"``): four 3x3 convolutions straight to the classes at rates
  6, 12, 18, 24 (output stride 8), summed; Caffe's ``fc1_voc12_c0..c3``, lr x10 / bias x20.
* **v3 head** (``"v3"``): :class:`~minideeplab.nn.ASPPv3` (1x1, three 3x3 atrous branches,
  image pooling; BN; concatenated; 1x1 projection) and a 1x1 classifier.
* **Batch norm**: with ``frozen_bn`` every BN uses its running statistics in training too and
  gamma/beta are fixed, as DeepLab v2 trains ResNet-101 (Caffe ``use_global_stats``); the
  default trains BN with batch statistics (needs batches of several images; v3 uses 16).

Initialisation: He-normal convolutions, BN gamma 1 and beta 0, the v2 head Gaussian 0.01.
Shapes: x (N, 3, H, W) -> logits (N, L, h, w), h = H / output_stride (rounded up).
"""
import numbers

from .. import checks, nn
from ..errors import ArgumentError
from ..nn import init
from .vgg import scaled

__all__ = ["RESNET_DEPTHS", "TINY_RESNET", "SCHEDULES", "Bottleneck", "ResNetBackbone",
           "DeepLabResNet", "stage_strides_and_rates"]

RESNET_DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
TINY_RESNET = dict(depth=(1, 1, 1, 1), width=1 / 8)   # a few seconds per step on a CPU
EXPANSION = 4
SCHEDULES = ("paper", "torchvision")     # how a converted stage's blocks get their rates


def _bn(channels, bn):
    return nn.BatchNorm2d(channels, momentum=bn["momentum"], frozen=bn["frozen"],
                          freeze_affine=bn["frozen"], dtype=bn["dtype"], device=bn["device"])


class Bottleneck(nn.Module):
    """ResNet's bottleneck block with an atrous 3x3 convolution (see the module doc).

    Parameters: in_channels C, planes P (output 4P), stride s, rate r (of the 3x3),
    ``method`` of the atrous convolution, ``seed`` (Generator), ``bn`` (dict of batch-norm
    options). Children: ``main`` (conv1 bn1 relu1 conv2 bn2 relu2 conv3 bn3), ``shortcut``
    (conv + bn, only when s != 1 or C != 4P), ``relu``.
    Shapes: x (N, C, H, W) -> y (N, 4P, H_out, W_out), H_out = (H - 1) // s + 1.
    """

    def __init__(self, in_channels, planes, *, stride=1, rate=1, method="holes", seed=None,
                 bn):
        super().__init__()
        conv = dict(bias=False, seed=seed, dtype=bn["dtype"], device=bn["device"])
        out = planes * EXPANSION
        self.main = nn.Sequential({
            "conv1": nn.Conv2d(in_channels, planes, 1, **conv),
            "bn1": _bn(planes, bn), "relu1": nn.ReLU(inplace=True),
            "conv2": nn.Conv2d(planes, planes, 3, stride=stride, rate=rate, padding=rate,
                               method=method if stride == 1 else "holes", **conv),
            "bn2": _bn(planes, bn), "relu2": nn.ReLU(inplace=True),
            "conv3": nn.Conv2d(planes, out, 1, **conv),
            "bn3": _bn(out, bn)})
        self.has_shortcut = stride != 1 or in_channels != out
        if self.has_shortcut:
            self.shortcut = nn.Sequential({"conv": nn.Conv2d(in_channels, out, 1,
                                                             stride=stride, **conv),
                                           "bn": _bn(out, bn)})
        self.relu = nn.ReLU(inplace=True)      # on the sum
        self.stride, self.rate = stride, rate

    def forward(self, x):
        identity = self.shortcut(x) if self.has_shortcut else x
        out = self.main(x)              # a new array that nothing keeps: the sum goes into it
        out += identity
        return self.relu(out)

    def backward(self, dy):
        d = self.relu.backward(dy)                     # d reaches both paths unchanged
        dx = self.main.backward(d)
        return dx + (self.shortcut.backward(d) if self.has_shortcut else d)

    def __repr__(self):
        w = self.main.conv2.params["weight"]
        return (f"Bottleneck({self.main.conv1.params['weight'].shape[1]}, {w.shape[0]}, "
                f"stride={self.stride}, rate={self.rate})")


def stage_strides_and_rates(output_stride, depth, multi_grid=None, schedule="paper"):
    """Per block (stride, rate of its 3x3) for layer1..layer4, for an output stride.

    Returns a list of four lists. Stages whose stride is turned into a rate get stride 1 and a
    unit rate (2 for layer4 at output stride 16; 2 for layer3 and 4 for layer4 at 8). With
    ``schedule="paper"`` (v3, Sec. 3.2) block b of layer4 has rate unit * ``multi_grid[b]``
    and every block of layer3 the unit rate; with ``"torchvision"`` the first block of a
    converted stage keeps the previous rate (see the module doc).
    """
    if output_stride not in (8, 16, 32):
        raise ArgumentError(f"output_stride must be 8, 16 or 32, got {output_stride!r}")
    if schedule not in SCHEDULES:
        raise ArgumentError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    grid = tuple(multi_grid) if multi_grid is not None else (1,) * depth[3]
    if len(grid) != depth[3]:
        raise ArgumentError(f"multi_grid must have one factor per layer4 block ({depth[3]}), "
                            f"got {grid!r}")
    dilate = {8: (False, False, True, True), 16: (False, False, False, True),
              32: (False,) * 4}[output_stride]
    stages, rate = [], 1
    for s, (stride, blocks) in enumerate(zip((1, 2, 2, 2), depth)):
        previous = rate
        if dilate[s]:
            rate, stride = rate * stride, 1
        first = previous if schedule == "torchvision" else rate
        g = grid if s == 3 else (1,) * blocks
        stages.append([(stride if b == 0 else 1, (first if b == 0 else rate) * g[b])
                       for b in range(blocks)])
    return stages


class ResNetBackbone(nn.Module):
    """ResNet (bottleneck) trunk with a chosen output stride: stem, layer1 .. layer4.

    Parameters
    ----------
    depth : 50, 101, 152, or a tuple of four block counts (``(1, 1, 1, 1)`` for a tiny net)
    width : float, multiplies every channel count (1.0: 64 .. 2048 channels)
    output_stride : 8, 16 or 32
    multi_grid : None or one factor per layer4 block, e.g. (1, 2, 4) (v3)
    schedule : "paper" (v3's unit rate times the grid for every block) or "torchvision" (the
        first block of a converted stage keeps the previous rate); see the module doc
    method : atrous convolution method of the stride-1 3x3 convolutions
    frozen_bn : bool, freeze every batch norm (statistics and affine), as DeepLab v2
    bn_momentum : float, running-statistics momentum
    pool_ceil_mode : bool, the stem's 3x3/2 max pool rounds its output size up (True, Caffe,
        which DeepLab v2's ResNet-101 used: 321 -> 81 after the stem) or down (False, PyTorch's
        default and torchvision's ResNet). They differ on sizes such as 33 or 75.
    seed, dtype, device : as the layers

    ``out_channels``: 2048 * width. Shapes: x (N, 3, H, W) -> (N, out_channels, h, w).
    """

    def __init__(self, depth=101, width=1.0, output_stride=8, multi_grid=None, *,
                 schedule="paper", method="holes", frozen_bn=False, bn_momentum=0.1,
                 pool_ceil_mode=True, seed=0, dtype="float32", device=None):
        super().__init__()
        blocks = RESNET_DEPTHS.get(depth, depth) if not isinstance(depth, tuple) else depth
        if not (isinstance(blocks, tuple) and len(blocks) == 4
                and all(isinstance(b, int) and b >= 1 for b in blocks)):
            raise ArgumentError(f"ResNetBackbone: depth must be one of {sorted(RESNET_DEPTHS)} or "
                                f"a tuple of four block counts >= 1, got {depth!r}")
        if isinstance(width, bool) or not isinstance(width, numbers.Real) or not width > 0:
            raise ArgumentError(f"ResNetBackbone: width must be a number > 0, got {width!r}")
        try:
            plan = stage_strides_and_rates(output_stride, blocks, multi_grid, schedule)
        except ArgumentError as e:
            raise ArgumentError(f"ResNetBackbone: {e}") from None
        rng = init.as_rng(seed, "ResNetBackbone")
        bn = dict(momentum=bn_momentum, frozen=frozen_bn, dtype=dtype, device=device)
        stem = scaled(64, width)
        self.stem = nn.Sequential({
            "conv1": nn.Conv2d(3, stem, 7, stride=2, padding=3, bias=False, seed=rng,
                               dtype=dtype, device=device),
            "bn1": _bn(stem, bn), "relu": nn.ReLU(inplace=True),
            "pool": nn.MaxPool2d(3, 2, 1, ceil_mode=bool(pool_ceil_mode))})
        cin = stem
        for s, (planes, stage) in enumerate(zip((64, 128, 256, 512), plan), start=1):
            p = scaled(planes, width)
            layer = {}
            for b, (stride, rate) in enumerate(stage):
                layer[str(b)] = Bottleneck(cin, p, stride=stride, rate=rate, method=method,
                                           seed=rng, bn=bn)
                cin = p * EXPANSION
            setattr(self, f"layer{s}", nn.Sequential(layer))
        self.out_channels = cin
        self.output_stride = output_stride
        self.schedule = schedule
        self.plan = plan

    def stages(self):
        return [self.stem, self.layer1, self.layer2, self.layer3, self.layer4]

    def forward(self, x):
        for stage in self.stages():
            x = stage(x)
        return x

    def backward(self, dy):
        for stage in reversed(self.stages()):
            dy = stage.backward(dy)
        return dy


class DeepLabResNet(nn.Module):
    """DeepLab on a ResNet backbone with the v2 head (``head="v2"``) or v3's ASPP (``"v3"``).

    Parameters
    ----------
    num_classes : int, L
    head : "v2" (four 3x3 convolutions to the classes, summed) or "v3" (ASPPv3 + classifier)
    depth, width, multi_grid, schedule, method, frozen_bn, bn_momentum, seed, dtype, device :
        as :class:`ResNetBackbone`
    output_stride : 8 (v2's default) or 16 (v3's default); 32 needs explicit ``rates``
    rates : the head's atrous rates; default v2 (6, 12, 18, 24) at output stride 8 (halved at
        16), v3 (6, 12, 18) at 16 or (12, 24, 36) at 8 (the rates scale with the map)
    aspp_channels : v3's branch width (256 * width by default)
    dropout : v3's dropout after the ASPP projection (0: none)
    head_conv, pool_align_corners : v3's head options (:class:`~minideeplab.nn.ASPPv3`);
        torchvision's ``DeepLabHead`` has ``head_conv=True``, ``pool_align_corners=False``
    pool_ceil_mode : the stem's max-pool rounding (:class:`ResNetBackbone`)
    upsample_align_corners : how prediction resizes the logits to the image
        (``minideeplab.inference.predict_logits``): True (Caffe's Interp, DeepLab's) or False
        (torchvision's). Kept as an attribute; the network itself does not resize.

    Children ``backbone`` and ``head``. Shapes: x (N, 3, H, W) -> logits (N, L, h, w).
    """

    def __init__(self, num_classes=21, head="v2", *, depth=101, width=1.0, output_stride=None,
                 multi_grid=None, schedule="paper", rates=None, aspp_channels=None,
                 method="holes", frozen_bn=False, bn_momentum=0.1, dropout=0.0, head_conv=False,
                 pool_align_corners=True, pool_ceil_mode=True, upsample_align_corners=True,
                 seed=0, dtype="float32", device=None):
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) \
                or num_classes < 1:
            raise ArgumentError(f"DeepLabResNet: num_classes must be an integer >= 1, got "
                                f"{num_classes!r}")
        if head not in ("v2", "v3"):
            raise ArgumentError(f"DeepLabResNet: head must be 'v2' or 'v3', got {head!r}")
        _check_options(head, multi_grid=multi_grid, rates=rates, aspp_channels=aspp_channels,
                       frozen_bn=frozen_bn, bn_momentum=bn_momentum, dropout=dropout,
                       head_conv=head_conv, pool_align_corners=pool_align_corners,
                       pool_ceil_mode=pool_ceil_mode, schedule=schedule)
        if output_stride is None:
            output_stride = 8 if head == "v2" else 16
        if multi_grid is None and head == "v3":
            multi_grid = (1, 2, 4)
            blocks = RESNET_DEPTHS.get(depth, depth)
            if isinstance(blocks, tuple) and len(blocks) == 4 and blocks[3] != 3:
                multi_grid = None                   # the (1, 2, 4) grid needs 3 blocks
        rng = init.as_rng(seed, "DeepLabResNet")
        self.backbone = ResNetBackbone(depth, width, output_stride, multi_grid,
                                       schedule=schedule, method=method,
                                       frozen_bn=frozen_bn, bn_momentum=bn_momentum,
                                       pool_ceil_mode=pool_ceil_mode, seed=rng, dtype=dtype,
                                       device=device)
        c = self.backbone.out_channels
        if rates is None:
            rates = _default_rates(head, output_stride)
        if head == "v2":
            convs = {}
            for i, r in enumerate(rates):
                conv = nn.Conv2d(c, num_classes, 3, rate=r, padding=r, method=method,
                                 weight_std=0.01, seed=rng, dtype=dtype, device=device)
                conv.lr_mult.update(weight=10.0, bias=20.0)
                convs[f"c{i}"] = conv
            self.head = nn.Parallel(convs, combine="sum")
        else:
            self.head = nn.ASPPv3(c, aspp_channels or scaled(256, width), tuple(rates),
                                  num_classes=num_classes, dropout=dropout,
                                  head_conv=head_conv, pool_align_corners=pool_align_corners,
                                  method=method,
                                  bn_momentum=bn_momentum, bn_frozen=frozen_bn, seed=rng,
                                  dtype=dtype, device=device)
        self.output_stride = output_stride
        self.rates = tuple(rates)
        self.upsample_align_corners = bool(upsample_align_corners)

    def forward(self, x):
        return self.head(self.backbone(x))

    def backward(self, dlogits):
        return self.backbone.backward(self.head.backward(dlogits))


# the v3 head's options and their defaults: with head="v2" they must keep them (not be ignored)
_V3_ONLY = dict(aspp_channels=None, dropout=0.0, head_conv=False, pool_align_corners=True)


def _check_options(head, **options):
    """DeepLabResNet's options, checked by name before anything is built."""
    fn = "DeepLabResNet"
    for name in ("multi_grid", "rates"):
        v = options[name]
        if v is not None and (not isinstance(v, (tuple, list)) or not v or not all(
                isinstance(r, numbers.Integral) and not isinstance(r, bool) and r >= 1
                for r in v)):
            raise ArgumentError(f"{fn}: {name} must be None or a non-empty tuple of ints >= 1, "
                                f"got {v!r}")
    if options["aspp_channels"] is not None:
        checks.check_int(fn, "aspp_channels", options["aspp_channels"], 1)
    for name in ("frozen_bn", "head_conv", "pool_align_corners", "pool_ceil_mode"):
        checks.check_bool(fn, name, options[name])
    checks.check_number(fn, "bn_momentum", options["bn_momentum"], 0.0, 1.0)
    checks.check_number(fn, "dropout", options["dropout"], 0.0, 1.0)
    checks.check_choice(fn, "schedule", options["schedule"], SCHEDULES)
    if head == "v2":
        for name, default in _V3_ONLY.items():
            if options[name] != default:
                raise ArgumentError(f"{fn}: {name}={options[name]!r} is an option of the v3 head "
                                    f"(head='v3'); the v2 head has no use for it")


def _default_rates(head, output_stride):
    """The presets of :mod:`minideeplab.nn.aspp`: v2's ASPP-L rates at output stride 8 (halved
    at 16), v3's rates at 16 (doubled at 8)."""
    if head == "v2":
        table = {8: nn.ASPP_L_RATES, 16: tuple(r // 2 for r in nn.ASPP_L_RATES)}
    else:
        table = {8: nn.ASPP_V3_RATES_OS8, 16: nn.ASPP_V3_RATES_OS16}
    if output_stride not in table:
        raise ArgumentError(f"DeepLabResNet: no default {head} rates for output_stride="
                            f"{output_stride}; give rates=(...) explicitly")
    return table[output_stride]
