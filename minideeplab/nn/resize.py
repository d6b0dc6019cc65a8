"""The bilinear resizing layer (Caffe's ``Interp``): no parameters."""
from .. import checks, functional as F
from ..errors import ArgumentError
from .module import Module

__all__ = ["ResizeBilinear"]


class ResizeBilinear(Module):
    """Bilinear resizing of score maps (DeepLab v2's ``Interp`` layer; Sec. 3).

    Parameters
    ----------
    size : (H_out, W_out) or None. The output size; may also be given per call,
        ``layer(x, size=(H, W))`` (e.g. "the size of the image"), which takes precedence.
    zoom_factor : int or None. Caffe's ``zoom_factor: z``: ``H_out = H + (H - 1)(z - 1)``
        (41 -> 321 for z = 8), used when no size is given.
    align_corners : True (Caffe, DeepLab; default) or False (PyTorch's default).

    Shapes: x (N, C, H, W) -> y (N, C, H_out, W_out).
    """

    def __init__(self, size=None, *, zoom_factor=None, align_corners=True):
        super().__init__()
        fn = "ResizeBilinear"
        if size is not None:
            checks.check_pair(fn, "size", size, 1)
        if zoom_factor is not None:
            checks.check_int(fn, "zoom_factor", zoom_factor, 1)
        checks.check_bool(fn, "align_corners", align_corners)
        self.size, self.zoom_factor, self.align_corners = size, zoom_factor, align_corners

    def output_size(self, x_shape, size=None):
        """The (H_out, W_out) a forward pass on an input of ``x_shape`` produces."""
        size = self.size if size is None else size
        if size is not None:
            return size
        if self.zoom_factor is None:
            raise ArgumentError("ResizeBilinear: no output size: give size= to the layer or to "
                                "the call, or a zoom_factor")
        return (F.interp_zoom_size(x_shape[2], self.zoom_factor),
                F.interp_zoom_size(x_shape[3], self.zoom_factor))

    def forward(self, x, size=None):
        y, self.cache = F.resize_bilinear(x, self.output_size(x.shape, size),
                                          align_corners=self.align_corners)
        return y

    def backward(self, dy):
        return F.resize_bilinear_backward(dy, self.saved_cache())

    def __repr__(self):
        return (f"ResizeBilinear(size={self.size}, zoom_factor={self.zoom_factor}, "
                f"align_corners={self.align_corners})")
