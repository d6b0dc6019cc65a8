"""The sample photo: Grace Hopper's portrait, bundled with matplotlib (no download).

The figures draw on it (Figs. 3 and 4, deinterlacing), and the CRF's tests and benchmarks use
it as a real photo at PASCAL VOC's size: :func:`sample_photo` is the one place that reads it.
"""
import numpy as np
from PIL import Image

from ..errors import ArgumentError
from ..io import read_image

__all__ = ["SAMPLE_PHOTO", "sample_photo"]

SAMPLE_PHOTO = "grace_hopper.jpg"   # 512 x 600 (width x height), RGB JPEG


def sample_photo(size=None):
    """The sample photo as a (H, W, 3) uint8 array.

    Parameters
    ----------
    size : None, or (width, height)
        None: the whole photo, (600, 512, 3). Otherwise the photo is centre-cropped to a 4:3
        landscape (VOC's typical 500 x 375; 512 x 384 of it) and resized bilinearly (Pillow)
        to ``width`` x ``height``.
    """
    import matplotlib.cbook
    if size is not None:
        if (len(size) != 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer))
                                  or s < 1 for s in size)):
            raise ArgumentError(f"sample_photo: size must be None or (width, height), two "
                                f"positive ints, got {size!r}")
    photo = read_image(matplotlib.cbook.get_sample_data(SAMPLE_PHOTO, asfileobj=False))
    if size is None:
        return photo
    h, w, _ = photo.shape
    top = (h - w * 3 // 4) // 2
    im = Image.fromarray(photo[top:top + w * 3 // 4]).resize(tuple(int(s) for s in size),
                                                             Image.BILINEAR)
    return np.array(im, dtype=np.uint8)
