"""A strict CuPy stand-in: the test suite's GPU device, on the CPU.

``MINIDEEPLAB_CUPY_STANDIN=standin`` (set by conftest.py when the device list holds
``standin``) makes ``minideeplab.backend`` take :data:`cupy`, :data:`cupyx` and
``cupyx.scipy.sparse`` from this module instead of importing CuPy, so the library code under
test is the code that runs on a GPU, byte for byte, and "gpu" means this device.

It computes with NumPy (and scipy.sparse) underneath, but follows CuPy's rules wherever they
differ from NumPy's, so that code which passes here does not break on a real GPU:

* its arrays are their own type (:class:`ndarray`); ``numpy.asarray(a)``, ``np.array(a)``,
  ``a.__array__()`` and passing ``a`` to a NumPy function or ufunc raise ``TypeError``, as
  CuPy's arrays do for the conversions (CuPy hands NumPy calls that it also implements to
  itself; the stand-in refuses them all: the library takes its functions from ``xp``);
* mixing it with a NumPy array in one operation is a ``TypeError`` (CuPy: "Unsupported
  type"); NumPy arrays and lists are accepted only where CuPy copies them to the device
  (``asarray``/``array``, index arrays);
* reductions and element indexing return 0-d device arrays, never Python or NumPy scalars;
* ``.get()`` and ``asnumpy`` are the only ways to the host; the calls that need a value on
  the host are the ones in ``backend.SYNC_METHODS`` and ``backend.SYNC_FUNCTIONS`` (plus
  boolean-mask indexing and the functions that CuPy implements with such calls, e.g.
  ``bincount``), each made through those methods, so ``syncs.count_syncs(xp.ndarray, xp)``
  counts them here exactly as on ``cupy.ndarray``;
* its namespaces (``cupy``, ``cupy.random``, ``cupy.cuda``, ``cupyx``,
  ``cupyx.scipy.sparse`` and the methods of its array and matrix classes) offer only the
  names that real CuPy 13 and 14 both offer (``fixtures/cupy_names.json``, made by
  ``fixtures/make_cupy_names.py`` from the released packages); anything else is an
  ``AttributeError``, and a name CuPy has but the stand-in does not emulate (kernels, streams)
  is a ``NotImplementedError`` naming it;
* CuPy's own behaviour where the library meets it: ``bincount`` refuses an empty input (CuPy
  13) and syncs to size its output; ``add.at`` exists, ``cupyx.scatter_add`` too; sparse
  constructors take device arrays only, store float32/float64/complex/bool data and int32
  indices, and a CSR matrix whose canonical form is unknown checks it on the device (a sync)
  at its first product; random numbers come from ``cupy.random.Generator`` (a Philox
  generator here too, not CuPy's stream); dtype promotion is NumPy 2's (NEP 50), which
  CuPy 14 follows.

The stand-in is test code: nothing in ``minideeplab/`` imports it, and it claims no speed.
"""
import functools
import json
import os
import types

import numpy as np
import scipy.sparse

from minideeplab.backend import SYNC_FUNCTIONS, SYNC_METHODS

__all__ = ["cupy", "cupyx", "ndarray", "NAMES", "VERSIONS"]

_FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures",
                        "cupy_names.json")


def _load_names():
    """{namespace or class: set of names} offered by every recorded CuPy version."""
    with open(_FIXTURE) as f:
        versions = json.load(f)["versions"]
    names = {}
    for section in versions.values():
        for group in ("modules", "classes"):
            for space, found in section[group].items():
                found = set(found)
                names[space] = names[space] & found if space in names else found
    kinds = {space: {n: k for n, k in found.items() if n in names[space]}
             for space, found in next(iter(versions.values()))["modules"].items()}
    return names, kinds, sorted(versions)


NAMES, _KINDS, VERSIONS = _load_names()


# ---------------------------------------------------------------------------- moving values
def _mixing_error(value, where):
    return TypeError(f"{where}: a {type(value).__module__}.{type(value).__name__} mixed with "
                     "device arrays (CuPy: Unsupported type); move it with "
                     "backend.to_device(x, 'gpu') first")


