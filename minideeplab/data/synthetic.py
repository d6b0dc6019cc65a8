"""A built-in synthetic segmentation dataset: coloured shapes on textured backgrounds.

No download, no cache: every image is drawn on demand from a NumPy ``Generator`` seeded with
``(seed, split, index)``, so image ``i`` of a split is the same whatever ``num_images`` is, and
the train and val splits never share an image.

The data are built to show the three challenges DeepLab v2 addresses (Sec. 1):

* **Field of view.** The class is decided by the *shape* of an object, never by its colour
  (colours are drawn independently of the class). The interior of a large disc looks exactly
  like the interior of a large square; only a field of view that reaches the object's outline
  can tell them apart (atrous convolution, Sec. 3.1).
* **Multiple scales.** One image holds objects of different sizes, log-uniformly distributed
  over ``scale_range`` (fractions of the image side) (ASPP, Sec. 3.2).
* **Boundaries.** Objects sit on smooth random colour fields with stripes and pixel noise and
  may occlude each other, so a stride-8 score map must be sharpened at the boundaries
  (bilinear upsampling and the dense CRF, Sec. 3.3; the trimap of Fig. 10).

Three presets (any setting can also be passed on its own and overrides the preset):

=================  ==============  ==========  ======  =======  =====  =============
preset             scale_range     objects     rotate  stripes  noise  max_occlusion
=================  ==============  ==========  ======  =======  =====  =============
``"default"``      1/16 .. 1/2     2 .. 3      no      15       5      0.15
``"hard"``         1/16 .. 1/2     2 .. 4      yes     30       8      0.3
``"large"``        1/4 .. 3/4      2 .. 3      no      15       5      0.15
=================  ==============  ==========  ======  =======  =====  =============

``"default"`` has the full range of object sizes (about 1/16 to 1/2 of the image side; the
smallest are raised to ``min_pixels``) on moderately cluttered backgrounds; ``"hard"`` adds
rotations and more clutter; ``"large"`` keeps only large objects, for demonstrations that must
train in a few minutes.

Small objects are hard for a stride-8 score map: the true labels themselves, shrunk to stride
8 (``label[8i, 8j]``), one-hot encoded and bilinearly upsampled back, reach a mean IOU of only
about 0.72 on images of side 97 with objects down to 1/16 of the side. That is not a hard limit:
free scores on the 13x13 grid, fitted to each label (benchmarks/bench_train.py, "stride-8
ceiling"), reach 0.94, so a network with enough capacity can place the boundaries between grid
points; the tiny DeepLab-ASPP-L trained for 10 minutes on 2 CPU cores does not (0.70), and the
dense CRF closes most of the gap (0.88). See README.md, "Performance".

Geometry (what the label of each class is; pixel centres are at integer coordinates
``(y, x)``): every object fits in a circle of diameter ``size`` (radius ``R = size / 2``)
centred at ``(cy, cx)``; ``(u, v)`` are the pixel offsets rotated by ``-angle``.

=====  ========  ==============================================================================
label  name      pixels that belong to the object
=====  ========  ==============================================================================
0      background everything not covered by an object (including the hole of a ring)
1      disc      ``r <= R``                         (``r`` distance to the centre)
2      square    ``max(|u|, |v|) <= R / sqrt(2)``   (corners on the circle)
3      triangle  equilateral, circumradius ``R``: ``dx cos t_k + dy sin t_k <= R / 2`` for the
                 three edge normals ``t_k = angle + 2 pi k / 3``
4      ring      ``R / 2 < r <= R``
5      cross     a plus sign of side ``a = 6 R / sqrt(10)`` and arm width ``a / 3`` (arm-end
                 corners on the circle): ``|u| <= a/2 and |v| <= a/6``, or the same with u, v
                 swapped
=====  ========  ==============================================================================

Objects are painted largest first, so small ones occlude large ones; a placement that would
hide more than ``max_occlusion`` of an earlier object's visible pixels is drawn again, so every
object keeps a recognisable part of its outline.
"""
import collections
import math

import numpy as np

from .. import budgets, checks
from ..errors import ArgumentError, BudgetExceededError
from ..functional.resize import interp_matrix

__all__ = ["SyntheticShapes", "ShapeObject", "CLASS_NAMES", "shape_mask", "generate_image"]

CLASS_NAMES = ("background", "disc", "square", "triangle", "ring", "cross")
_SPLITS = {"train": 0, "val": 1}

