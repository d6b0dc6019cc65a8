"""Field of view and parameter counts of DeepLab's fc6 variants: the paper's Table 1.

DeepLab v2, Sec. 4.1, Table 1: converting VGG-16's fc6 (7x7, 4096 channels) to a
convolution at output stride 8 needs rate 4; smaller kernels with larger rates keep the field
of view with far fewer parameters:

=======  ====  ======  ======  =====================================
kernel   rate  FOV     params  (paper, 21 classes)
=======  ====  ======  ======  =====================================
7x7      4     224     134.3M
4x4      4     128     65.1M
4x4      8     224     65.1M
3x3      12    224     20.5M   (fc6/fc7 with 1024 channels: LargeFOV)
=======  ====  ======  ======  =====================================

Every number here is computed from the real network (:func:`~.vgg.deeplab_vgg16` built
inside :func:`minideeplab.nn.init.shapes_only`, so nothing is allocated), never typed in:

* ``effective_kernel``: ``k_e = k + (k - 1)(r - 1)`` (Sec. 3.1), fc6's extent in pool5 pixels.
* ``params``: the network's :meth:`num_parameters` (weights and biases of every layer).
* ``receptive_field``: the **theoretical receptive field** of one output unit in input pixels,
  from the layers' kernels, strides and rates: ``RF += (k_e - 1) * jump; jump *= stride``
  over conv1_1 .. fc6. pool5's RF is 227 at jump 8, so fc6 adds ``8 r (k - 1)``:
  419, 323, 419, 419.
* ``fov``: the **table's "FOV" column**, which is not that receptive field. It equals
  ``8 r (k - 1) + 32`` for all four rows (docs/conventions.md, "Table 1"): the extent of fc6's taps in input
  pixels at output stride 8, plus 32. The paper does not define the figure; this formula
  reproduces it and is reported under the table's name.

:func:`impulse_receptive_field` *measures* the receptive field of a real network (the same
:func:`~.vgg.deeplab_vgg16` layers, very thin), independently of the formula: with every
weight 1, every bias 0 and an input that is 0 except one pixel, a unit is non-zero exactly
when that pixel is in its receptive field (sums of non-negative numbers, ReLU and max pooling
all keep "some path is positive").
"""
from collections import namedtuple

import numpy as np

from .. import backend, nn
from ..functional import effective_kernel_size
from .vgg import deeplab_vgg16

__all__ = ["Table1Row", "TABLE1_VARIANTS", "layer_geometry", "receptive_field",
           "theoretical_receptive_field", "table_fov", "table1", "format_table1",
           "impulse_receptive_field", "POOL5_RF", "STRIDE"]

Table1Row = namedtuple("Table1Row", "kernel rate channels effective_kernel params "
                                    "receptive_field fov")
Table1Row.__doc__ = """One row of Table 1: fc6's kernel, rate and channels (of fc6 and fc7),
the effective kernel k_e, the parameter count, the theoretical receptive field (input pixels)
and the table's FOV figure ``8 r (k-1) + 32``."""

# (fc6 kernel, fc6 rate, fc6/fc7 channels) of Table 1's four rows
TABLE1_VARIANTS = ((7, 4, 4096), (4, 4, 4096), (4, 8, 4096), (3, 12, 1024))

POOL5_RF = 227       # receptive field of one pool5 unit of DeepLab's VGG-16, input pixels
STRIDE = 8           # output stride: pool5 units are 8 input pixels apart


def layer_geometry(module):
    """(kernel, stride, rate) of a layer that changes the receptive field, else None.

    Convolutions (kernel from the weight's shape, square kernels) and max/average pooling
    count; ReLU, dropout and the like do not change the geometry.
    """
    if isinstance(module, nn.Conv2d):
        return int(module.params["weight"].shape[2]), int(module.stride), int(module.rate)
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        stride = module.kernel if module.stride is None else module.stride
        return int(module.kernel), int(stride), 1
    return None


def receptive_field(geometries):
    """Theoretical receptive field and jump of a chain of (kernel, stride, rate) layers.

    With ``jump`` the distance in input pixels between neighbouring units, each layer adds
    ``(k_e - 1) * jump`` to the receptive field and multiplies the jump by its stride.
    Returns (rf, jump); an empty chain is (1, 1).
    """
    rf, jump = 1, 1
    for k, s, r in geometries:
        rf += (effective_kernel_size(k, r) - 1) * jump
        jump *= s
    return rf, jump


def theoretical_receptive_field(model):
    """Receptive field of a DeepLab-VGG16's output unit, in input pixels (largest branch).

    The trunk's layers in order, then each branch's fc6 (fc7 and fc8 are 1x1).
    """
    trunk = [g for g in map(layer_geometry, model.features.layers) if g is not None]
    return max(receptive_field(trunk + [layer_geometry(fc6)])[0]
               for fc6 in model.fc6_layers())


