"""``cupyx.scipy.sparse`` for the CuPy stand-in (standin.py): scipy.sparse underneath, CuPy's
rules on top.

* constructors take device arrays (``standin.ndarray``) or a scipy matrix (a copy to the
  device); NumPy arrays are refused; data must be bool, float32, float64, complex64 or
  complex128 (CuPy refuses the rest) and indices are stored as int32, as CuPy 13 stores them;
* ``data``, ``indices``, ``indptr`` (``row``, ``col``) are device arrays sharing the matrix's
  memory, and can be replaced;
* building a CSR/CSC matrix from its (data, indices, indptr) arrays reads ``indptr``'s two
  ends on the host (CuPy 14 validates them: a sync), a COO matrix from (data, (row, col))
  checks its indices' bounds on the host (CuPy 13: four syncs); a CSR/CSC matrix whose
  canonical form is unknown (built from its arrays and not marked ``has_canonical_format =
  True``) checks it on the device at its first product or on the first read of the flag (CuPy
  13 and 14: a sync); both are made through the array's syncing methods, so the sync counter
  sees them;
* ``.get()`` is the way to the host; products with a dense device array give a device array;
* the methods are the ones every recorded CuPy version's matrix classes offer
  (``fixtures/cupy_names.json``); others are an AttributeError.
"""
import numpy as np
import scipy.sparse

import standin
from standin import NAMES, _mixing_error, _not_emulated, _offered, ndarray

_DTYPES = "?fdFD"
_ARITHMETIC = {f"__{n}__" for n in "abs pos pow rpow rtruediv lt gt le ge ne eq getitem round "
               "iadd isub imul itruediv".split()}
_FORMATS = ("csr", "csc", "coo", "dia")


def _device(a):
    return ndarray._of(a)