ShapeObject = collections.namedtuple("ShapeObject", "cls cy cx size angle color")
ShapeObject.__doc__ = """One painted object: class index (1..5), centre (cy, cx) in pixels,
size (diameter of the enclosing circle, pixels), angle (radians), color (r, g, b floats)."""


def shape_mask(cls, dy, dx, size, angle):
    """Boolean mask of one shape (the table in the module docstring).

    Parameters
    ----------
    cls : int
        Class index 1..5 (disc, square, triangle, ring, cross).
    dy, dx : (H, W) float arrays
        Offsets of the pixel centres from the object's centre.
    size : float
        Diameter of the circle the shape fits in.
    angle : float
        Rotation in radians (ignored by disc and ring).

    Returns
    -------
    (H, W) bool array
    """
    R = size / 2.0
    c, s = math.cos(angle), math.sin(angle)
    u = dx * c + dy * s           # offsets in the object's own frame
    v = -dx * s + dy * c
    r2 = dy * dy + dx * dx
    if cls == 1:                  # disc
        return r2 <= R * R
    if cls == 2:                  # square: half-side R / sqrt(2) puts the corners on the circle
        h = R / math.sqrt(2.0)
        return (np.abs(u) <= h) & (np.abs(v) <= h)
    if cls == 3:                  # equilateral triangle: inradius R / 2, three half-planes
        inside = np.ones(dy.shape, dtype=bool)
        for k in range(3):
            t = angle + 2.0 * math.pi * k / 3.0
            inside &= dx * math.cos(t) + dy * math.sin(t) <= R / 2.0
        return inside
    if cls == 4:                  # ring (annulus), inner radius R / 2
        return (r2 <= R * R) & (r2 > (R / 2.0) ** 2)
    if cls == 5:                  # cross: arm-end corner (a/2, a/6) at distance R
        a = 6.0 * R / math.sqrt(10.0)
        au, av = np.abs(u), np.abs(v)
        return ((au <= a / 2) & (av <= a / 6)) | ((au <= a / 6) & (av <= a / 2))
    raise ArgumentError(f"shape_mask: cls must be 1..5 ({CLASS_NAMES[1:]}), got {cls!r}")


def _background(rng, H, W, yy, xx, stripes):
    """(H, W, 3) float texture: a smooth random colour field plus stripes (no noise yet)."""
    g = 3                                              # a 3x3 grid of random colours ...
    grid = rng.uniform(0.0, 255.0, size=(g, g, 3))
    ay, ax = interp_matrix(g, H), interp_matrix(g, W)  # (H, g), (W, g): linear, align-corners
    rows = (ay @ grid.reshape(g, g * 3)).reshape(H, g, 3)  # ... stretched along y: (H, g, 3)
    field = ax[None] @ rows                                # ... and along x: (H, W, 3)
    amp = stripes * rng.uniform(0.25, 1.0)             # grey stripes, random period/orientation
    period = rng.uniform(4.0, 14.0)
    theta = rng.uniform(0.0, math.pi)
    phase = rng.uniform(0.0, 2.0 * math.pi)
    stripes = amp * np.sin(2.0 * math.pi * (xx * math.cos(theta) + yy * math.sin(theta)) / period
                           + phase)
    return field + stripes[:, :, None]


def _contrasting_color(rng, under, min_contrast, tries=30):
    """A random RGB colour ``min_contrast`` (L2) or more from ``under``, else the farthest tried."""
    best, best_d = None, -1.0
    for _ in range(tries):
        color = rng.uniform(0.0, 255.0, size=3)
        d = float(np.linalg.norm(color - under))
        if d >= min_contrast:
            return color
        if d > best_d:
            best, best_d = color, d
    return best


