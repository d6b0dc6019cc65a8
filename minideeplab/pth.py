"""Read PyTorch ``.pth`` state dicts into NumPy arrays, without torch and without running code.

A ``.pth`` file is a Python pickle, and unpickling runs whatever functions the pickle names
(``os.system`` included): loading an untrusted pickle is executing an untrusted program. A state
dict needs only a handful of globals, so :func:`load_pth` unpickles through
:class:`SafeUnpickler`, whose ``find_class`` answers from a fixed allow-list of *our own*
functions standing in for PyTorch's (nothing is imported by name) and refuses every other
global with :class:`UnsafePickleError` before anything is called.

The allow-list (what ``torch.save(model.state_dict(), path)`` writes):

* ``collections.OrderedDict``: the state dict itself;
* ``torch._utils._rebuild_tensor_v2`` (and ``_rebuild_parameter``): a tensor is a view
  (offset, size, stride) of a storage;
* ``torch.FloatStorage``, ``torch.LongStorage``, ...: the storage's element type, which names
  the NumPy dtype (``bfloat16`` storages become float32, exactly).

Storages are not in the pickle: the pickle refers to them by key through ``persistent_load``.
Two container formats (``torch.serialization``):

* **zip** (PyTorch >= 1.6, the default): a zip archive with ``<name>/data.pkl`` (the pickle),
  ``<name>/data/<key>`` (one raw little- or big-endian storage per key, as ``byteorder`` says)
  and ``<name>/version``.
* **legacy** (``_use_new_zipfile_serialization=False``, and many older published weight files):
  one stream of five pickles and raw bytes: the magic number 0x1950a86a20f9469cfc6c, the
  protocol version 1001, a ``sys_info`` dict (byte order, type sizes), the state-dict pickle,
  the list of storage keys, then for each key in that order an int64 element count and the
  storage's bytes.

The even older tar format is refused with a message. Shapes: every tensor becomes a C-contiguous
NumPy array of its shape (a 0-d array for scalars such as ``num_batches_tracked``).
"""
import io
import pickle
import zipfile
from collections import OrderedDict

import numpy

from .errors import FileFormatError

__all__ = ["load_pth", "SafeUnpickler", "UnsafePickleError", "STORAGE_DTYPES"]

LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
LEGACY_PROTOCOL = 1001

# torch.<Name>Storage -> the NumPy dtype of its elements ("bfloat16": converted, see _as_numpy)
STORAGE_DTYPES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool",
}


class UnsafePickleError(pickle.UnpicklingError, FileFormatError):
    """A ``.pth`` pickle names a global outside the allow-list; nothing of it was run.
    (Also a ValueError: a bad input file, as the command line reports it.)"""


class _Frozen:
    """Our stand-ins refuse the pickle's BUILD opcode: a file cannot set their attributes."""

    def __setstate__(self, state):
        raise UnsafePickleError(f"load_pth: the pickle tries to set the state of "
                                f"{type(self).__name__}; not a state dict")


class _StorageType(_Frozen):
    """Stands for ``torch.<Name>Storage``: only its element dtype matters."""

    def __init__(self, name):
        self.name, self.dtype = name, STORAGE_DTYPES[name]

    def __repr__(self):
        return f"torch.{self.name}"


class _StorageRef(_Frozen):
    """A storage named by a persistent id: its dtype, and its elements once they are read."""

    def __init__(self, dtype, key, numel):
        self.dtype, self.key, self.numel = dtype, key, numel
        self.data = None        # 1-D NumPy array, filled in by the container reader


