"""DeepLab v2 on VGG-16: LargeFOV, ASPP-S/L, and Table 1's fc6 variants.

DeepLab v2, Sec. 3.1 and 4.1; the Caffe release's ``train.prototxt`` (docs/conventions.md,
"Networks"):

* VGG-16 trunk: conv1_x .. conv4_x are 3x3 convolutions with padding 1, each followed by ReLU;
  pool1-pool3 are 3x3 max pooling, stride 2, padding 1; pool4 keeps **stride 1** (3x3, pad 1);
  conv5_x are 3x3 convolutions with **rate 2** (padding 2); pool5 is 3x3, stride 1, pad 1.
  Only three poolings halve the map, so the output stride is 8: "we skip subsampling after
  the last two max-pooling layers ... and upsample the filters of the following layers"
  (conv5 by 2, fc6 by 4 = 2 x 2 for the original 7x7 fc6, Sec. 4.1).
* Head: fc6 (kernel k, rate r, channels c) - ReLU - dropout 0.5 - fc7 (1x1, c) - ReLU -
  dropout - fc8 (1x1 to the L classes); LargeFOV is k = 3, r = 12, c = 1024. With
  ``aspp_rates`` the head is DeepLab-ASPP: one such branch per rate, class scores summed.
  The head is :class:`minideeplab.nn.ASPPv2` (a single branch for LargeFOV).

Output size: pooling rounds up (Caffe), so for an input of ``8k + 1`` pixels the output has
``k + 1`` (321 -> 161 -> 81 -> 41); in general ``ceil(H / 8)``-ish, see
:func:`minideeplab.functional.pool_output_size`.

Padding of fc6: ``r(k-1)/2`` on each side keeps the 41x41 size. For an even kernel that needs
``r(k-1)`` even (Table 1's 4x4 has r = 4 or 8: pads 6 and 12); an odd ``r(k-1)`` cannot keep
the size with symmetric padding and is refused (the ASPPv2 layer says so).

Initialisation (the paper fine-tunes ImageNet weights, which this library does not ship):
He-normal for every convolution, Gaussian std 0.01 for fc8 (Caffe's ``fc8`` filler), zero
biases. Learning-rate multipliers as the prototxt: weights x1, biases x2 without decay, fc8 x10
(bias x20).

Shapes: x (N, 3, H, W) -> logits (N, L, h, w) at output stride 8.
"""
import numbers

from .. import checks, nn
from ..errors import ArgumentError
from ..nn import init

__all__ = ["VGG16_BLOCKS", "DeepLabVGG16", "deeplab_vgg16", "vgg16_trunk", "scaled"]

# (channels, convolutions) of VGG-16's five blocks (Simonyan & Zisserman 2015, config D)
VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
# (kernel, stride, padding) of pool1 .. pool5 in DeepLab (stride 1 for pool4 and pool5)
DEEPLAB_POOLS = ((3, 2, 1), (3, 2, 1), (3, 2, 1), (3, 1, 1), (3, 1, 1))
# atrous rate of each block's convolutions: conv5_x gets rate 2 (pool4's stride removed)
DEEPLAB_RATES = (1, 1, 1, 1, 2)


def scaled(channels, width):
    """``max(1, round(channels * width))``: a channel count scaled by the width multiplier."""
    return max(1, int(round(channels * width)))


def vgg16_trunk(width=1.0, *, method="holes", seed=None, dtype="float32", device=None):
    """DeepLab's VGG-16 convolutional trunk, conv1_1 .. pool5 (output stride 8).

    Returns a :class:`~minideeplab.nn.Sequential` with children named as in Caffe
    (``conv1_1``, ``relu1_1``, ..., ``pool5``), and its output channel count (512 * width).
    Shapes: x (N, 3, H, W) -> (N, 512*width, h, w), h = H after three 3x3/2 poolings.
    """
    rng = init.as_rng(seed, "vgg16_trunk")
    layers = {}
    cin = 3
    for b, ((channels, n_convs), (pk, ps, pp), rate) in enumerate(
            zip(VGG16_BLOCKS, DEEPLAB_POOLS, DEEPLAB_RATES), start=1):
        cout = scaled(channels, width)
        for i in range(1, n_convs + 1):
            layers[f"conv{b}_{i}"] = nn.Conv2d(cin, cout, 3, padding=rate, rate=rate,
                                               method=method, seed=rng, dtype=dtype,
                                               device=device)
            layers[f"relu{b}_{i}"] = nn.ReLU(inplace=True)   # on the conv's fresh output
            cin = cout
        layers[f"pool{b}"] = nn.MaxPool2d(pk, ps, pp)
    return nn.Sequential(layers), cin