def generate_image(rng, height, width, *, max_objects=3, min_pixels=9.0, scale_range=(1 / 4, 3 / 4),
                   max_occlusion=0.15, noise=5.0, stripes=15.0, min_contrast=90.0, rotate=False):
    """Draw one image, its label and the list of its objects (settings: :class:`SyntheticShapes`).

    Returns
    -------
    image : (H, W, 3) uint8
    label : (H, W) uint8, values in 0..5
    objects : list of ShapeObject, in painting order (later ones on top)
    """
    H, W = height, width
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    canvas = _background(rng, H, W, yy, xx, stripes)
    label = np.zeros((H, W), dtype=np.uint8)
    owner = np.full((H, W), -1, dtype=np.int64)          # which object each pixel shows
    side = min(H, W)
    lo = max(min_pixels, scale_range[0] * side)
    hi = max(lo, scale_range[1] * side)
    n = int(rng.integers(2, max_objects + 1)) if max_objects >= 2 else max_objects
    sizes = np.sort(np.exp(rng.uniform(math.log(lo), math.log(hi), size=n)))[::-1]
    objects, visible = [], []                              # visible pixels of each object
    for size in sizes:
        R = size / 2.0
        for _ in range(20):                               # rejection sampling of the placement
            cls = int(rng.integers(1, len(CLASS_NAMES)))
            cy = rng.uniform(R, H - 1 - R) if H - 1 > 2 * R else (H - 1) / 2.0
            cx = rng.uniform(R, W - 1 - R) if W - 1 > 2 * R else (W - 1) / 2.0
            angle = rng.uniform(0.0, 2.0 * math.pi) if rotate else math.pi / 2  # pi/2: tip up
            win = (slice(max(0, int(cy - R) - 1), min(H, int(cy + R) + 2)),   # the object's
                   slice(max(0, int(cx - R) - 1), min(W, int(cx + R) + 2)))   # bounding box
            mask = shape_mask(cls, yy[win] - cy, xx[win] - cx, size, angle)
            if not mask.any():
                continue
            below = owner[win][mask]
            hidden = np.bincount(below[below >= 0], minlength=len(objects))
            if np.all(hidden <= max_occlusion * np.maximum(visible, 1)):
                break
        else:
            continue                                      # no room for this object: skip it
        under = canvas[win][mask].mean(axis=0)
        color = _contrasting_color(rng, under, min_contrast)
        shade = rng.uniform(-15.0, 15.0) * ((xx[win] - cx) * math.cos(angle)
                                            + (yy[win] - cy) * math.sin(angle)) / R
        canvas[win][mask] = color + shade[mask][:, None]
        label[win][mask] = cls
        owner[win][mask] = len(objects)
        visible = [v - h for v, h in zip(visible, hidden.tolist())] + [int(mask.sum())]
        objects.append(ShapeObject(cls, float(cy), float(cx), float(size), float(angle),
                                   tuple(float(c) for c in color)))
    canvas += rng.normal(0.0, noise, size=canvas.shape)
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return image, label, objects


