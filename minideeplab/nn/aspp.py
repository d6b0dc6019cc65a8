"""Atrous spatial pyramid pooling: DeepLab v2's (summed branches) and DeepLab v3's (concatenated).

DeepLab v2, Sec. 3.3 and Fig. 4/7: "multiple parallel atrous convolutional layers with different
sampling rates. The features extracted for each sampling rate are further processed in separate
branches and fused to generate the final result." For VGG-16 each branch is
fc6 (3x3, rate r) - ReLU - dropout - fc7 (1x1) - ReLU - dropout - fc8 (1x1 to the classes), and
the branches' class scores are summed (Caffe ``Eltwise SUM``). Table 3's settings:

* DeepLab-LargeFOV: one branch, r = 12 (:data:`LARGEFOV_RATES`);
* DeepLab-ASPP-S: r = (2, 4, 8, 12) (:data:`ASPP_S_RATES`);
* DeepLab-ASPP-L: r = (6, 12, 18, 24) (:data:`ASPP_L_RATES`).

Table 1's LargeFOV variants change fc6's kernel, rate and width (7x7 r=4 with 4096 channels, 4x4
r=4 or 8, 3x3 r=12 with 1024): ``kernel_size`` and ``fc_channels`` are arguments.

DeepLab v3 (Chen et al. 2017, Sec. 3.3): one 1x1 convolution, three 3x3 atrous convolutions
with rates (6, 12, 18) at output stride 16 or (12, 24, 36) at output stride 8, and image-level
features (global average pooling, 1x1 convolution, batch norm, ReLU, bilinear upsampling back);
every branch has 256 filters with batch norm and ReLU; the branches are concatenated and mixed
by a 1x1 convolution (256 filters, batch norm, ReLU) before the final 1x1 classifier.

Shapes: x (N, C, H, W) -> scores (N, L, H, W) (v2) or features (N, 256, H, W) (v3; or
(N, L, H, W) with a classifier).

DeepLab v3 (Sec. 3.3, Fig. 4) notes the limit of large rates: "as the sampling rate becomes
larger, the number of valid filter weights (i.e., the weights that are applied to the valid
feature region, instead of padded zeros) becomes smaller"; once the rate reaches the map's side
only the centre weight is left and the 3x3 filter "degenerates to a simple 1x1 filter".
:func:`valid_tap_counts` counts them.
"""
import numpy as np

from .. import functional as F
from ..checks import check_int, check_pair
from ..errors import ArgumentError
from . import init
from .activation import Dropout, ReLU
from .combine import Parallel
from .conv import Conv2d
from .module import Module, Sequential
from .norm import BatchNorm2d
from .pooling import GlobalAvgPool

__all__ = ["ASPP_S_RATES", "ASPP_L_RATES", "LARGEFOV_RATE", "LARGEFOV_RATES",
           "ASPP_V3_RATES_OS16", "ASPP_V3_RATES_OS8", "aspp_v3_rates", "ASPPv2", "ASPPv3",
           "ImagePooling", "valid_tap_counts"]

LARGEFOV_RATE = 12              # fc6's rate in DeepLab-LargeFOV (Table 1's last row)
LARGEFOV_RATES = (LARGEFOV_RATE,)
ASPP_S_RATES = (2, 4, 8, 12)
ASPP_L_RATES = (6, 12, 18, 24)
ASPP_V3_RATES_OS16 = (6, 12, 18)
ASPP_V3_RATES_OS8 = (12, 24, 36)


def aspp_v3_rates(output_stride):
    """DeepLab v3's atrous rates: (6, 12, 18) at output stride 16, doubled at 8 (Sec. 3.3)."""
    rates = {16: ASPP_V3_RATES_OS16, 8: ASPP_V3_RATES_OS8}
    if output_stride not in rates:
        raise ArgumentError(f"aspp_v3_rates: output_stride must be 16 or 8, got {output_stride!r}")
    return rates[output_stride]


def _same_padding(fn, kernel_size, rate):
    """Padding that keeps the map size: half the effective kernel, r(k-1)/2 (Sec. 3.1)."""
    if rate * (kernel_size - 1) % 2:
        raise ArgumentError(f"{fn}: kernel_size={kernel_size} with rate {rate} cannot keep the map "
                            f"size (rate*(kernel_size-1) = {rate * (kernel_size - 1)} is odd)")
    return rate * (kernel_size - 1) // 2