class _SparseMatrix:
    """A cupyx.scipy.sparse matrix: ``_m`` is the scipy matrix holding the values."""

    format = None
    __array_priority__ = 101
    __array_ufunc__ = None

    def __init__(self, arg1, shape=None, dtype=None, copy=False):
        if isinstance(arg1, _SparseMatrix):
            m = arg1._m.asformat(self.format, copy=copy)
        elif scipy.sparse.issparse(arg1):                # from the host: a copy, allowed
            m = arg1.asformat(self.format, copy=True)
        elif isinstance(arg1, tuple) and len(arg1) == 2 and isinstance(arg1[0], int):
            m = getattr(scipy.sparse, f"{self.format}_matrix")(arg1, dtype=dtype or "d")
        elif isinstance(arg1, tuple):
            arrays = _device_arrays(arg1, type(self).__name__)
            if len(arrays) == 3 and arrays[2].size:      # CuPy 14 reads indptr's two ends
                _device(np.stack([arrays[2][0], arrays[2][-1]])).get()       # synchronize!
            if len(arrays) == 2 and arrays[0].size and shape is not None:
                row, col = (_device(a) for a in arrays[1])    # CuPy 13 checks the bounds
                for bad in (row.max() >= shape[0], col.max() >= shape[1], row.min() < 0,
                            col.min() < 0):
                    if bad:                                            # synchronize!
                        raise ValueError("index exceeds matrix dimensions or is negative")
            m = getattr(scipy.sparse, f"{self.format}_matrix")(arrays, shape=shape, copy=copy)
        elif isinstance(arg1, ndarray):
            m = getattr(scipy.sparse, f"{self.format}_matrix")(arg1._a)
        else:
            raise _mixing_error(arg1, f"cupyx.scipy.sparse.{type(self).__name__}")
        dtype = np.dtype(dtype) if dtype is not None else m.dtype
        if dtype.char not in _DTYPES:
            raise ValueError("Only bool, float32, float64, complex64 and complex128 are "
                             "supported")
        m = m.astype(dtype, copy=False)
        _int32_indices(m)
        self._m = m
        self._canonical = None if self.format in ("csr", "csc") and isinstance(
            arg1, tuple) and len(arg1) == 3 else getattr(m, "has_canonical_format", True)

    @classmethod
    def _of(cls, m):
        kind = _CLASSES.get(m.format)
        if kind is None:
            raise NotImplementedError(f"a {m.format} matrix (cupyx.scipy.sparse has no "
                                      f"{m.format}_matrix)")
        obj = object.__new__(kind)
        _int32_indices(m)
        obj._m = m
        obj._canonical = getattr(m, "has_canonical_format", True)
        return obj

    def __repr__(self):
        return f"<{self.shape[0]}x{self.shape[1]} {self.format} matrix (CuPy stand-in)>"

    # -- the host
    def get(self, stream=None):
        return self._m.copy()

    # -- what lives on the host in CuPy too
    shape = property(lambda self: self._m.shape)
    dtype = property(lambda self: self._m.dtype)
    nnz = property(lambda self: self._m.nnz)
    ndim = property(lambda self: 2)
    size = property(lambda self: self._m.nnz)

    # -- the device arrays
    def _array_property(name):
        def get(self):
            return _device(getattr(self._m, name))

        def set_(self, value):
            if not isinstance(value, ndarray):
                raise _mixing_error(value, f"{type(self).__name__}.{name}")
            setattr(self._m, name, value._a)
        return property(get, set_)
    data = _array_property("data")
    indices = _array_property("indices")
    indptr = _array_property("indptr")
    row = _array_property("row")
    col = _array_property("col")
    offsets = _array_property("offsets")
    del _array_property

    # -- canonical form: known, or checked on the device (a sync)
    @property
    def has_canonical_format(self):
        if self._canonical is None:
            self._canonical = bool(_device(np.asarray(self._m.has_canonical_format)))
        return self._canonical

    @has_canonical_format.setter
    def has_canonical_format(self, value):
        self._canonical = bool(value)
        self._m.has_canonical_format = bool(value)

    @property
    def has_sorted_indices(self):
        if self._canonical:
            return True
        return bool(_device(np.asarray(self._m.has_sorted_indices)))

    @has_sorted_indices.setter
    def has_sorted_indices(self, value):
        self._m.has_sorted_indices = bool(value)

    def sum_duplicates(self):
        if self.format in ("csr", "csc") and self.has_canonical_format:
            return
        self._m.sum_duplicates()
        self._canonical = True

    def sort_indices(self):
        self._m.sort_indices()

    # -- products and arithmetic
    def _operand(self, other, where):
        if isinstance(other, _SparseMatrix):
            return other._m
        if isinstance(other, ndarray):
            return other._a
        if isinstance(other, np.ndarray) or scipy.sparse.issparse(other):
            raise _mixing_error(other, where)
        return other

    def _product(self, other, where):
        if self.format in ("csr", "csc"):
            self.sum_duplicates()
        if isinstance(other, _SparseMatrix) and other.format in ("csr", "csc"):
            other.sum_duplicates()
        return _result(self._m @ self._operand(other, where))

    def __matmul__(self, other):
        return self._product(other, f"{type(self).__name__}.__matmul__")

    def dot(self, other):
        return self._product(other, f"{type(self).__name__}.dot")

    def __mul__(self, other):
        if np.isscalar(other) or isinstance(other, ndarray) and other.ndim == 0:
            return _result(self._m * self._operand(other, "__mul__"))
        return self._product(other, f"{type(self).__name__}.__mul__")

    def __rmul__(self, other):
        if np.isscalar(other):
            return _result(self._m * other)
        raise _mixing_error(other, f"{type(self).__name__}.__rmul__")

    def __rmatmul__(self, other):
        raise _mixing_error(other, f"{type(self).__name__}.__rmatmul__")

    def _binary(name):
        def op(self, other):
            return _result(getattr(self._m, name)(self._operand(other, name)))
        op.__name__ = name
        return op
    __add__ = _binary("__add__")
    __radd__ = _binary("__radd__")
    __sub__ = _binary("__sub__")
    __rsub__ = _binary("__rsub__")
    __truediv__ = _binary("__truediv__")
    multiply = _binary("multiply")
    maximum = _binary("maximum")
    minimum = _binary("minimum")
    del _binary

    def __neg__(self):
        return _result(-self._m)

    @property
    def T(self):
        return self.transpose()

    def transpose(self, axes=None, copy=False):
        return _result(self._m.transpose(axes=axes, copy=copy))