def _dev(value, where="cupy"):
    """A device value's NumPy data, for computing; refuses host arrays like CuPy does."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, np.ndarray):
        raise _mixing_error(value, where)
    if isinstance(value, (list, tuple)):
        return type(value)(_dev(v, where) for v in value)
    if isinstance(value, _SparseMatrix):
        return value._m
    if scipy.sparse.issparse(value):
        raise _mixing_error(value, where)
    return value


def _dev_kwargs(kwargs, where):
    return {k: _dev(v, where) for k, v in kwargs.items()}


def _wrap(result):
    """NumPy results as device arrays (NumPy scalars as 0-d arrays, as CuPy returns)."""
    if isinstance(result, np.ndarray):
        return ndarray._of(result)
    if isinstance(result, np.generic):
        return ndarray._of(np.asarray(result))
    if isinstance(result, tuple):
        return tuple(_wrap(r) for r in result)
    if isinstance(result, list):
        return [_wrap(r) for r in result]
    if scipy.sparse.issparse(result):
        return _SparseMatrix._of(result)
    return result


def _call(fn, where, args, kwargs):
    """``fn`` on device values; an ``out=`` array is filled and returned as itself."""
    out = kwargs.get("out")
    if out is not None and not isinstance(out, ndarray):
        raise _mixing_error(out, where)
    result = fn(*_dev(args, where), **_dev_kwargs(kwargs, where))
    return out if out is not None else _wrap(result)


def _not_emulated(name):
    def refuse(*args, **kwargs):
        raise NotImplementedError(f"{name} exists in CuPy but the CuPy stand-in does not "
                                  "emulate it (no CUDA here)")
    refuse.__name__ = name.rpartition(".")[2]
    return refuse


# ---------------------------------------------------------------------------- the array
class ndarray:
    """A device array: NumPy data kept out of NumPy's reach (see the module docstring)."""

    __slots__ = ("_a",)
    __array_priority__ = 100
    __array_ufunc__ = None          # NumPy ufuncs refuse it; NumPy's operators defer to it

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        self._a = np.empty(shape, dtype=dtype, order=order)

    @classmethod
    def _of(cls, a):
        obj = object.__new__(cls)
        obj._a = a
        return obj

    # -- what NumPy and Python may not do with it
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(f"{func.__module__}.{func.__name__} called on a device array: take "
                        "the function from xp = backend.get_array_module(x)")

    # -- attributes that cost nothing (shape and dtype live on the host in CuPy too)
    shape = property(lambda self: self._a.shape, lambda self, s: setattr(self._a, "shape", s))
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray._of(self._a.T))
    real = property(lambda self: ndarray._of(self._a.real))
    imag = property(lambda self: ndarray._of(self._a.imag))
    base = property(lambda self: None if self._a.base is None else ndarray._of(self._a.base))
    device = property(lambda self: _Device(0))

    def __len__(self):
        return len(self._a)

    def __iter__(self):                                  # device rows, no sync
        return (ndarray._of(row) for row in self._a)

    __hash__ = None

    # -- the ways to the host (each one a sync on a GPU)
    def get(self, stream=None, order="C", out=None, blocking=True):
        host = np.array(self._a, order=order)
        if out is not None:
            out[...] = host
            return out
        return host

    def set(self, arr, stream=None):
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"set: a numpy.ndarray is needed, got {type(arr).__name__}")
        self._a[...] = arr

    def __bool__(self):
        return bool(self.get())

    def __int__(self):
        return int(self.get())

    def __float__(self):
        return float(self.get())

    def __complex__(self):
        return complex(self.get())

    def item(self):
        return self.get().item()

    def tolist(self):
        return self.get().tolist()

    def tobytes(self, order="C"):
        return self.get().tobytes(order)

    def nonzero(self):
        return tuple(ndarray._of(i) for i in np.nonzero(self.get()))

    def compress(self, condition, axis=None, out=None):
        keep = condition.nonzero()[0] if isinstance(condition, ndarray) else \
            np.nonzero(np.asarray(condition))[0]
        return self.take(keep, axis=axis)

    def __format__(self, spec):
        return format(self.get() if self.ndim else self.get().item(), spec)

    def __repr__(self):
        return repr(self.get())

    def __str__(self):
        return str(self.get())

    def __reduce__(self):                                # pickling copies to the host
        return (_from_host, (self.get(),))

    # -- indexing
    def __getitem__(self, key):
        key = _index(key)
        if _has_mask(key):
            return _wrap(self._a[_mask_key(self, key)])
        return _wrap(self._a[key])

    def __setitem__(self, key, value):
        if isinstance(value, np.ndarray) and value.ndim:
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill (CuPy: "
                             "a NumPy array assigned into a device array)")
        self._a[_index(key)] = _dev(value, "ndarray.__setitem__")

    def __deepcopy__(self, memo):
        return ndarray._of(self._a.copy())

    def __copy__(self):
        return ndarray._of(self._a.copy())

    # -- CuPy's scatter methods
    def scatter_add(self, slices, value):
        np.add.at(self._a, _index(slices), _dev(value, "scatter_add"))

    def scatter_max(self, slices, value):
        np.maximum.at(self._a, _index(slices), _dev(value, "scatter_max"))

    def scatter_min(self, slices, value):
        np.minimum.at(self._a, _index(slices), _dev(value, "scatter_min"))