def _check_rates(fn, rates):
    if not isinstance(rates, (tuple, list)) or not rates or not all(
            isinstance(r, int) and not isinstance(r, bool) and r >= 1 for r in rates):
        raise ArgumentError(f"{fn}: rates must be a non-empty tuple of ints >= 1, got {rates!r}")
    return tuple(rates)


class ASPPv2(Parallel):
    """DeepLab v2's ASPP for VGG-16: parallel fc6-fc7-fc8 branches whose scores are summed.

    Parameters
    ----------
    in_channels : int, C (512 after VGG-16's pool5)
    num_classes : int, L (21 for PASCAL VOC)
    rates : tuple of ints, one branch per rate (default ASPP-L; LargeFOV is ``(12,)``)
    kernel_size : int, fc6's kernel (3; Table 1 also has 7 and 4). Padding r(k-1)/2 keeps the
        map size, so r(k-1) must be even.
    fc_channels : int, width of fc6 and fc7 (1024; Table 1's first variant has 4096)
    dropout : float, dropout probability after fc6 and fc7 (0.5)
    method : "holes" | "deinterlace" | "direct", how fc6's atrous convolution is computed
    fc8_std : float, std of fc8's Gaussian initialisation (Caffe: 0.01); fc6 and fc7 use He
        initialisation (in DeepLab they come from the ImageNet-trained VGG-16 instead)
    seed : int or None; seeds every layer's initialisation and each dropout layer's masks
    dtype, device : of the parameters

    Children ``branch0``, ``branch1``, ... are Sequentials with ``fc6``, ``relu6``, ``drop6``,
    ``fc7``, ``relu7``, ``drop7``, ``fc8``. As in the Caffe prototxt, fc8 learns 10x faster
    (``lr_mult`` 10 for the weights, 20 for the bias), every other bias 2x, no bias decays.
    Shapes: x (N, C, H, W) -> scores (N, L, H, W).
    """

    def __init__(self, in_channels, num_classes, rates=ASPP_L_RATES, *, kernel_size=3,
                 fc_channels=1024, dropout=0.5, method="holes", fc8_std=0.01, seed=None,
                 dtype="float32", device=None):
        fn = "ASPPv2"
        rates = _check_rates(fn, rates)
        rng = init.as_rng(seed, "ASPPv2")
        branches = {}
        for i, r in enumerate(rates):
            padding = _same_padding(fn, kernel_size, r)
            seeds = [int(s) for s in rng.integers(0, 2 ** 31, size=5)]
            conv = dict(dtype=dtype, device=device)
            fc8 = Conv2d(fc_channels, num_classes, 1, weight_std=fc8_std, seed=seeds[4], **conv)
            fc8.lr_mult.update(weight=10.0, bias=20.0)
            branches[f"branch{i}"] = Sequential({
                "fc6": Conv2d(in_channels, fc_channels, kernel_size, rate=r, padding=padding,
                              method=method, seed=seeds[0], **conv),
                "relu6": ReLU(inplace=True),
                "drop6": Dropout(dropout, seed=seeds[1]),
                "fc7": Conv2d(fc_channels, fc_channels, 1, seed=seeds[2], **conv),
                "relu7": ReLU(inplace=True),
                "drop7": Dropout(dropout, seed=seeds[3]),
                "fc8": fc8,
            })
        super().__init__(branches, combine="sum")
        self.rates, self.kernel_size = rates, kernel_size

    @classmethod
    def largefov(cls, in_channels, num_classes, **kwargs):
        """DeepLab-LargeFOV: a single branch with fc6 3x3, rate 12, 1024 channels."""
        return cls(in_channels, num_classes, LARGEFOV_RATES, **kwargs)

    @classmethod
    def aspp_s(cls, in_channels, num_classes, **kwargs):
        """DeepLab-ASPP-S: four branches, rates (2, 4, 8, 12)."""
        return cls(in_channels, num_classes, ASPP_S_RATES, **kwargs)

    @classmethod
    def aspp_l(cls, in_channels, num_classes, **kwargs):
        """DeepLab-ASPP-L: four branches, rates (6, 12, 18, 24)."""
        return cls(in_channels, num_classes, ASPP_L_RATES, **kwargs)

    def __repr__(self):
        fc6 = self.branches[0].fc6
        O, C, K, _ = fc6.params["weight"].shape
        L = self.branches[0].fc8.params["weight"].shape[0]
        return (f"ASPPv2(in_channels={C}, num_classes={L}, rates={self.rates}, "
                f"kernel_size={K}, fc_channels={O}, method={fc6.method!r})")