class DeepLabVGG16(nn.Module):
    """DeepLab v2 with a VGG-16 trunk; see :func:`deeplab_vgg16` for the parameters.

    Children: ``features`` (:func:`vgg16_trunk`) and ``head`` (:class:`~minideeplab.nn.ASPPv2`).
    Shapes: x (N, 3, H, W) -> logits (N, L, h, w); ``backward(dlogits) -> dx``.
    """

    output_stride = 8

    def __init__(self, num_classes=21, fc6_kernel=3, fc6_rate=nn.LARGEFOV_RATE,
                 fc_channels=1024, aspp_rates=None, width=1.0, *, method="holes", dropout=0.5,
                 seed=0, dtype="float32", device=None):
        super().__init__()
        fn = "deeplab_vgg16"
        for name, value in (("num_classes", num_classes), ("fc6_kernel", fc6_kernel),
                            ("fc6_rate", fc6_rate), ("fc_channels", fc_channels)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ArgumentError(f"{fn}: {name} must be an integer >= 1, got {value!r}")
        if isinstance(width, bool) or not isinstance(width, numbers.Real) or not width > 0:
            raise ArgumentError(f"{fn}: width must be a number > 0, got {width!r}")
        checks.check_number(fn, "dropout", dropout, 0.0, 1.0)
        if aspp_rates is not None and (not isinstance(aspp_rates, (tuple, list))
                                       or not aspp_rates):
            raise ArgumentError(f"{fn}: aspp_rates must be None (LargeFOV-style single fc6) or a "
                                f"non-empty tuple of rates, got {aspp_rates!r}")
        rng = init.as_rng(seed, "deeplab_vgg16")
        self.features, c = vgg16_trunk(width, method=method, seed=rng, dtype=dtype,
                                       device=device)
        rates = (fc6_rate,) if aspp_rates is None else tuple(aspp_rates)
        self.head = nn.ASPPv2(c, num_classes, rates, kernel_size=fc6_kernel,
                              fc_channels=scaled(fc_channels, width), dropout=dropout,
                              method=method, seed=rng, dtype=dtype, device=device)
        self.config = dict(num_classes=num_classes, fc6_kernel=fc6_kernel, fc6_rate=fc6_rate,
                           fc_channels=fc_channels,
                           aspp_rates=None if aspp_rates is None else list(aspp_rates),
                           width=width, method=method, dropout=dropout)

    def forward(self, x):
        return self.head(self.features(x))

    def backward(self, dlogits):
        return self.features.backward(self.head.backward(dlogits))

    def fc6_layers(self):
        """The fc6 convolution of every branch (one for LargeFOV)."""
        return [branch.fc6 for branch in self.head.branches]

    def __repr__(self):
        c = self.config
        return (f"DeepLabVGG16(num_classes={c['num_classes']}, fc6_kernel={c['fc6_kernel']}, "
                f"fc6_rate={c['fc6_rate']}, fc_channels={c['fc_channels']}, "
                f"aspp_rates={c['aspp_rates']}, width={c['width']}, method={c['method']!r})")


def deeplab_vgg16(num_classes=21, fc6_kernel=3, fc6_rate=nn.LARGEFOV_RATE,
                  fc_channels=1024, aspp_rates=None, width=1.0, **kwargs):
    """DeepLab v2 on VGG-16 (Sec. 4.1): LargeFOV by default, DeepLab-ASPP with ``aspp_rates``.

    Parameters
    ----------
    num_classes : int, L (21 for PASCAL VOC)
    fc6_kernel, fc6_rate : fc6's kernel size and atrous rate (Table 1: 7/4, 4/4, 4/8, 3/12);
        with ``aspp_rates`` the rate is ignored and the kernel applies to every branch
    fc_channels : channels of fc6 and fc7 (4096 in the original VGG-16, 1024 in LargeFOV)
    aspp_rates : None, or a tuple of rates: DeepLab-ASPP with one fc6-fc7-fc8 branch per rate,
        outputs summed, e.g. (6, 12, 18, 24) for ASPP-L, (2, 4, 8, 12) for ASPP-S
    width : float > 0, multiplies every channel count (1.0 is the paper's network; 1/16 makes a
        tiny model for CPU training)
    **kwargs : keyword-only extras: ``method`` ("holes" | "deinterlace" | "direct", how the
        atrous convolutions are computed), ``dropout`` (0.5), ``seed`` (0), ``dtype``
        ("float32"), ``device`` (None: the default device)

    Returns
    -------
    DeepLabVGG16, with ``num_parameters()``. Build inside ``nn.init.shapes_only()`` to count
    the parameters of a large variant without allocating them (see :mod:`.fov`).
    """
    return DeepLabVGG16(num_classes, fc6_kernel, fc6_rate, fc_channels, aspp_rates, width,
                        **kwargs)
