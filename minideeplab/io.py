"""The files minideeplab reads and writes for a user: images, label maps, arrays and weights.

One function per format and direction, so that every file of a format is read in one place
(and checked there: what the file is, what it holds, how large it may be):

========================================  ========================  =========================
format                                    read                      write
========================================  ========================  =========================
a photo (any format Pillow reads)         :func:`read_image`        :func:`save_rgb` (PNG,
                                                                    JPEG, BMP, TIFF or WebP)
a label map: a PNG of class indices       :func:`read_label_png`    :func:`save_label_png`
one array (``.npy``)                      :func:`read_npy`          :func:`save_npy`
named arrays (``.npz``: checkpoints)      :func:`read_npz`          :func:`save_npz`
named arrays and text metadata            :func:`read_safetensors`  :func:`save_safetensors`
(``.safetensors``: weights, networks)
a state dict (``.pth``/``.pt`` or         :func:`read_weights`      (``.safetensors``)
``.safetensors``)
========================================  ========================  =========================

* **Writing** goes through :func:`minideeplab.fileio.atomic_write` (a reader sees the old file
  or the new one, never a mix). The output checks :func:`check_label_png_output`,
  :func:`check_npy_output` and :func:`check_image_output` refuse a path before any work: label
  maps are lossless palette PNGs, because JPEG and the like change the class indices.
* **Reading never runs code from a file**: arrays are read with ``allow_pickle=False``,
  safetensors by its own parser, ``.pth`` by the restricted unpickler of
  :mod:`minideeplab.pth`.
* **Errors** name the file (docs/conventions.md, "One error rule"): a data file that is missing,
  truncated, corrupt or of another kind is a :class:`~minideeplab.errors.DataError`; the
  readers of checkpoints and weights take the error class and the word for the file from
  their caller (``error=CheckpointError, what="checkpoint"``).

Label PNGs carry the PASCAL VOC palette (:func:`voc_palette`: the one the VOC devkit's
``labelcolormap.m`` builds and every ``SegmentationClass/*.png`` holds), so a label map opens in
any viewer in VOC's colours while its pixel values stay the class indices.
"""
import math
import os
import tokenize
import warnings
import zipfile
import zlib

import numpy as np

from . import backend, budgets
from .errors import (ArgumentError, BudgetExceededError, DataError, FileFormatError,
                     MissingFileError)
from .fileio import atomic_write, check_output_file

__all__ = ["voc_palette", "read_image", "read_label_png", "save_label_png", "save_rgb",
           "read_npy", "save_npy", "read_npz", "save_npz", "read_safetensors",
           "save_safetensors", "read_weights", "IMAGE_FORMATS", "LABEL_PNG_REFUSED",
           "LABEL_PNG_CLASSES",
           "check_label_png_output", "check_npy_output", "check_image_output", "file_kind"]


# ----------------------------------------------------------------------------- label colours
def voc_palette(n=256):
    """(n, 3) uint8 colours: bit ``3j + c`` of the index goes to bit ``7 - j`` of channel c
    (index 1 = (128, 0, 0), 15 "person" = (192, 128, 128), 255 "void" = (224, 224, 192))."""
    pal = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, rgb = i, [0, 0, 0]
        for j in range(8):
            for ch in range(3):
                rgb[ch] |= ((c >> ch) & 1) << (7 - j)
            c >>= 3
        pal[i] = rgb
    return pal


# ----------------------------------------------------------------------------- images
def _open_and(fn, path, what, convert):
    """Open ``path`` with Pillow and return ``convert(image)``; any failure is a DataError.

    The header's size is checked against :data:`minideeplab.budgets.MAX_IMAGE_PIXELS` before
    anything is decoded (Pillow's open reads the header only); Pillow's own decompression-bomb
    warning, for images beyond its larger limit, becomes the same BudgetExceededError instead
    of a line on stderr."""
    from PIL import Image
    _missing_or_folder(os.fspath(path), what, DataError, fn)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                budgets.check_image_size(fn, path, *im.size)
                return convert(im)
    except (DataError, BudgetExceededError):
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise BudgetExceededError(
            f"{fn}: {what} {os.fspath(path)!r} has more than the "
            f"{budgets.MAX_IMAGE_PIXELS / 1e6:.0f} Mpx an image may have "
            f"(minideeplab.budgets.MAX_IMAGE_PIXELS): refused before decoding it ({e})") from e
    except FileNotFoundError as e:
        raise DataError(f"{fn}: {what} {os.fspath(path)!r} does not exist", path) from e
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        # UnidentifiedImageError and "image file is truncated" are OSErrors; Pillow's decoders
        # also raise SyntaxError/ValueError/EOFError on damaged data
        raise DataError(f"{fn}: cannot read {what} {os.fspath(path)!r}: the file is corrupt, "
                        f"truncated or not an image ({type(e).__name__}: {e})", path) from e