def _conv_bn_relu(in_channels, out_channels, kernel_size, rate, method, seed, bn, conv):
    padding = _same_padding("ASPPv3", kernel_size, rate)
    return Sequential({
        "conv": Conv2d(in_channels, out_channels, kernel_size, rate=rate, padding=padding,
                       method=method, bias=False, seed=seed, **conv),
        "bn": BatchNorm2d(out_channels, **bn, **conv),
        "relu": ReLU(inplace=True),
    })


class ImagePooling(Module):
    """DeepLab v3's image-level features: global average pool, 1x1 conv, BN, ReLU, upsample.

    The upsampling from the 1x1 map back to (H, W) is bilinear (Sec. 3.3), which from a single
    pixel is a broadcast under either corner convention: ``align_corners`` (True as TensorFlow's
    DeepLab; False as torchvision's ``ASPPPooling``) is kept only so that each network states
    the rule of the code it follows. Batch norm in training mode sees only N numbers per channel here, so
    it needs N >= 2 (or frozen statistics).
    Shapes: x (N, C, H, W) -> y (N, O, H, W).
    """

    def __init__(self, in_channels, out_channels, *, seed=None, bn=None, align_corners=True,
                 dtype="float32", device=None):
        super().__init__()
        self.align_corners = bool(align_corners)
        conv = dict(dtype=dtype, device=device)
        self.pool = GlobalAvgPool()
        self.conv = Conv2d(in_channels, out_channels, 1, bias=False, seed=seed, **conv)
        self.bn = BatchNorm2d(out_channels, **(bn or {}), **conv)
        self.relu = ReLU()

    def forward(self, x):
        h = self.relu(self.bn(self.conv(self.pool(x))))                 # (N, O, 1, 1)
        y, self.cache = F.resize_bilinear(h, x.shape[2:],
                                           align_corners=self.align_corners)
        return y

    def backward(self, dy):
        dh = F.resize_bilinear_backward(dy, self.saved_cache())
        for m in (self.relu, self.bn, self.conv, self.pool):
            dh = m.backward(dh)
        return dh

    def __repr__(self):
        O, C = self.conv.params["weight"].shape[:2]
        return f"ImagePooling({C}, {O})"


