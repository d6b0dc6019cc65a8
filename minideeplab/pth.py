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

**Budgets** (docs/conventions.md, "Limits and budgets"): a small file must not make the reader
hang or allocate gigabytes, so every size the file claims is checked before it is acted on.
The pickles are scanned opcode by opcode (``pickletools.genops``, which only reads) before
they are run: at most :data:`MAX_PICKLE_BYTES` and :data:`MAX_PICKLE_OPS` opcodes, no
extension codes or out-of-band buffers. The object tree they build is walked with every
shared reference expanded (a "billion laughs" pickle shares 10 references 9 levels deep): at
most ``budgets.MAX_OBJECTS`` objects, :data:`MAX_DEPTH` levels, no cycle. Every storage's
claimed size must match the bytes the file really holds (its zip member, or what is left of a
legacy file) before it is read; the zip members read decompress to at most twice the file's
size plus ``budgets.MAX_EXTRA_BYTES`` (:mod:`minideeplab.budgets`); a tensor has at most as
many elements as its storage (no stride-0 or overlapping expansion), and all the arrays
together take at most :data:`OUTPUT_FACTOR` times the storages' bytes. Sizes beyond a budget
raise :class:`~minideeplab.errors.BudgetExceededError`, a file that contradicts itself
:class:`~minideeplab.errors.FileFormatError`; both name the file.
"""
import io
import math
import mmap
import os
import pickle
import pickletools
import zipfile
from collections import OrderedDict

import numpy as np

from . import budgets
from .errors import BudgetExceededError, FileFormatError

__all__ = ["load_pth", "SafeUnpickler", "UnsafePickleError", "STORAGE_DTYPES",
           "MAX_PICKLE_BYTES", "MAX_PICKLE_OPS", "MAX_DEPTH", "OUTPUT_FACTOR"]

LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
LEGACY_PROTOCOL = 1001

# budgets (measured: the pickle of DeepLabV3-ResNet101's state dict is 93 KB of 23k opcodes, 677
# objects, 1 level deep)
MAX_PICKLE_BYTES = 64 * 2 ** 20     # one pickle (data.pkl or a legacy part)
MAX_PICKLE_OPS = 10 ** 6            # opcodes of one pickle
MAX_DEPTH = 64                      # nesting of dicts, lists and tuples
OUTPUT_FACTOR = 2                   # arrays read: at most this x the storages' bytes (tied weights)
MAX_NDIM = 32                       # dimensions of one tensor (NumPy allows 64)

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

    @property
    def nbytes(self):
        return self.numel * _itemsize(self.dtype)


class _Tensor(_Frozen):
    """A tensor as the pickle describes it; becomes a NumPy array once storages are read."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, _int(offset, "storage offset")
        if not isinstance(size, (tuple, list)) or not isinstance(stride, (tuple, list)) \
                or len(size) != len(stride) or len(size) > MAX_NDIM:
            raise FileFormatError(f"load_pth: a tensor's size and stride must be two tuples of "
                                  f"the same length (at most {MAX_NDIM}), got {size!r:.100} and "
                                  f"{stride!r:.100}")
        self.size = tuple(_int(n, "tensor size") for n in size)
        self.stride = tuple(_int(n, "tensor stride") for n in stride)
        if min(self.size + (0,)) < 0 or min(self.stride + (0,)) < 0 or self.offset < 0:
            raise FileFormatError(f"load_pth: a tensor has a negative size, stride or offset "
                                  f"(size {self.size}, stride {self.stride}, offset {self.offset})")
        self.numel = math.prod(self.size)

    def check(self, where):
        """Refuse a tensor that reaches past its storage or has more elements than it (a
        stride-0 or overlapping expansion)."""
        data = self.storage.data
        if not self.size:
            extent = 1
        else:
            extent = 1 + sum((n - 1) * s for n, s in zip(self.size, self.stride) if n > 0)
        if self.numel == 0:
            return
        if self.offset + extent > data.size:
            raise FileFormatError(f"load_pth: {where}: a tensor of size {self.size}, stride "
                                  f"{self.stride} and offset {self.offset} reaches past its "
                                  f"storage of {data.size} elements")
        if self.numel > data.size:
            raise FileFormatError(f"load_pth: {where}: a tensor of size {self.size} "
                                  f"({self.numel} elements, stride {self.stride}) expands a "
                                  f"storage of {data.size} elements; the tensors of a state "
                                  "dict never repeat their storage's elements")

    def to_numpy(self, where):
        """The tensor as a C-contiguous NumPy array (after :meth:`check`)."""
        self.check(where)
        data = self.storage.data
        if self.numel == 0:
            return np.zeros(self.size, dtype=data.dtype)
        if not self.size:
            return data[self.offset:self.offset + 1].reshape(()).copy()
        view = np.lib.stride_tricks.as_strided(
            data[self.offset:], shape=self.size,
            strides=tuple(s * data.itemsize for s in self.stride), writeable=False)
        return np.ascontiguousarray(view)