def read_image(path):
    """An RGB photo as a (H, W, 3) uint8 array (grey or CMYK files are converted).

    A missing, truncated or corrupt file is a :class:`~minideeplab.errors.DataError` naming
    ``path``.
    """
    return _open_and("read_image", path, "image",
                     lambda im: np.asarray(im.convert("RGB"), dtype=np.uint8).copy())


def read_label_png(path):
    """Class indices of a label PNG as a (H, W) uint8 array.

    Palette ("P") PNGs are read as their indices, never as colours; grey ("L") PNGs as values.
    255 (void) is kept: it is the ignore label of the loss and the metrics. A missing,
    truncated or corrupt file, or one of another mode, is a DataError naming ``path``.
    """
    def indices(im):
        if im.mode not in ("P", "L"):
            raise DataError(f"read_label_png: {path} is a mode {im.mode!r} PNG; a label must be "
                            "a palette ('P') or grey ('L') PNG of class indices, not colours",
                            path)
        return np.asarray(im, dtype=np.uint8).copy()

    return _open_and("read_label_png", path, "label", indices)


def save_label_png(path, label):
    """Write a (H, W) label map (values 0..255) as a palette PNG in the VOC colours, atomically.

    PNG is lossless, so the pixel values are exactly the class indices (a JPEG would change
    them). ``label`` may be a NumPy or CuPy integer array.
    """
    from PIL import Image
    label = backend.asnumpy(label)
    if label.ndim != 2 or label.dtype.kind not in "iub":
        raise ArgumentError(f"save_label_png: label must be a (H, W) integer array, got shape "
                            f"{label.shape} dtype {label.dtype}")
    if label.size and (label.min() < 0 or label.max() >= LABEL_PNG_CLASSES):
        raise ArgumentError(f"save_label_png: label values must lie in "
                            f"0..{LABEL_PNG_CLASSES - 1}, got {label.min()}..{label.max()}")
    h, w = label.shape
    im = Image.frombytes("P", (w, h), np.ascontiguousarray(label, dtype=np.uint8).tobytes())
    im.putpalette(voc_palette(256).ravel().tolist())
    return atomic_write(path, lambda f: im.save(f, format="PNG"))


LABEL_PNG_CLASSES = 256     # a palette PNG's pixel holds the class indices 0..255


IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP",
                 ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}


