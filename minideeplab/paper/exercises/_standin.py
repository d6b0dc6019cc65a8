"""Stand-in device arrays: NumPy values that behave like CuPy arrays where syncs are concerned.

:class:`DeviceArrayStandIn` keeps its values in a NumPy array, but like a ``cupy.ndarray`` it
keeps arithmetic, comparisons, integer indexing and reductions "on the device" (a reduction
returns a 0-d stand-in), refuses to be mixed with a NumPy array (``TypeError``), and records in
a :class:`SyncLog` every call that needs a value on the host. :func:`stand_in_module` is the
``xp`` for such arrays. The GPU exercises (:mod:`.gpu`) use them to *measure*, on a machine
without a GPU, which lines of a loop would make the host wait.
"""
import numpy as np

from ... import backend

__all__ = ["SyncLog", "DeviceArrayStandIn", "stand_in_module"]


class SyncLog:
    """Where the stand-in arrays synced: ``events`` is a list of (line, kind)."""

    def __init__(self):
        self.events, self.line = [], None

    def record(self, kind):
        self.events.append((self.line, kind))


def _unwrap(v):
    if isinstance(v, DeviceArrayStandIn):
        return v._a
    if isinstance(v, np.ndarray):
        raise TypeError("a NumPy array mixed with a device array (CuPy refuses this too: move it "
                        "with backend.to_device first)")
    if isinstance(v, (list, tuple)):
        return type(v)(_unwrap(u) for u in v)
    return v


class DeviceArrayStandIn:
    """A NumPy array that acts like a CuPy array for the purpose of counting syncs.

    Arithmetic, comparisons, integer indexing and reductions stay "on the device" (they return
    stand-ins, a reduction a 0-d one, as CuPy does); the calls that need the value on the host
    are recorded in ``log`` as syncs: the methods of ``backend.SYNC_METHODS`` (``__bool__``
    for an ``if``, ``__float__``, ``__int__``, ``item``, ``tolist``, ``get``, printing, ...;
    the list the test suite's sync counter and CuPy stand-in use too), and indexing with a
    boolean mask (its size depends on the values).
    """

    __array_priority__ = 1000
    __array_ufunc__ = None          # NumPy defers to the stand-in's operators

    def __init__(self, a, log):
        self._a, self._log = np.asarray(a), log

    def _wrap(self, r):
        if isinstance(r, (np.ndarray, np.generic)):
            return DeviceArrayStandIn(r, self._log)
        if isinstance(r, tuple) and all(isinstance(u, np.ndarray) for u in r):
            return tuple(DeviceArrayStandIn(u, self._log) for u in r)
        return r

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)

    def __len__(self):
        return len(self._a)

    def __getattr__(self, name):
        attr = getattr(np.asarray(self.__dict__["_a"]), name)
        if not callable(attr):
            return attr

        def method(*args, **kwargs):
            return self._wrap(attr(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))
        return method

    def __getitem__(self, key):
        if isinstance(key, DeviceArrayStandIn) and key.dtype == bool:
            self._log.record("x[boolean mask]")
        return self._wrap(self._a[_unwrap(key)])


def _syncing(name):
    """The method ``name`` of backend.SYNC_METHODS: records a sync, then answers as NumPy."""
    def method(self, *args):
        self._log.record(_SYNC_KINDS.get(name, name))
        if name == "get":
            return self._a.copy()
        if name == "__format__":
            return format(self._a.item() if self._a.ndim == 0 else self._a, *args)
        return self._wrap(getattr(self._a, name)(*_unwrap(args)))
    method.__name__ = name
    return method


# how the check names each kind of sync to a student
_SYNC_KINDS = {"__bool__": "if / bool", "__float__": "float", "__int__": "int",
               "__index__": "index", "__complex__": "complex", "__format__": "print",
               "__str__": "print", "__repr__": "print"}
for _name in backend.SYNC_METHODS:
    setattr(DeviceArrayStandIn, _name, _syncing(_name))


def _operator(name):
    def op(self, *other):
        return self._wrap(getattr(self._a, name)(*_unwrap(other)))
    op.__name__ = name
    return op


for _name in ("add radd sub rsub mul rmul truediv rtruediv floordiv pow rpow mod neg pos abs "
              "gt ge lt le eq ne and rand or ror invert matmul rmatmul").split():
    setattr(DeviceArrayStandIn, f"__{_name}__", _operator(f"__{_name}__"))


class _StandInModule:
    """``xp`` for stand-in arrays: NumPy's functions on the values, results as stand-ins;
    the functions whose output size depends on the values sync."""

    SYNCING = backend.SYNC_FUNCTIONS

    def __init__(self, log):
        self._log = log

    def __getattr__(self, name):
        f = getattr(np, name)
        if not callable(f):
            return f

        def call(*args, **kwargs):
            if name in self.SYNCING:
                self._log.record(f"xp.{name}")
            r = f(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()})
            return DeviceArrayStandIn(np.zeros(0), self._log)._wrap(r)
        return call


def stand_in_module(log):
    """The array module (``xp``) of stand-in arrays that record their syncs in ``log``."""
    return _StandInModule(log)