class SyntheticShapes:
    """Shapes-on-texture segmentation data, deterministic from a seed (see the module docstring).

    Parameters
    ----------
    split : "train" or "val"
        The two splits are drawn from different random streams and never share an image.
    num_images : int, optional
        Number of images (default 1000 for train, 200 for val).
    size : int or (H, W)
        Image size (default 97). Sizes ``8k + 1`` (65, 81, 97, 129) make the label shrink
        exactly to the stride-8 score map (``label[::8, ::8]``, as Caffe's Interp
        ``shrink_factor: 8``).
    seed : int
        Different seeds give different data; the same seed gives the same data.
    preset : "default", "hard" or "large"
        The settings below, as in the table of the module docstring.
    max_objects : int
        Each image holds 2..max_objects objects (fewer when they do not fit).
    scale_range : (float, float)
        Object sizes (diameter of the enclosing circle) as fractions of the shorter image side,
        log-uniform; the lower end is raised to ``min_pixels``.
    min_pixels : float
        Smallest object size in pixels (default 9: shapes stay recognisable); on tiny images
        it may exceed ``scale_range[1]`` times the side, and then every object has this size.
    rotate : bool
        Rotate squares, triangles and crosses by a random angle (else: axis-aligned, tip up).
    stripes : float
        Largest amplitude of the background stripes (0..255 scale).
    noise : float
        Standard deviation of the Gaussian pixel noise (0..255 scale).
    max_occlusion : float in [0, 1]
        Largest fraction of an object's visible pixels that a later object may cover.

    Items are ``(image, label)``: image (H, W, 3) uint8 RGB, label (H, W) uint8 in 0..5
    (``num_classes = 6``, background included; there is no ignore label).
    """

    class_names = CLASS_NAMES
    num_classes = len(CLASS_NAMES)
    PRESETS = {
        "default": dict(max_objects=3, scale_range=(1 / 16, 1 / 2), min_pixels=9.0,
                        rotate=False, stripes=15.0, noise=5.0, max_occlusion=0.15),
        "hard": dict(max_objects=4, scale_range=(1 / 16, 1 / 2), min_pixels=9.0, rotate=True,
                     stripes=30.0, noise=8.0, max_occlusion=0.3),
        "large": dict(max_objects=3, scale_range=(1 / 4, 3 / 4), min_pixels=9.0, rotate=False,
                      stripes=15.0, noise=5.0, max_occlusion=0.15),
    }

    def __init__(self, split="train", num_images=None, size=97, seed=0, *, preset="default",
                 max_objects=None, scale_range=None, min_pixels=None, rotate=None, stripes=None,
                 noise=None, max_occlusion=None):
        fn = "SyntheticShapes"
        checks.check_choice(fn, "split", split, tuple(_SPLITS))
        checks.check_choice(fn, "preset", preset, tuple(self.PRESETS))
        given = dict(max_objects=max_objects, scale_range=scale_range, min_pixels=min_pixels,
                     rotate=rotate, stripes=stripes, noise=noise, max_occlusion=max_occlusion)
        opts = {k: (self.PRESETS[preset][k] if v is None else v) for k, v in given.items()}
        if num_images is None:
            num_images = 1000 if split == "train" else 200
        self.split = split
        self.preset = preset
        self.num_images = checks.check_int(fn, "num_images", num_images, 0)
        self.size = checks.check_pair(fn, "size", size, 17)
        if self.size[0] * self.size[1] > budgets.MAX_IMAGE_PIXELS:
            raise BudgetExceededError(f"{fn}: size={size!r} is beyond the "
                                      f"{budgets.MAX_IMAGE_PIXELS / 1e6:.0f} Mpx an image may "
                                      "have (minideeplab.budgets.MAX_IMAGE_PIXELS)")
        self.seed = checks.check_int(fn, "seed", seed, 0)
        self.max_objects = checks.check_int(fn, "max_objects", opts["max_objects"], 1)
        lo_hi = opts["scale_range"]
        if not (isinstance(lo_hi, (tuple, list)) and len(lo_hi) == 2
                and 0 < lo_hi[0] <= lo_hi[1] <= 1):
            raise ArgumentError(f"{fn}: scale_range must be (lo, hi) with 0 < lo <= hi <= 1, "
                                f"got {lo_hi!r}")
        if not 1 <= opts["min_pixels"] <= min(self.size):
            raise ArgumentError(f"{fn}: min_pixels must be in [1, min(size) = {min(self.size)}], "
                                f"got {opts['min_pixels']!r}")
        for name in ("stripes", "noise"):
            if not opts[name] >= 0:
                raise ArgumentError(f"{fn}: {name} must be >= 0, got {opts[name]!r}")
        if not 0 <= opts["max_occlusion"] <= 1:
            raise ArgumentError(f"{fn}: max_occlusion must be in [0, 1], "
                                f"got {opts['max_occlusion']!r}")
        self.scale_range = (float(lo_hi[0]), float(lo_hi[1]))
        self.min_pixels = float(opts["min_pixels"])
        self.rotate = bool(opts["rotate"])
        self.stripes = float(opts["stripes"])
        self.noise = float(opts["noise"])
        self.max_occlusion = float(opts["max_occlusion"])

    def __len__(self):
        return self.num_images

    def _generate(self, index):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise ArgumentError(f"SyntheticShapes: index must be an integer, got {index!r}")
        i = int(index) + self.num_images if index < 0 else int(index)
        if not 0 <= i < self.num_images:
            raise IndexError(f"SyntheticShapes: index {index} out of range for "
                             f"{self.num_images} images")
        rng = np.random.default_rng([self.seed, _SPLITS[self.split], i])
        return generate_image(rng, *self.size, max_objects=self.max_objects,
                              min_pixels=self.min_pixels, scale_range=self.scale_range,
                              noise=self.noise, stripes=self.stripes,
                              max_occlusion=self.max_occlusion, rotate=self.rotate)

    def __getitem__(self, index):
        """``(image (H, W, 3) uint8, label (H, W) uint8)`` of image ``index``."""
        image, label, _ = self._generate(index)
        return image, label

    def objects(self, index):
        """The objects of image ``index`` (list of :class:`ShapeObject`, painting order)."""
        return self._generate(index)[2]

    def load_arrays(self):
        """All images stacked: images (N, H, W, 3) uint8 and labels (N, H, W) uint8."""
        H, W = self.size
        checks.check_budget("SyntheticShapes.load_arrays", f"num_images={self.num_images}",
                            1, images_and_labels=(self.num_images, H, W, 4))
        images = np.empty((self.num_images, H, W, 3), dtype=np.uint8)
        labels = np.empty((self.num_images, H, W), dtype=np.uint8)
        for i in range(self.num_images):
            images[i], labels[i] = self[i]
        return images, labels

    def __repr__(self):
        return (f"SyntheticShapes(split={self.split!r}, num_images={self.num_images}, "
                f"size={self.size}, seed={self.seed}, preset={self.preset!r})")