def save_rgb(path, image):
    """Write an (H, W, 3) uint8 picture atomically, in the format of ``path``'s extension
    (:data:`IMAGE_FORMATS`)."""
    from PIL import Image
    image = backend.asnumpy(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ArgumentError(f"save_rgb: image must be a (H, W, 3) uint8 array, got shape "
                            f"{image.shape} dtype {image.dtype}")
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in IMAGE_FORMATS:
        raise ArgumentError(f"save_rgb: {os.fspath(path)!r} has extension {ext or '(none)'!r}; "
                            f"expected one of {', '.join(IMAGE_FORMATS)}")
    picture = Image.fromarray(image)
    return atomic_write(path, lambda f: picture.save(f, format=IMAGE_FORMATS[ext]))


# ----------------------------------------------------------------------------- output checks
_LOSSY = ("{} is lossy: its compression would change the class indices. Label maps are "
          "written as palette PNGs (pixel value = class index, VOC colours); use a .png name "
          "(--overlay takes any image format)")
LABEL_PNG_REFUSED = {ext: _LOSSY.format(name) for ext, name in (
    (".jpg", "JPEG"), (".jpeg", "JPEG"), (".jpe", "JPEG"), (".jfif", "JPEG"),
    (".webp", "WebP"), (".gif", "GIF (256 colours, but often re-quantised)"))}


def check_label_png_output(path, argname="--out"):
    """A label map output: a lossless palette PNG (``.png``); JPEG and the like are refused.
    Raises :class:`~minideeplab.errors.OutputPathError` naming ``argname`` before any work."""
    return check_output_file(path, argname, extensions=(".png",), refuse=LABEL_PNG_REFUSED)


def check_npy_output(path, argname):
    """A NumPy array output (``.npy``; NumPy would silently append ``.npy`` to other names)."""
    return check_output_file(path, argname, extensions=(".npy",))


def check_image_output(path, argname):
    """An RGB picture output: PNG, JPEG, BMP, TIFF or WebP, by extension."""
    return check_output_file(path, argname, extensions=tuple(IMAGE_FORMATS))


# ----------------------------------------------------------------------------- arrays
def _missing_or_folder(path, what, error, fn=None):
    """A readable input is an existing regular file: not a folder, and not a FIFO, device or
    socket (reading a FIFO waits for a writer forever; /dev/zero never ends)."""
    prefix = f"{fn}: " if fn else ""
    if not os.path.exists(path):
        raise error(f"{prefix}{what} {path!r} does not exist", path)
    if os.path.isdir(path):
        raise error(f"{prefix}{what} {path!r} is a folder, not a file", path)
    if not os.path.isfile(path):
        raise error(f"{prefix}{what} {path!r} is not a regular file (a FIFO, a device or a "
                    "socket); reading it could wait or run forever", path)


# what NumPy raises on a file it cannot read: a bad header (ValueError, SyntaxError), a short
# file (EOFError), a damaged zip archive or member (BadZipFile, zlib.error), the file system
_NUMPY_REFUSALS = (ValueError, SyntaxError, EOFError, OSError, zipfile.BadZipFile, zlib.error)


def _unreadable(error, what, path, e):
    """The ``error`` to raise for NumPy's refusal ``e`` to read ``path``."""
    if isinstance(e, PermissionError):
        return error(f"{what} {path!r} cannot be read (permission denied)", path)
    if isinstance(e, ValueError) and "allow_pickle" in str(e):
        return error(f"{what} {path!r} holds pickled Python objects; they are never loaded "
                     "(unpickling can run code from the file)", path)
    return error(f"{what} {path!r} is truncated or corrupt and cannot be read "
                 f"({type(e).__name__}: {e})", path)


def read_npy(path, what="array"):
    """The one array of a ``.npy`` file (never unpickled), on the host.

    A missing, truncated or corrupt file, an ``.npz`` archive, or an array of Python objects
    is a :class:`~minideeplab.errors.DataError` naming ``path`` (``what`` names its role, e.g.
    ``"probs"``).
    """
    path = os.fspath(path)
    _missing_or_folder(path, what, DataError)
    try:
        with open(path, "rb") as f:
            if f.read(2) == b"PK":
                raise DataError(f"{what} {path!r} is an .npz archive; give a .npy file holding "
                                "one array", path)
            f.seek(0)
            _check_npy_header("read_npy", f, os.path.getsize(path), path, what, DataError)
            return np.load(f, allow_pickle=False)
    except DataError:
        raise
    except _NUMPY_REFUSALS as e:
        raise _unreadable(DataError, what, path, e) from e


def _check_npy_header(fn, f, size, path, what, error):
    """Read the ``.npy`` header at ``f``'s position and seek back: the data its shape and dtype
    claim must be exactly the ``size - header`` bytes that follow, else ``error`` (a header
    claiming 10**10 elements made NumPy allocate 37 GiB before finding the data missing)."""
    start = f.tell()
    try:
        version = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read_header(f)
    except (ValueError, SyntaxError, TypeError, EOFError, OverflowError, MemoryError,
            tokenize.TokenError) as e:          # NumPy parses the header with ast/tokenize
        raise error(f"{fn}: {what} {os.fspath(path)!r} is not a readable .npy array: its "
                    f"header is damaged ({type(e).__name__}: {str(e)[:100]})", path) from e
    if not dtype.hasobject:                       # objects: np.load refuses them (no pickle)
        claimed = math.prod(shape) * dtype.itemsize
        budgets.check_claimed_bytes(fn, path, f"{what}'s header (shape {shape}, "
                                    f"{dtype})", claimed, size - (f.tell() - start), error)
    f.seek(start)


def save_npy(path, array):
    """Write one array (NumPy or CuPy) as ``.npy`` atomically (never pickled)."""
    array = backend.asnumpy(array)
    return atomic_write(path, lambda f: np.save(f, array, allow_pickle=False))


def _host_arrays(fn, arrays):
    """Check every value and return NumPy copies-or-views; nothing is written yet."""
    out = {}
    for key, value in arrays.items():
        if not isinstance(key, str) or not key:
            raise ArgumentError(f"{fn}: keys must be non-empty strings, got {key!r}")
        if not (isinstance(value, np.ndarray) or backend.is_gpu_array(value)):
            raise ArgumentError(f"{fn}: {key!r} must be a NumPy or CuPy array, got "
                                f"{type(value).__name__}")
        a = backend.asnumpy(value)
        if a.dtype.kind not in "biufc":  # objects, strings etc. would need pickle to load
            raise ArgumentError(f"{fn}: {key!r} has dtype {a.dtype}; only numeric arrays can "
                                "be stored (they are read back with allow_pickle=False)")
        out[key] = a
    return out


def save_npz(path, arrays):
    """Write a flat dict ``name -> array`` (NumPy or CuPy, numeric) to ``path`` as ``.npz``,
    atomically; ``path`` is used as given (no ``.npz`` is appended)."""
    host = _host_arrays("save_npz", arrays)
    return atomic_write(path, lambda f: np.savez(f, **host))


def read_npz(path, *, what="file", error=DataError):
    """Every array of an ``.npz`` file, in a dict (NumPy arrays), never unpickled.

    Every member is read in full here, so a CRC error shows now, not later. A missing,
    truncated or corrupt file, or one of another kind (a pickle, a single ``.npy`` array) is
    ``error(message, path)`` naming ``what`` and ``path`` (e.g. ``what="checkpoint",
    error=CheckpointError``).
    """
    path = os.fspath(path)
    _missing_or_folder(path, what, error)
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
        if not magic.startswith(b"PK"):     # every .npz is a zip archive
            kind = ("a pickle" if magic[:1] == b"\x80" else "a single array (.npy)"
                    if magic == b"\x93NUM" else "empty" if not magic else "not a zip archive")
            raise error(f"{what} {path!r} is truncated or corrupt: it is {kind}, not an .npz "
                        "archive", path)
        _check_npz_members(path, what, error)
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}     # (np.load(path) left it open
                                                              # when the zip was damaged)
    except (error, BudgetExceededError):
        raise
    except _NUMPY_REFUSALS as e:
        raise _unreadable(error, what, path, e) from e