class _Tensor(_Frozen):
    """A tensor as the pickle describes it; becomes a NumPy array once storages are read."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)

    def to_numpy(self, where):
        data = self.storage.data
        if not self.size:
            return data[self.offset:self.offset + 1].reshape(()).copy()
        extent = 1 + sum((n - 1) * s for n, s in zip(self.size, self.stride) if n > 0)
        if any(n == 0 for n in self.size):
            return numpy.zeros(self.size, dtype=data.dtype)
        if self.offset < 0 or self.offset + extent > data.size or min(self.stride) < 0:
            raise FileFormatError(f"load_pth: {where}: a tensor of size {self.size}, stride "
                                  f"{self.stride} and offset {self.offset} reaches past its "
                                  f"storage of {data.size} elements")
        view = numpy.lib.stride_tricks.as_strided(
            data[self.offset:], shape=self.size,
            strides=tuple(s * data.itemsize for s in self.stride), writeable=False)
        return numpy.ascontiguousarray(view)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    if not isinstance(storage, _StorageRef):
        raise pickle.UnpicklingError("load_pth: _rebuild_tensor_v2 got no storage")
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


_FUNCTIONS = {("collections", "OrderedDict"): OrderedDict,
              ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
              ("torch._utils", "_rebuild_parameter"): _rebuild_parameter}
_ALLOWED = set(_FUNCTIONS) | {("torch", name) for name in STORAGE_DTYPES}


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that knows only the globals a PyTorch state dict needs (see module doc).

    Parameters: ``file`` (binary file object), ``source`` (the name shown in errors).
    ``storages``: key -> :class:`_StorageRef`, the storages the pickle referred to.
    """

    def __init__(self, file, source):
        super().__init__(file)
        self.source = source
        self.storages = {}

    def find_class(self, module, name):
        if (module, name) in _FUNCTIONS:
            f = _FUNCTIONS[(module, name)]
            # a fresh wrapper per lookup: the pickle's BUILD cannot touch our functions
            return f if f is OrderedDict else (lambda *args: f(*args))
        if (module, name) in _ALLOWED:
            return _StorageType(name)
        raise UnsafePickleError(
            f"load_pth: {self.source} refers to the global {module}.{name}, which is not in "
            f"the allow-list of a state dict ({_allowed_names()}); refusing to load it "
            "(unpickling would call it). Only files of torch.save(model.state_dict()) are read.")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise UnsafePickleError(f"load_pth: {self.source} has an unexpected persistent id "
                                    f"{pid!r:.200}")
        _, stype, key, _location, numel = pid[:5]
        if len(pid) > 5 and pid[5] is not None:
            raise FileFormatError(f"load_pth: {self.source} uses storage views (legacy "
                                  "view_metadata), which this reader does not support")
        key = str(key)
        ref = self.storages.get(key)
        if ref is None:
            ref = self.storages[key] = _StorageRef(stype.dtype, key, int(numel))
        return ref


def _allowed_names():
    return ", ".join(sorted(f"{m}.{n}" for m, n in _FUNCTIONS) + ["torch.<Type>Storage"])


def _as_numpy(raw, dtype, byteorder, where):
    """Raw storage bytes -> 1-D NumPy array of ``dtype`` (native byte order)."""
    if dtype == "bfloat16":      # the top 16 bits of a float32: exact
        u16 = numpy.frombuffer(raw, dtype=numpy.dtype("uint16").newbyteorder(byteorder))
        return (u16.astype(numpy.uint32) << 16).view(numpy.float32)
    dt = numpy.dtype(dtype).newbyteorder(byteorder if numpy.dtype(dtype).itemsize > 1 else "=")
    if len(raw) % dt.itemsize:
        raise FileFormatError(f"load_pth: {where}: {len(raw)} bytes is not a whole number of "
                              f"{dtype} elements")
    return numpy.frombuffer(raw, dtype=dt).astype(numpy.dtype(dtype), copy=True)


def _itemsize(dtype):
    return 2 if dtype == "bfloat16" else numpy.dtype(dtype).itemsize


def _materialise(obj, where):
    """Replace every _Tensor inside dicts/lists/tuples by its NumPy array."""
    if isinstance(obj, _Tensor):
        return obj.to_numpy(where)
    if isinstance(obj, dict):
        return type(obj)((k, _materialise(v, f"{where}[{k!r}]")) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(v, where) for v in obj)
    return obj