def _from_host(a):
    return ndarray._of(a)


def _index(key):
    """An index with device arrays as NumPy data; lists and NumPy arrays are taken as CuPy
    takes them (copied to the device)."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, ndarray):
        return key._a
    if isinstance(key, _SparseMatrix) or scipy.sparse.issparse(key):
        raise IndexError("a sparse matrix is not an index")
    return key


def _has_mask(key):
    keys = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, np.ndarray) and k.dtype == bool for k in keys)


def _mask_key(array, key):
    """Boolean-mask indexing, as CuPy does it: one mask at most, alone among the index
    arrays, and the result's size read on the host (a sync, through ``nonzero``)."""
    keys = key if isinstance(key, tuple) else (key,)
    arrays = [k for k in keys if isinstance(k, np.ndarray)]
    if len(arrays) != 1:
        raise ValueError("currently, CuPy only supports slices that consist of one boolean "
                         "array.")
    ndarray._of(arrays[0]).nonzero()                     # the host learns the result's size
    return key


def _method(name):
    numpy_method = getattr(np.ndarray, name)

    def method(self, *args, **kwargs):
        return _call(functools.partial(numpy_method, self._a), f"ndarray.{name}", args, kwargs)
    method.__name__ = name
    return method


def _operator(name):
    def method(self, *other):
        where = f"ndarray.{name}"
        return _wrap(getattr(self._a, name)(*_strict_operands(other, where)))
    method.__name__ = name
    return method


def _inplace(name):
    def method(self, other):
        getattr(self._a, name)(*_strict_operands((other,), f"ndarray.{name}"))
        return self
    method.__name__ = name
    return method


def _strict_operands(values, where):
    """Operands of an arithmetic operator or ufunc: device arrays and scalars only."""
    out = []
    for v in values:
        if isinstance(v, ndarray):
            out.append(v._a)
        elif isinstance(v, (np.ndarray, list, tuple)) or scipy.sparse.issparse(v):
            raise _mixing_error(v, where)
        else:
            out.append(v)
    return out


_OPERATORS = ("add radd sub rsub mul rmul truediv rtruediv floordiv rfloordiv mod rmod pow "
              "rpow divmod rdivmod matmul rmatmul and rand or ror xor rxor lshift rlshift "
              "rshift rrshift lt le gt ge eq ne neg pos abs invert").split()
_INPLACE = "iadd isub imul itruediv ifloordiv imod ipow iand ior ixor ilshift irshift".split()