def _int(value, what):
    """An int from the pickle (bools and other types refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FileFormatError(f"load_pth: the {what} must be an integer, got {value!r:.100}")
    return value


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    if not isinstance(storage, _StorageRef):
        raise FileFormatError("load_pth: _rebuild_tensor_v2 got no storage")
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
        numel = _int(numel, f"element count of storage {key!r:.50}")
        if numel < 0:
            raise FileFormatError(f"load_pth: {self.source}: storage {key!r:.50} claims "
                                  f"{numel} elements")
        key = str(key)
        ref = self.storages.get(key)
        if ref is None:
            ref = self.storages[key] = _StorageRef(stype.dtype, key, numel)
        elif ref.numel != numel or ref.dtype != stype.dtype:
            raise FileFormatError(f"load_pth: {self.source}: storage {key!r} is described twice, "
                                  "differently")
        return ref


def _allowed_names():
    return ", ".join(sorted(f"{m}.{n}" for m, n in _FUNCTIONS) + ["torch.<Type>Storage"])


_REFUSED_OPCODES = {
    "EXT1": "an extension code (copyreg's registry)", "EXT2": "an extension code (copyreg's "
    "registry)", "EXT4": "an extension code (copyreg's registry)",
    "NEXT_BUFFER": "an out-of-band buffer", "READONLY_BUFFER": "an out-of-band buffer"}


_MEMO_PUTS = ("PUT", "BINPUT", "LONG_BINPUT")


def _scan_pickle(f, source):
    """Check the pickle that starts at ``f``'s position before it is run, and seek back.

    ``pickletools.genops`` only decodes the opcodes (it calls nothing, and a length field
    larger than the data left ends in a ValueError before anything that large is allocated,
    as ``f`` reads at most what is there). Refused: more than :data:`MAX_PICKLE_BYTES` or
    :data:`MAX_PICKLE_OPS`, extension codes and out-of-band buffers, a memo index beyond the
    opcodes read so far (the unpickler would size its memo table by it), a pickle without STOP.
    """
    start = f.tell()
    try:
        for count, (op, arg, pos) in enumerate(pickletools.genops(f), 1):
            if op.name in _REFUSED_OPCODES:
                raise FileFormatError(f"load_pth: {source}: the pickle uses "
                                      f"{_REFUSED_OPCODES[op.name]} (opcode {op.name} at byte "
                                      f"{pos}), which no torch.save file does")
            if op.name in _MEMO_PUTS and not 0 <= int(arg) < count:
                # the unpickler sizes its memo table by the largest index (8 bytes per slot):
                # LONG_BINPUT 2**31 would zero 16 GiB; torch.save numbers them 0, 1, 2, ...
                raise FileFormatError(f"load_pth: {source}: the pickle stores memo entry "
                                      f"{arg} after {count} opcodes (opcode {op.name} at byte "
                                      f"{pos}); a torch.save pickle numbers them in order")
            if count > MAX_PICKLE_OPS or pos - start > MAX_PICKLE_BYTES:
                raise BudgetExceededError(
                    f"load_pth: {source}: the pickle has more than {MAX_PICKLE_OPS} opcodes or "
                    f"{MAX_PICKLE_BYTES // 2 ** 20} MiB (a state dict's has some thousands): "
                    "refused before running it (minideeplab.pth.MAX_PICKLE_OPS)")
    except (ValueError, EOFError, OverflowError) as e:   # genops' words for a broken pickle
        if isinstance(e, FileFormatError):
            raise
        raise FileFormatError(f"load_pth: {source} is damaged or not a torch.save file: its "
                              f"pickle cannot be decoded ({e})") from e
    f.seek(start)


def _load_pickle(f, source):
    """Scan, then run, one pickle from ``f``; returns (object, unpickler)."""
    _scan_pickle(f, source)
    unpickler = SafeUnpickler(f, source)
    return unpickler.load(), unpickler


def _as_numpy(raw, dtype, byteorder, where):
    """Raw storage bytes -> 1-D NumPy array of ``dtype`` (native byte order)."""
    if dtype == "bfloat16":      # the top 16 bits of a float32: exact
        u16 = np.frombuffer(raw, dtype=np.dtype("uint16").newbyteorder(byteorder))
        return (u16.astype(np.uint32) << 16).view(np.float32)
    dt = np.dtype(dtype).newbyteorder(byteorder if np.dtype(dtype).itemsize > 1 else "=")
    if len(raw) % dt.itemsize:
        raise FileFormatError(f"load_pth: {where}: {len(raw)} bytes is not a whole number of "
                              f"{dtype} elements")
    return np.frombuffer(raw, dtype=dt).astype(np.dtype(dtype), copy=True)


def _itemsize(dtype):
    return 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize


class _Materialiser:
    """Turns the unpickled tree into dicts/lists/tuples of NumPy arrays, within the budgets.

    Shared references are walked once per reference (each counts toward ``budgets.MAX_OBJECTS``);
    a tensor referred to twice becomes one array (so ties stay tied). ``storage_bytes``: the
    bytes of every storage read, which bound the arrays' total (:data:`OUTPUT_FACTOR`).
    """

    def __init__(self, source, storage_bytes):
        self.source, self.objects, self.output = source, 0, 0
        self.limit = OUTPUT_FACTOR * storage_bytes + 2 ** 20
        self.arrays = {}                      # id(_Tensor) -> array
        self.path = set()                     # ids of the containers being walked (cycles)

    def __call__(self, obj, where, depth=0):
        """``where``: the source, or (parent's where, key): formatted only for a message."""
        self.objects += 1
        if self.objects > budgets.MAX_OBJECTS:
            raise BudgetExceededError(
                f"load_pth: {self.source} holds more than {budgets.MAX_OBJECTS} objects once its "
                "shared references are expanded (a state dict holds some hundreds): refused "
                "(minideeplab.budgets.MAX_OBJECTS)")
        if isinstance(obj, _Tensor):
            return self.tensor(obj, _where(where))
        if not isinstance(obj, (dict, list, tuple)):
            if isinstance(obj, (_StorageRef, _StorageType)):
                raise FileFormatError(f"load_pth: {_where(where)} is a bare storage, not a "
                                      "tensor")
            return obj
        if depth >= MAX_DEPTH:
            raise BudgetExceededError(f"load_pth: {self.source} nests containers more than "
                                      f"{MAX_DEPTH} deep (a state dict: 3): refused "
                                      "(minideeplab.pth.MAX_DEPTH)")
        if id(obj) in self.path:
            raise FileFormatError(f"load_pth: {_where(where)} contains itself (a cycle); not a "
                                  "state dict")
        self.path.add(id(obj))
        try:
            if isinstance(obj, dict):
                return type(obj)((k, self(v, (where, k), depth + 1)) for k, v in obj.items())
            return type(obj)(self(v, (where, i), depth + 1) for i, v in enumerate(obj))
        finally:
            self.path.discard(id(obj))

    def tensor(self, t, where):
        if id(t) not in self.arrays:
            t.check(where)
            self.output += t.numel * t.storage.data.itemsize
            if self.output > self.limit:
                raise BudgetExceededError(
                    f"load_pth: {where}: the tensors would take more than {OUTPUT_FACTOR} times "
                    f"the bytes of the storages they view ({self.limit} bytes): refused")
            self.arrays[id(t)] = t.to_numpy(where)
        return self.arrays[id(t)]


def _where(where):
    """``source[key][key]...`` from the (parent, key) chain of :class:`_Materialiser`."""
    keys = []
    while isinstance(where, tuple):
        where, key = where
        keys.append(f"[{key!r:.80}]")
    return where + "".join(reversed(keys))


def _read_zip(path):
    with zipfile.ZipFile(path) as z:
        try:
            return _read_zip_members(path, z)
        except OSError as e:       # a seek or read at an offset the damaged directory gives
            raise FileFormatError(f"load_pth: {path} is damaged: its zip directory points "
                                  f"outside the file ({type(e).__name__}: {e})") from e


def _read_zip_members(path, z):
    """The members of an open torch.save zip (see :func:`_read_zip`)."""
    infos = {i.filename: i for i in z.infolist()}
    pkl = [n for n in infos if n.endswith("data.pkl") and n.count("/") == 1]
    if len(pkl) != 1:
        raise FileFormatError(f"load_pth: {path} is a zip archive without one "
                              "<name>/data.pkl; not a torch.save file")
    root = pkl[0][:-len("data.pkl")]
    byteorder = "little"
    if f"{root}byteorder" in infos:
        byteorder = _read_member(z, infos[f"{root}byteorder"], path, 16).decode(
            "ascii", "replace").strip()
    if byteorder not in ("little", "big"):
        raise FileFormatError(f"load_pth: {path}: unknown byteorder {byteorder!r:.40}")
    obj, unpickler = _load_pickle(
        io.BytesIO(_read_member(z, infos[pkl[0]], path, MAX_PICKLE_BYTES)), path)
    order = "<" if byteorder == "little" else ">"
    members = []
    for key, ref in unpickler.storages.items():
        info = infos.get(f"{root}data/{key}")
        if info is None:
            raise FileFormatError(f"load_pth: {path} lacks the storage {root}data/{key}")
        if info.file_size != ref.nbytes:
            raise FileFormatError(f"load_pth: {path}: storage {key!r} claims {ref.numel} "
                                  f"{ref.dtype} elements ({ref.nbytes} bytes) but its "
                                  f"member holds {info.file_size} bytes")
        members.append((ref, info))
    total = sum(info.file_size for _, info in members)
    budgets.check_decompressed("load_pth", path, total)
    for ref, info in members:
        ref.data = _as_numpy(_read_member(z, info, path, info.file_size), ref.dtype, order,
                             f"{path}:{info.filename}")
    return obj, total


def _read_member(z, info, path, limit):
    """A zip member's bytes, refused before reading if it claims more than ``limit``.

    Read as ``read(claimed size)``: zipfile then decompresses at most that many bytes and
    checks the CRC. (``ZipFile.read`` decompressed each whole chunk of the stream first: a
    1 MB member whose directory entry claims 96 bytes took 5 s and 2 GiB before its CRC failed.)
    """
    if info.file_size > limit:
        raise BudgetExceededError(f"load_pth: {path}: {info.filename} claims {info.file_size} "
                                  f"bytes, more than {limit} (minideeplab.pth.MAX_PICKLE_BYTES)")
    with z.open(info) as member:
        return member.read(info.file_size)


def _read_legacy(path, f):
    """The legacy stream, from ``f``: an mmap of the file (reads stop at its end, so no length
    field can make them allocate more than the file holds)."""
    magic, _ = _load_pickle(f, path)
    if magic != LEGACY_MAGIC:
        raise FileFormatError(f"load_pth: {path} is neither a zip archive nor a legacy torch.save "
                              "file (wrong magic number); the pre-0.4 tar format is not supported")
    protocol, _ = _load_pickle(f, path)
    if protocol != LEGACY_PROTOCOL:
        raise FileFormatError(f"load_pth: {path}: legacy protocol {protocol!r:.40}, expected "
                              f"{LEGACY_PROTOCOL}")
    sys_info, _ = _load_pickle(f, path)
    little = sys_info.get("little_endian", True) if isinstance(sys_info, dict) else True
    order = "<" if little else ">"
    obj, unpickler = _load_pickle(f, path)
    keys, _ = _load_pickle(f, path)
    if not isinstance(keys, list):
        raise FileFormatError(f"load_pth: {path}: the storage-key list is missing")
    total = 0
    for key in keys:
        ref = unpickler.storages.get(str(key))
        count = np.frombuffer(f.read(8), dtype=np.dtype("int64").newbyteorder(order))
        if ref is None or count.size != 1:
            raise FileFormatError(f"load_pth: {path}: storage {key!r:.50} is listed but not used, "
                                  "or the file is truncated")
        left = len(f) - f.tell()
        nbytes = int(count[0]) * _itemsize(ref.dtype)
        if int(count[0]) != ref.numel:
            raise FileFormatError(f"load_pth: {path}: storage {key!r:.50} holds {int(count[0])} "
                                  f"elements but the pickle says {ref.numel}")
        if not 0 <= nbytes <= left:
            raise FileFormatError(f"load_pth: {path}: storage {key!r:.50} claims {int(count[0])} "
                                  f"{ref.dtype} elements ({nbytes} bytes) but {left} bytes are "
                                  "left in the file")
        ref.data = _as_numpy(f.read(nbytes), ref.dtype, order, f"{path}:{key}")
        total += nbytes
    missing = [k for k, ref in unpickler.storages.items() if ref.data is None]
    if missing:
        raise FileFormatError(f"load_pth: {path}: storages {missing[:10]} are referred to but "
                              "absent")
    return obj, total


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
    FileFormatError : not a torch.save file, a damaged one, or one that contradicts itself
    BudgetExceededError : a size beyond the reader's budgets (see the module doc)
    """
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isfile(path):   # a folder, FIFO, device, socket
        raise FileFormatError(f"load_pth: {path!r} is not a regular file; reading it could "
                              "wait or run forever")
    try:
        if zipfile.is_zipfile(path):
            obj, storage_bytes = _read_zip(path)
        else:
            with open(path, "rb") as raw:
                if os.fstat(raw.fileno()).st_size == 0:
                    raise FileFormatError(f"load_pth: {path} is empty")
                with mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_READ) as f:
                    obj, storage_bytes = _read_legacy(path, f)
    except (FileFormatError, BudgetExceededError):  # ours, UnsafePickleError included
        raise
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile,
            KeyError, IndexError, TypeError, AttributeError, ValueError, OverflowError,
            RecursionError, UnicodeDecodeError, NotImplementedError) as e:
        raise FileFormatError(f"load_pth: {path} is damaged or not a torch.save file "
                              f"({type(e).__name__}: {str(e)[:200]})") from e
    if not isinstance(obj, dict):
        raise FileFormatError(f"load_pth: {path} holds a {type(obj).__name__}, not a state dict "
                              "(save model.state_dict(), not the model)")
    return _Materialiser(path, storage_bytes)(obj, path)