def _check_npz_members(path, what, error):
    """Before anything is decompressed: at most MAX_OBJECTS arrays, decompressing to at most
    twice the file (:func:`minideeplab.budgets.check_decompressed`), each ``.npy`` header
    claiming exactly the bytes its member holds."""
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        if len(infos) > budgets.MAX_OBJECTS:
            raise BudgetExceededError(f"read_npz: {what} {path!r} holds {len(infos)} arrays, "
                                      f"more than {budgets.MAX_OBJECTS} "
                                      "(minideeplab.budgets.MAX_OBJECTS)")
        budgets.check_decompressed("read_npz", path, sum(i.file_size for i in infos))
        for info in infos:
            if info.filename.endswith(".npy"):
                with z.open(info) as member:
                    _check_npy_header("read_npz", _Seekable(member), info.file_size,
                                      f"{path}:{info.filename}", what, error)


class _Seekable:
    """A zip member read forward only, with the one seek back that _check_npy_header makes
    (to where it started: the member is then closed unread)."""

    def __init__(self, member):
        self.member, self.pos = member, 0

    def read(self, n=-1):
        data = self.member.read(n)
        self.pos += len(data)
        return data

    def tell(self):
        return self.pos

    def seek(self, pos):
        self.pos = pos


# ----------------------------------------------------------------------------- weights
def read_safetensors(path, *, what="file", error=FileFormatError):
    """``(metadata dict of str, tensors dict name -> NumPy array)`` of a ``.safetensors`` file.

    Read by the safetensors library (a JSON header and raw bytes: no code from the file runs).
    A missing file or one that safetensors cannot parse is ``error(message, path)``.
    """
    from safetensors import SafetensorError, safe_open
    path = os.fspath(path)
    _missing_or_folder(path, what, error)
    try:
        with safe_open(path, framework="np") as f:
            metadata = f.metadata() or {}
            keys = f.keys()
            if len(keys) > budgets.MAX_OBJECTS:      # the header is checked by safetensors:
                raise BudgetExceededError(           # offsets within the file, no overlaps
                    f"read_safetensors: {what} {path!r} holds {len(keys)} tensors, more than "
                    f"{budgets.MAX_OBJECTS} (minideeplab.budgets.MAX_OBJECTS)")
            tensors = {k: f.get_tensor(k) for k in keys}
    except (SafetensorError, OSError, ValueError) as e:
        raise error(f"{what} {path!r} cannot be read as safetensors ({e})", path) from e
    return metadata, tensors