def _generic(name):
    def method(self, *args, **kwargs):
        args = tuple(self._operand(a, name) for a in args)
        kwargs = {k: self._operand(v, name) for k, v in kwargs.items()}
        return _result(getattr(self._m, name)(*args, **kwargs))
    method.__name__ = name
    return method


def _result(r):
    """scipy's answers as CuPy gives them: matrices as stand-in matrices, dense results as
    device arrays (never np.matrix), scalars as 0-d device arrays."""
    if scipy.sparse.issparse(r):
        return _SparseMatrix._of(r)
    if isinstance(r, np.matrix):
        return _device(np.asarray(r))
    if isinstance(r, (np.ndarray, np.generic)):
        return _device(np.asarray(r))
    return r


def _int32_indices(m):
    for name in ("indices", "indptr", "row", "col"):
        a = getattr(m, name, None)
        if a is not None and a.dtype != np.int32:
            setattr(m, name, a.astype(np.int32))


def _device_arrays(arrays, where):
    """The arrays of a (data, indices, indptr) or (data, (row, col)) tuple: device only."""
    out = []
    for a in arrays:
        if isinstance(a, tuple):
            out.append(_device_arrays(a, where))
        elif isinstance(a, ndarray):
            if a.ndim != 1:
                raise ValueError("data, indices, and indptr should be 1-D")
            out.append(a._a)
        else:
            raise _mixing_error(a, f"cupyx.scipy.sparse.{where}")
    return tuple(out)


def _matrix_class(fmt):
    space = f"cupyx.scipy.sparse.{fmt}_matrix"
    offered = NAMES[space]
    cls = type(f"{fmt}_matrix", (_SparseMatrix,), {"format": fmt, "__module__": __name__})
    scipy_class = getattr(scipy.sparse, f"{fmt}_matrix")
    for name in offered:
        if name in _ARITHMETIC and name not in vars(_SparseMatrix) and hasattr(scipy_class,
                                                                                name):
            setattr(cls, name, _generic(name))
        if name.startswith("_") or hasattr(_SparseMatrix, name):
            continue
        if callable(getattr(scipy_class, name, None)):
            setattr(cls, name, _generic(name))
        else:
            setattr(cls, name, property(_not_emulated(f"{space}.{name}")))
    for name in dir(cls):                                 # nothing CuPy's class lacks
        if not name.startswith("_") and name not in offered:
            setattr(cls, name, property(_refused(space, name)))
    return cls


def _refused(space, name):
    def refuse(self):
        raise AttributeError(f"'{space}' object has no attribute '{name}' (not in CuPy "
                             f"{' and '.join(standin.VERSIONS)})")
    return refuse


_CLASSES = {fmt: _matrix_class(fmt) for fmt in _FORMATS}


def _issparse(x):
    return isinstance(x, _SparseMatrix)


def _constructor(name):
    scipy_function = getattr(scipy.sparse, name)

    def make(*args, dtype="d", format=None, **kwargs):
        return _SparseMatrix._of(scipy_function(*args, dtype=dtype, format=format or "dia",
                                                **kwargs))
    make.__name__ = name
    return make


def sparse_namespace():
    special = {"issparse": _issparse, "isspmatrix": _issparse, "spmatrix": _SparseMatrix,
               "identity": _constructor("identity"), "eye": _constructor("eye")}
    special.update({f"{fmt}_matrix": cls for fmt, cls in _CLASSES.items()})
    special.update({f"isspmatrix_{fmt}": (lambda f: lambda x: _issparse(x) and x.format == f)(
        fmt) for fmt in _FORMATS})
    return _offered("cupyx.scipy.sparse", special)