class ASPPv3(Sequential):
    """DeepLab v3's ASPP with image-level features (Chen et al. 2017, Sec. 3.3).

    Parameters
    ----------
    in_channels : int, C (2048 after ResNet's block4)
    out_channels : int, the width of every branch and of the projection (256; smaller values
        give tiny CPU models)
    rates : rates of the 3x3 atrous branches (6, 12, 18) at output stride 16;
        :func:`aspp_v3_rates` (12, 24, 36) at 8
    num_classes : int or None; None ends with the projection's features, an int adds the
        final 1x1 classifier (with bias) to L classes
    dropout : float, dropout after the projection (TensorFlow's DeepLab uses 0.1 and
        torchvision's 0.5; 0 = none)
    head_conv : bool, add a 3x3 conv (no bias)-BN-ReLU of ``out_channels`` after the projection
        and its dropout, before the classifier, as torchvision's ``DeepLabHead`` does
    pool_align_corners : the image-pooling branch's resize convention (see
        :class:`ImagePooling`; True, or False as torchvision)
    method : how the 3x3 atrous convolutions are computed ("holes" | "deinterlace" | "direct")
    bn_momentum, bn_eps : of every batch norm (v3: decay 0.9997, i.e. momentum 0.0003)
    bn_frozen : freeze every batch norm's statistics (v3's second training phase; tiny batches)
    seed, dtype, device : as :class:`ASPPv2`

    Children: ``branches`` (a concat :class:`~minideeplab.nn.Parallel` of ``conv1x1``,
    ``atrous<r>`` for each rate and ``image_pool``), ``project`` (1x1 conv, BN, ReLU), then
    ``dropout``, ``head_conv`` (conv, bn, relu) and ``classifier`` when requested. The convolutions before a batch norm have
    no bias (the BN's beta plays its part).
    Shapes: x (N, C, H, W) -> (N, out_channels, H, W), or (N, L, H, W) with a classifier.
    """

    def __init__(self, in_channels, out_channels=256, rates=ASPP_V3_RATES_OS16, *,
                 num_classes=None, dropout=0.0, head_conv=False, pool_align_corners=True,
                 method="holes", bn_momentum=0.1, bn_eps=1e-5, bn_frozen=False, seed=None,
                 dtype="float32", device=None):
        rates = _check_rates("ASPPv3", rates)
        rng = init.as_rng(seed, "ASPPv3")
        seeds = iter(int(s) for s in rng.integers(0, 2 ** 31, size=len(rates) + 5))
        conv = dict(dtype=dtype, device=device)
        bn = dict(momentum=bn_momentum, eps=bn_eps, frozen=bn_frozen)
        branches = {"conv1x1": _conv_bn_relu(in_channels, out_channels, 1, 1, method,
                                             next(seeds), bn, conv)}
        for r in rates:
            branches[f"atrous{r}"] = _conv_bn_relu(in_channels, out_channels, 3, r, method,
                                                   next(seeds), bn, conv)
        branches["image_pool"] = ImagePooling(in_channels, out_channels, seed=next(seeds),
                                              bn=bn, align_corners=pool_align_corners,
                                              **conv)
        layers = {"branches": Parallel(branches, combine="concat"),
                  "project": _conv_bn_relu(out_channels * (len(rates) + 2), out_channels, 1, 1,
                                           method, next(seeds), bn, conv)}
        if dropout > 0:
            layers["dropout"] = Dropout(dropout, seed=next(seeds))
        classifier_seed = next(seeds)
        if head_conv:                    # its seed is drawn last: other models keep their init
            layers["head_conv"] = _conv_bn_relu(out_channels, out_channels, 3, 1, method,
                                                int(rng.integers(0, 2 ** 31)), bn, conv)
        if num_classes is not None:
            layers["classifier"] = Conv2d(out_channels, num_classes, 1, seed=classifier_seed,
                                            **conv)
        super().__init__(layers)
        self.rates = rates

    def __repr__(self):
        w = self.project.conv.params["weight"]
        C = self.branches[0].conv.params["weight"].shape[1]
        extra = ""
        if hasattr(self, "classifier"):
            extra = f", num_classes={self.classifier.params['weight'].shape[0]}"
        return f"ASPPv3(in_channels={C}, out_channels={w.shape[0]}, rates={self.rates}{extra})"


def valid_tap_counts(map_size, rate, *, kernel=3):
    """How many of a ``kernel`` x ``kernel`` filter's taps at ``rate`` fall inside the map.

    At output (i, j) of an (H, W) map with "same" padding the taps read rows ``i + rate * a``
    and columns ``j + rate * b``, ``a, b`` in ``-(k-1)/2 .. (k-1)/2``; a tap outside the map
    reads a padded zero.

    Parameters
    ----------
    map_size : int or (H, W), the feature map (e.g. 11 for an 81-pixel image at stride 8)
    rate : int >= 1

    Returns
    -------
    (H, W) int array, values in 1 .. kernel**2 (the centre tap is always inside)
    """
    H, W = check_pair("valid_tap_counts", "map_size", map_size, 1)
    rate = check_int("valid_tap_counts", "rate", rate, 1)
    kernel = check_int("valid_tap_counts", "kernel", kernel, 1)
    half = (kernel - 1) // 2
    offsets = np.arange(-half, kernel - half) * rate                 # (k,)

    def inside(n):                                                   # (n,) valid taps per line
        pos = np.arange(n)[:, None] + offsets[None, :]               # (n, k)
        return ((pos >= 0) & (pos < n)).sum(axis=1)

    return inside(H)[:, None] * inside(W)[None, :]
