"""Counting hidden device-to-host syncs: every place where the host waits for a device value.

On a GPU, ``float(x)``, ``int(x)``, ``bool(x)`` (an ``if`` on an array), ``x.item()``,
``x.get()`` (and ``cupy.asnumpy``, which calls it), ``x.tolist()``, printing, boolean-mask
indexing ``x[mask]`` and the functions whose output size depends on the values (``nonzero``,
``flatnonzero``, ``argwhere``, ``unique``, ``compress``, ``extract``; ``where(cond)`` with one
argument counts as the ``nonzero`` it calls) all stop the host until the GPU has finished
everything queued before, then copy a value back. The list is ``backend.SYNC_METHODS`` and
``backend.SYNC_FUNCTIONS``, shared with the CuPy stand-in (standin.py) and notebook 08's
stand-in arrays. One per training step is nothing; one per pixel row or per CRF iteration undoes the
GPU's head start. Counting calls of ``backend.to_device``/``asnumpy`` (test_transfers.py) sees
only the explicit transfers; this counter sees these hidden ones too.

:func:`count_syncs` replaces those methods of an array class (``cupy.ndarray``) and those
functions of its module (``cupy``) by counting wrappers for the duration of a ``with`` block,
and restores them afterwards. A sync made inside another counted call (CuPy's ``__float__``
calls ``get``; ``unique`` calls ``nonzero``) counts once, as the outer call.

NumPy's ``ndarray`` is a built-in type whose methods cannot be replaced, and a NumPy array never
syncs anyway; the counting logic itself is tested with a small array class (test_syncs.py),
and the budgets run on the CuPy stand-in, whose ``ndarray`` makes every host read through
these methods.
"""
import collections
import contextlib
import functools

from minideeplab.backend import SYNC_FUNCTIONS, SYNC_METHODS   # the one list of syncing calls

__all__ = ["SYNC_METHODS", "SYNC_FUNCTIONS", "SyncCounter", "count_syncs"]


class SyncCounter:
    """What :func:`count_syncs` counted.

    ``counts``: kind of sync -> number (``total`` sums them); ``inside``: name of a watched
    function -> syncs made during its calls; ``calls``: name of a watched function -> calls.
    """

    def __init__(self):
        self.counts = collections.Counter()
        self.inside = collections.Counter()
        self.calls = collections.Counter()
        self._depth = 0

    @property
    def total(self):
        return sum(self.counts.values())

    def clear(self):
        self.counts.clear()
        self.inside.clear()
        self.calls.clear()

    def watch(self, owner, name):
        """Replace ``owner.name`` (a function, or a method of an object) by a wrapper that
        records its calls and the syncs made inside them under ``name``; returns a function
        that puts the original back."""
        original = getattr(owner, name)
        had = name in vars(owner)

        @functools.wraps(original)
        def watched(*args, **kwargs):
            self.calls[name] += 1
            before = self.total
            try:
                return original(*args, **kwargs)
            finally:
                self.inside[name] += self.total - before
        setattr(owner, name, watched)

        def undo():
            if had:
                setattr(owner, name, original)
            else:
                delattr(owner, name)
        return undo

    def __repr__(self):
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items())) or "none"
        return f"{self.total} sync(s) ({kinds})"

    def _call(self, kind, original, *args, **kwargs):
        if self._depth == 0:
            self.counts[kind] += 1
        self._depth += 1
        try:
            return original(*args, **kwargs)
        finally:
            self._depth -= 1


def _is_bool_mask(key, array_type):
    keys = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, array_type) and getattr(k.dtype, "kind", None) == "b"
               for k in keys)


@contextlib.contextmanager
def count_syncs(array_type, module=None):
    """Count the syncing calls on arrays of ``array_type`` (and of ``module``'s functions).

    Parameters
    ----------
    array_type : the device array class, e.g. ``cupy.ndarray`` (its methods are replaced by
        counting wrappers inside the block; only methods it has are wrapped)
    module : the array module, e.g. ``cupy`` (its :data:`SYNC_FUNCTIONS` are wrapped too)

    Yields
    ------
    SyncCounter
    """
    counter = SyncCounter()
    restore = []

    def replace(owner, name, wrapper):
        had = name in vars(owner)
        restore.append((owner, name, had, vars(owner).get(name)))
        setattr(owner, name, wrapper)

    def method_wrapper(name, original):
        @functools.wraps(original)
        def wrapped(self, *args, **kwargs):
            return counter._call(name, original, self, *args, **kwargs)
        return wrapped

    def function_wrapper(name, original):
        @functools.wraps(original)
        def wrapped(*args, **kwargs):
            return counter._call(f"{module.__name__}.{name}", original, *args, **kwargs)
        return wrapped

    try:
        for name in SYNC_METHODS:
            if hasattr(array_type, name):
                replace(array_type, name, method_wrapper(name, getattr(array_type, name)))
        getitem = getattr(array_type, "__getitem__", None)
        if getitem is not None:
            @functools.wraps(getitem)
            def counted_getitem(self, key):
                if _is_bool_mask(key, array_type):
                    return counter._call("x[boolean mask]", getitem, self, key)
                return getitem(self, key)
            replace(array_type, "__getitem__", counted_getitem)
        if module is not None:
            for name in SYNC_FUNCTIONS:
                if hasattr(module, name):
                    replace(module, name, function_wrapper(name, getattr(module, name)))
        yield counter
    finally:
        for owner, name, had, original in reversed(restore):
            if had:
                setattr(owner, name, original)
            else:
                delattr(owner, name)