def _read_zip(path):
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise FileFormatError(f"load_pth: {path} is a zip archive without one "
                                  "<name>/data.pkl; not a torch.save file")
        root = pkl[0][:-len("data.pkl")]
        byteorder = "little"
        if f"{root}byteorder" in names:
            byteorder = z.read(f"{root}byteorder").decode("ascii").strip()
        if byteorder not in ("little", "big"):
            raise FileFormatError(f"load_pth: {path}: unknown byteorder {byteorder!r}")
        unpickler = SafeUnpickler(io.BytesIO(z.read(pkl[0])), path)
        obj = unpickler.load()
        order = "<" if byteorder == "little" else ">"
        for key, ref in unpickler.storages.items():
            member = f"{root}data/{key}"
            if member not in names:
                raise FileFormatError(f"load_pth: {path} lacks the storage {member}")
            ref.data = _as_numpy(z.read(member), ref.dtype, order, f"{path}:{member}")
    return obj


def _read_legacy(path, f):
    header = SafeUnpickler(f, path)
    magic = header.load()
    if magic != LEGACY_MAGIC:
        raise FileFormatError(f"load_pth: {path} is neither a zip archive nor a legacy torch.save "
                              "file (wrong magic number); the pre-0.4 tar format is not supported")
    protocol = header.load()
    if protocol != LEGACY_PROTOCOL:
        raise FileFormatError(f"load_pth: {path}: legacy protocol {protocol!r}, expected "
                              f"{LEGACY_PROTOCOL}")
    sys_info = header.load()
    little = sys_info.get("little_endian", True) if isinstance(sys_info, dict) else True
    order = "<" if little else ">"
    unpickler = SafeUnpickler(f, path)
    obj = unpickler.load()
    keys = SafeUnpickler(f, path).load()
    if not isinstance(keys, list):
        raise FileFormatError(f"load_pth: {path}: the storage-key list is missing")
    for key in keys:
        ref = unpickler.storages.get(str(key))
        count = numpy.frombuffer(f.read(8), dtype=numpy.dtype("int64").newbyteorder(order))
        if ref is None or count.size != 1:
            raise FileFormatError(f"load_pth: {path}: storage {key!r} is listed but not used, or "
                                  "the file is truncated")
        nbytes = int(count[0]) * _itemsize(ref.dtype)
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise FileFormatError(f"load_pth: {path}: storage {key!r} is truncated")
        ref.data = _as_numpy(raw, ref.dtype, order, f"{path}:{key}")
    missing = [k for k, ref in unpickler.storages.items() if ref.data is None]
    if missing:
        raise FileFormatError(f"load_pth: {path}: storages {missing} are referred to but absent")
    return obj


def load_pth(path):
    """Read a ``torch.save``'d state dict as a dict name -> NumPy array (see module doc).

    Parameters
    ----------
    path : str or path-like, a ``.pth``/``.pt`` file in the zip or the legacy format

    Returns
    -------
    dict (an ``OrderedDict`` when the file holds one): name -> ``numpy.ndarray``, each of its
    tensor's shape and dtype (float32 for bfloat16).

    Raises
    ------
    UnsafePickleError : the pickle names a global outside the allow-list (never called)
    FileFormatError : not a torch.save file, or a damaged one (a ValueError)
    """
    path = str(path)
    try:
        if zipfile.is_zipfile(path):
            obj = _read_zip(path)
        else:
            with open(path, "rb") as f:
                obj = _read_legacy(path, f)
    except FileFormatError:              # ours, UnsafePickleError included: already clear
        raise
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile,
            KeyError, IndexError, TypeError, AttributeError, ValueError) as e:
        raise FileFormatError(f"load_pth: {path} is damaged or not a torch.save file "
                              f"({type(e).__name__}: {e})") from e
    if not isinstance(obj, dict):
        raise FileFormatError(f"load_pth: {path} holds a {type(obj).__name__}, not a state dict "
                              "(save model.state_dict(), not the model)")
    return _materialise(obj, path)