def save_safetensors(path, tensors, metadata=None):
    """Write ``tensors`` (name -> NumPy or CuPy array) and text ``metadata`` (str -> str) as a
    ``.safetensors`` file, atomically."""
    from safetensors.numpy import save
    host = {k: np.asarray(v, order="C") for k, v in _host_arrays("save_safetensors",
                                                                tensors).items()}
    blob = save(host, metadata=metadata)
    return atomic_write(path, lambda f: f.write(blob))


def read_weights(path, fn="read_weights"):
    """A state dict name -> NumPy array from a ``.pth``/``.pt`` file (PyTorch's
    ``torch.save``, read by :func:`minideeplab.pth.load_pth` without torch and without running
    code) or a ``.safetensors`` file. A missing file is a MissingFileError naming ``fn``."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise MissingFileError(f"{fn}: no such file {path!r}")
    _missing_or_folder(path, "weights", FileFormatError, fn)
    if path.endswith(".safetensors"):
        return read_safetensors(path, what="weights")[1]
    from .pth import load_pth
    return load_pth(path)


# ----------------------------------------------------------------------------- what a file is
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image", "a PNG image"), (b"\xff\xd8\xff", "image", "a JPEG image"),
          (b"GIF8", "image", "a GIF image"), (b"BM", "image", "a BMP image"),
          (b"II*\x00", "image", "a TIFF image"), (b"MM\x00*", "image", "a TIFF image"),
          (b"\x93NUMPY", "npy", "a NumPy array (.npy)"),
          (b"\x89HDF", "hdf5", "an HDF5 file (e.g. Keras weights)"),
          (b"%PDF", "other", "a PDF document"))


def file_kind(path):
    """``(kind, description)`` of the file at ``path``, from its first bytes, for messages that
    say what a file is when it is not what was expected (nothing is unpickled or decoded).

    ``kind`` is one of "npz", "safetensors", "pytorch", "pickle", "zip", "npy", "image",
    "hdf5", "text", "empty", "other"; ``description`` says it in words, e.g. "a PNG image",
    "a PyTorch file (torch.save's zip format)", "a safetensors file of 161 tensors".
    A missing file is a MissingFileError.
    """
    path = os.fspath(path)
    _missing_or_folder(path, "file", MissingFileError)
    with open(path, "rb") as f:
        head = f.read(512)
    size = os.path.getsize(path)
    if not head:
        return "empty", "an empty file"
    for magic, kind, description in _MAGIC:
        if head.startswith(magic):
            return kind, description
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "a WebP image"
    if head[:2] == b"PK":
        return _zip_kind(path)
    if head[:1] == b"\x80":                # pickle protocol 2 and later
        return "pickle", ("a Python pickle (e.g. a PyTorch .pth file of the legacy format, or "
                          "a pickled object)")
    if len(head) > 8 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") <= size - 8:
        return _safetensors_kind(path)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "other", "a file of an unknown kind"
    if all(c.isprintable() or c.isspace() for c in text):
        return "text", "a text file"
    return "other", "a file of an unknown kind"


def _zip_kind(path):
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return "zip", "a damaged zip archive"
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return "pytorch", "a PyTorch file (torch.save's zip format)"
    if names and all(n.endswith(".npy") for n in names):
        arrays = [n[:-len(".npy")] for n in names]
        return "npz", (f"an .npz archive of {len(arrays)} array(s) "
                       f"({', '.join(map(repr, arrays[:4]))}{', ...' if len(arrays) > 4 else ''})")
    return "zip", f"a zip archive of {len(names)} file(s)"


def _safetensors_kind(path):
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(path, framework="np") as f:
            keys, metadata = list(f.keys()), f.metadata() or {}
    except (SafetensorError, OSError, ValueError):
        return "safetensors", "a damaged safetensors file"
    what = f"a safetensors file of {len(keys)} tensor(s)"
    if metadata.get("format"):
        return "safetensors", f"{what}, format {metadata['format']!r}"
    return "safetensors", (f"{what} without minideeplab's metadata (e.g. "
                           f"{', '.join(map(repr, sorted(keys)[:2]))})")