def _build_ndarray():
    offered = NAMES["cupy.ndarray"]
    defined = set(vars(ndarray))
    for name in _OPERATORS:
        dunder = f"__{name}__"
        if dunder in offered:
            setattr(ndarray, dunder, _operator(dunder))
    for name in _INPLACE:
        dunder = f"__{name}__"
        if dunder in offered:
            setattr(ndarray, dunder, _inplace(dunder))
    for name in offered:
        if name.startswith("_") or name in defined:
            continue
        if name == "ptp":                               # gone from NumPy 2's ndarray
            setattr(ndarray, name, lambda self, *a, **k: _call(np.ptp, "ndarray.ptp",
                                                               (self,) + a, k))
        elif callable(getattr(np.ndarray, name, None)):
            setattr(ndarray, name, _method(name))
        elif name not in defined:
            setattr(ndarray, name, property(_not_emulated(f"cupy.ndarray.{name}")))
    for name in list(vars(ndarray)):                     # nothing CuPy's ndarray lacks
        if not name.startswith("_") and name not in offered:
            delattr(ndarray, name)
    missing = [n for n in SYNC_METHODS if n in offered and n not in vars(ndarray)]
    assert not missing, f"the stand-in lacks syncing methods {missing}"


_build_ndarray()


# ---------------------------------------------------------------------------- ufuncs
class ufunc:
    """A CuPy ufunc: device arrays and scalars in, device arrays out."""

    def __init__(self, np_ufunc):
        self._u = np_ufunc
        self.name, self.nin, self.nout, self.nargs = (np_ufunc.__name__, np_ufunc.nin,
                                                      np_ufunc.nout, np_ufunc.nargs)
        self.types = np_ufunc.types
        self.__name__ = np_ufunc.__name__

    def __repr__(self):
        return f"<ufunc '{self.name}' (CuPy stand-in)>"

    def _run(self, fn, where, args, kwargs):
        out = kwargs.get("out")
        if isinstance(out, tuple):
            out = out[0] if len(out) == 1 else out
        if out is not None and not isinstance(out, ndarray):
            raise _mixing_error(out, where)
        kwargs = _dev_kwargs({k: v for k, v in kwargs.items() if k != "out"}, where)
        if out is not None:
            kwargs["out"] = out._a
        result = fn(*_strict_operands(args, where), **kwargs)
        return out if out is not None else _wrap(result)

    def __call__(self, *args, **kwargs):
        return self._run(self._u, f"cupy.{self.name}", args, kwargs)

    def reduce(self, array, *args, **kwargs):
        return self._run(self._u.reduce, f"cupy.{self.name}.reduce", (array,) + args, kwargs)

    def accumulate(self, array, *args, **kwargs):
        return self._run(self._u.accumulate, f"cupy.{self.name}.accumulate", (array,) + args,
                         kwargs)

    def outer(self, a, b, **kwargs):
        return self._run(self._u.outer, f"cupy.{self.name}.outer", (a, b), kwargs)

    def reduceat(self, array, indices, *args, **kwargs):
        return self._run(self._u.reduceat, f"cupy.{self.name}.reduceat",
                         (array, indices) + args, kwargs)

    def at(self, a, indices, b=None):
        if not isinstance(a, ndarray):
            raise _mixing_error(a, f"cupy.{self.name}.at")
        extra = () if b is None else (_strict_operands((b,), f"cupy.{self.name}.at")[0],)
        self._u.at(a._a, _index(indices), *extra)


for _name in list(vars(ufunc)):
    if not _name.startswith("_") and _name not in NAMES["cupy.ufunc"] | {"name"}:
        delattr(ufunc, _name)


# ---------------------------------------------------------------------------- the namespace
class _Namespace(types.ModuleType):
    """A module that offers only the names listed for it: anything else is an
    AttributeError naming the real CuPy versions the list came from."""

    def __init__(self, name, offered):
        super().__init__(name)
        object.__setattr__(self, "_offered", frozenset(offered))

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(f"module '{self.__name__}' has no attribute '{name}' (not in "
                             f"CuPy {' and '.join(VERSIONS)}: the CuPy stand-in offers only "
                             "CuPy's names)")