def table_fov(kernel, rate, output_stride=8):
    """Table 1's "FOV" figure, ``output_stride * r * (k - 1) + 32`` (see the module doc)."""
    return output_stride * rate * (kernel - 1) + 32


def table1(num_classes=21, variants=TABLE1_VARIANTS):
    """The rows of Table 1, each computed from the network it describes.

    Each variant is built with :func:`deeplab_vgg16` inside ``nn.init.shapes_only()``: the
    count comes from the very layers that a training run would use, with no memory allocated.
    Returns a list of :class:`Table1Row`.
    """
    rows = []
    for k, r, c in variants:
        with nn.init.shapes_only():
            model = deeplab_vgg16(num_classes, fc6_kernel=k, fc6_rate=r, fc_channels=c)
        rows.append(Table1Row(k, r, c, effective_kernel_size(k, r), model.num_parameters(),
                              theoretical_receptive_field(model),
                              table_fov(k, r, model.output_stride)))
    return rows


def format_table1(rows=None):
    """Table 1 as text (the tutorial and the command line print this)."""
    rows = table1() if rows is None else rows
    lines = ["Table 1 (DeepLab v2): fc6 variants of DeepLab-VGG16, 21 classes",
             f"{'kernel':>7} {'rate':>5} {'channels':>8} {'k_e':>4} {'params':>13} "
             f"{'(M)':>7} {'RF':>5} {'FOV':>5}"]
    for row in rows:
        lines.append(f"{f'{row.kernel}x{row.kernel}':>7} {row.rate:>5} {row.channels:>8} "
                     f"{row.effective_kernel:>4} {row.params:>13,} "
                     f"{row.params / 1e6:>6.1f}M {row.receptive_field:>5} {row.fov:>5}")
    lines.append("k_e: effective kernel k + (k-1)(r-1). RF: theoretical receptive field of an "
                 "output unit (input pixels).")
    lines.append("FOV: the table's FOV column, 8*r*(k-1) + 32 (not the receptive field).")
    return "\n".join(lines)


def impulse_receptive_field(kernel, rate, channels=1024, *, width=1 / 64, device="cpu"):
    """Measure the receptive field of a DeepLab-VGG16 output unit by single-pixel impulses.

    Builds ``deeplab_vgg16(fc6_kernel=kernel, fc6_rate=rate)`` with ``width`` times the
    channels, sets every weight to 1 and every bias to 0 (float64, eval mode: no dropout), and
    feeds 8 images, each 0 except one pixel at column offsets 0..7 from a multiple of the
    stride 8. The output row that sees the pixel's row is non-zero exactly at the units whose
    receptive field contains the pixel, ``|8 j - p| <= h``; the 8 offsets pin the half-width h
    down to the pixel (each offset bounds h to an interval of 8 values).

    Returns the measured receptive field ``2 h + 1`` in input pixels (an int).
    """
    model = deeplab_vgg16(21, fc6_kernel=kernel, fc6_rate=rate, fc_channels=channels,
                          width=width, dtype="float64", device=device)
    model.eval()
    for _, m in model.named_modules():
        m.params = {k: (v * 0 + 1 if k == "weight" else v * 0) for k, v in m.params.items()}
    xp = backend.xp_for(device)
    reach = (rate * (kernel - 1) + 1) // 2 + 1       # fc6's reach in pool5 units, rounded up
    height = 2 * STRIDE * reach + 1                  # enough rows for every tap row (even k)
    half = POOL5_RF + STRIDE * rate * kernel         # a generous bound on h, to size the width
    c0 = STRIDE * (half // STRIDE + 1)               # a multiple of the stride, > h
    x = np.zeros((STRIDE, 3, height, 2 * c0 + STRIDE + 1))
    for q in range(STRIDE):
        x[q, :, STRIDE * reach, c0 + q] = 1.0        # one bright pixel per image
    y = backend.asnumpy(model(xp.asarray(x)))[:, 0, reach]   # (8, w): the row that sees it
    lower, upper = 0, np.inf
    for q in range(STRIDE):
        p = c0 + q
        seen = np.nonzero(y[q] > 0)[0]
        if len(seen) == 0 or seen[0] == 0 or seen[-1] == y.shape[1] - 1:
            raise RuntimeError("impulse_receptive_field: the receptive field reaches the "
                               f"image border (kernel={kernel}, rate={rate}); enlarge the input")
        # the right-most unit j that sees p: 8j - p <= h < 8(j+1) - p; same on the left
        lower = max(lower, STRIDE * seen[-1] - p, p - STRIDE * seen[0])
        upper = min(upper, STRIDE * (seen[-1] + 1) - p - 1, p - STRIDE * (seen[0] - 1) - 1)
    if lower != upper:
        raise RuntimeError(f"impulse_receptive_field: half-width not pinned down "
                           f"({lower}..{upper})")
    return int(2 * lower + 1)