def _offered(space, special):
    """Namespace ``space`` with ``special``'s values; its other names refuse to be called."""
    module = _Namespace(space, NAMES[space])
    for name in NAMES[space]:
        setattr(module, name, special.get(name) or _not_emulated(f"{space}.{name}"))
    return module


def _namespace(space, special, numpy_space=np):
    """Build namespace ``space`` (e.g. "cupy") from its offered names: ``special`` first,
    then NumPy's function/ufunc/type/constant of the same name, else a refusal."""
    module = _Namespace(space, NAMES[space])
    for name in sorted(NAMES[space]):
        kind = _KINDS[space][name]
        if name in special:
            value = special[name]
        elif kind == "module":
            continue                                    # submodules are attached below
        elif kind in ("type", "constant") and hasattr(numpy_space, name):
            value = getattr(numpy_space, name)           # dtypes, pi, inf, newaxis: NumPy's
        elif kind == "constant":
            continue
        elif isinstance(getattr(numpy_space, name, None), np.ufunc):
            value = ufunc(getattr(numpy_space, name))
        elif kind in ("function", "ufunc") and callable(getattr(numpy_space, name, None)):
            value = _function(f"{space}.{name}", getattr(numpy_space, name))
        else:
            value = _not_emulated(f"{space}.{name}")
        setattr(module, name, value)
    return module


def _function(where, numpy_function):
    name = where.rpartition(".")[2]
    if where in {f"cupy.{n}" for n in SYNC_FUNCTIONS}:   # the result's size needs the values
        def fn(*args, **kwargs):
            _dev(args, where)                            # refuses host arrays
            host = tuple(a.get() if isinstance(a, ndarray) else a for a in args)
            return _wrap(numpy_function(*host, **_dev_kwargs(kwargs, where)))
    else:
        def fn(*args, **kwargs):
            return _call(numpy_function, where, args, kwargs)
    fn.__name__ = name
    fn.__qualname__ = where
    return fn


def _asarray(a, dtype=None, order=None, *, blocking=False):
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    if isinstance(a, _SparseMatrix) or scipy.sparse.issparse(a):
        raise ValueError("asarray: a sparse matrix (CuPy: use .toarray())")
    data = _dev(a, "cupy.asarray") if isinstance(a, (list, tuple)) else a
    return ndarray._of(np.array(data, dtype=dtype, order=order or "K"))


def _array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    if isinstance(obj, ndarray):
        return ndarray._of(np.array(obj._a, dtype=dtype, copy=copy, order=order, ndmin=ndmin))
    return _asarray(obj, dtype=dtype, order=order) if not ndmin else \
        ndarray._of(np.array(_dev(obj) if isinstance(obj, (list, tuple)) else obj,
                             dtype=dtype, ndmin=ndmin))


def _asnumpy(a, stream=None, order="C", out=None, blocking=True):
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def _get_array_module(*args):
    for a in args:
        if isinstance(a, (ndarray, _SparseMatrix)):
            return cupy
    return np


def _bincount(x, weights=None, minlength=None):
    """CuPy's bincount: checks and sizes on the host (two syncs), refuses an empty input
    (CuPy 13: the maximum of nothing)."""
    if not isinstance(x, ndarray):
        raise _mixing_error(x, "cupy.bincount")
    if x.ndim != 1:
        raise ValueError("object too deep for desired array" if x.ndim > 1 else
                         "object of too small depth for desired array")
    if x.dtype.kind == "f":
        raise TypeError("x must be int array")
    if (x < 0).any():                                    # synchronize!
        raise ValueError("The first argument of bincount must be non-negative")
    if weights is not None and x.shape != weights.shape:
        raise ValueError("The weights and list don't have the same length.")
    if x.size == 0:
        raise ValueError("zero-size array to reduction operation maximum which has no "
                         "identity (CuPy 13's bincount of an empty array)")
    size = int(x.max()) + 1                              # synchronize!
    size = size if minlength is None else max(size, int(minlength))
    return _call(np.bincount, "cupy.bincount", (x,), dict(weights=weights, minlength=size))


def _where(condition, *xy):
    if not xy:                                           # the positions: a sync (nonzero)
        if not isinstance(condition, ndarray):
            raise _mixing_error(condition, "cupy.where")
        return condition.nonzero()
    return _call(np.where, "cupy.where", (condition,) + xy, {})


# -- cupy.random: a Philox generator driven by a seed, as the library uses it
class _BitGenerator:
    def __init__(self, seed=None):
        self._numpy = np.random.Philox(seed)


class _Generator:
    """``cupy.random.Generator(bit_generator)``: numbers made "on the device"."""

    def __init__(self, bit_generator):
        self._rng = np.random.Generator(bit_generator._numpy)

    def random(self, size=None, dtype=np.float64, out=None):
        values = self._rng.random(size, dtype=dtype)
        if out is not None:
            out[...] = ndarray._of(values)
            return out
        return ndarray._of(np.asarray(values))

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        return ndarray._of(np.asarray(self._rng.standard_normal(size, dtype=dtype)))

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return ndarray._of(np.asarray(self._rng.integers(low, high, size, dtype=dtype,
                                                         endpoint=endpoint)))


def _random_namespace():
    return _offered("cupy.random", {"Generator": _Generator, "Philox4x3210": _BitGenerator})


# -- cupy.cuda: one device, synchronous streams
class _Device:
    def __init__(self, device=None):
        self.id = 0

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __repr__(self):
        return "<CUDA Device 0 (CuPy stand-in)>"


class _Stream:
    def synchronize(self):
        pass


class _MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


def _runtime_namespace():
    properties = {"name": b"CuPy stand-in (NumPy on the CPU)", "totalGlobalMem": 0,
                  "major": 0, "minor": 0, "multiProcessorCount": 0}
    special = {"getDeviceCount": lambda: 1, "getDevice": lambda: 0,
               "getDeviceProperties": lambda device: dict(properties),
               "runtimeGetVersion": lambda: 12000, "driverGetVersion": lambda: 12000,
               "deviceSynchronize": lambda: None}
    return _offered("cupy.cuda.runtime", special)


def _cuda_namespace():
    stream = _Stream()
    return _offered("cupy.cuda", {"Device": _Device, "get_current_stream": lambda *a: stream,
                                  "runtime": _runtime_namespace(), "is_available": lambda: True})


def _cupy_namespace():
    pool = _MemoryPool()
    special = {
        "ndarray": ndarray, "ufunc": ufunc, "asarray": _asarray, "array": _array,
        "asnumpy": _asnumpy, "get_array_module": _get_array_module, "bincount": _bincount,
        "where": _where,
        "get_default_memory_pool": lambda: pool,
        "get_default_pinned_memory_pool": lambda: pool,
        "show_config": lambda *a, **k: print("CuPy stand-in (NumPy on the CPU)"),
    }
    module = _namespace("cupy", special)
    module.__version__ = f"stand-in for {' and '.join(VERSIONS)}"
    module.random = _random_namespace()
    module.cuda = _cuda_namespace()
    module.linalg = _namespace("cupy.linalg", {}, np.linalg)
    return module


cupy = _cupy_namespace()

from sparse_standin import _SparseMatrix, sparse_namespace  # noqa: E402


def _scatter_add(a, slices, value):
    """``cupyx.scatter_add``: ``a[slices] += value`` with repeated indices accumulated."""
    if not isinstance(a, ndarray):
        raise _mixing_error(a, "cupyx.scatter_add")
    a.scatter_add(slices, value)


def _cupyx_namespace():
    module = _Namespace("cupyx", NAMES["cupyx"])
    for name in NAMES["cupyx"]:
        if name not in ("scipy",):
            setattr(module, name, _not_emulated(f"cupyx.{name}"))
    module.scatter_add = _scatter_add
    module.scatter_max = lambda a, s, v: a.scatter_max(s, v)
    module.scatter_min = lambda a, s, v: a.scatter_min(s, v)
    scipy_module = _Namespace("cupyx.scipy", NAMES["cupyx.scipy"])
    scipy_module.sparse = sparse_namespace()
    module.scipy = scipy_module
    return module


cupyx = _cupyx_namespace()
