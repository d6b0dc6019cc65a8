"""Modules: thin objects that hold parameters, their gradients and the last forward's cache.

All the math lives in :mod:`minideeplab.functional`; a layer's ``forward`` calls the functional
op and keeps the cache, its ``backward`` calls the op's backward and stores the parameter
gradients. The optimiser needs nothing but each module's ``params`` and ``grads`` dicts.

Conventions
-----------
* ``params``: name -> array, the trainable parameters (updated in place by the optimiser).
* ``grads``: name -> array, filled by ``backward``. Gradients **accumulate** across backward
  calls (so a module used twice, e.g. at several input scales, gets the sum) until
  :meth:`Module.zero_grad` clears them; call it once per training step.
* ``buffers``: name -> array, state that is saved but not trained (batch-norm statistics).
* ``lr_mult`` / ``decay_mult``: per-parameter multipliers of the learning rate and weight decay,
  as in Caffe's ``param { lr_mult decay_mult }`` (missing names mean 1.0).
* Child modules assigned as attributes are found automatically; their names make the dotted
  keys of :meth:`Module.state_dict` (``"aspp.branch0.fc6.weight"``).
* ``cache``: what the last forward kept for ``backward``, which releases it. Inference does
  not need it, and a deep network's caches (every convolution's input, every batch norm's
  normalised map) are many times the size of its weights: inside :func:`no_cache`, or on a module after
  ``keep_caches(False)``, each module drops its cache as soon as its forward returns, so a
  forward pass holds only the activations still in use. ``backward`` then refuses to run.
"""
import contextlib
import threading
from collections import namedtuple

import numpy as np

from .. import backend, checks
from ..errors import ArgumentError

__all__ = ["Module", "Sequential", "ParamSlot", "no_cache", "caching"]

_STATE = threading.local()


def caching():
    """False inside a :func:`no_cache` block (of this thread), True otherwise."""
    return getattr(_STATE, "caching", True)


@contextlib.contextmanager
def no_cache():
    """Run forward passes without keeping the caches that ``backward`` needs (inference).

    ``with nn.no_cache(): logits = model(x)`` computes the same numbers as ``model(x)``, but
    every module forgets its cache when its forward returns, so memory stays near the few
    activations alive at once (PyTorch's ``torch.no_grad()`` plays this part). Nests; restores
    the previous state on exit.
    """
    previous = caching()
    _STATE.caching = False
    try:
        yield
    finally:
        _STATE.caching = previous

ParamSlot = namedtuple("ParamSlot", "name module key")
ParamSlot.__doc__ = ("One trainable parameter: its dotted ``name`` and where it lives, "
                     "``module.params[key]`` (its gradient in ``module.grads[key]``).")


class Module:
    """Base class of every layer and network."""

    def __init__(self):
        object.__setattr__(self, "_children", {})
        self.params = {}
        self.grads = {}
        self.buffers = {}
        self.lr_mult = {}
        self.decay_mult = {}
        self.training = True
        self.cache = None
        self.keeps_cache = True

    def __setattr__(self, name, value):
        children = self.__dict__.get("_children")
        if children is None:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 f"before setting {name!r}")
        if isinstance(value, Module):
            children[name] = value
        else:
            children.pop(name, None)
        object.__setattr__(self, name, value)

    def __call__(self, *args, **kwargs):
        y = self.forward(*args, **kwargs)
        if not (self.keeps_cache and caching()):
            self.cache = None                   # inference: free the backward cache now
        return y

    def forward(self, x):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def saved_cache(self):
        """The cache of the last forward pass, for ``backward``; a clear error if there is none.

        A layer's ``backward`` differentiates its last ``forward`` once: the cache is handed over
        and released here, so the memory of a network's caches falls as its backward pass
        proceeds (PyTorch frees a graph's saved tensors the same way). Without a kept cache
        (backward called first or twice, the forward run inside :func:`no_cache` or after
        ``keep_caches(False)``, or the caches dropped by :meth:`to`) there is nothing to
        differentiate, and the error says so instead of failing on ``None``.
        """
        if self.cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward: no cache from a forward pass to differentiate; "
                "call forward first, with caches kept (not inside nn.no_cache() or after "
                "keep_caches(False); .to() drops the caches), once per backward")
        cache, self.cache = self.cache, None
        return cache

    # -- gradients -------------------------------------------------------------------------
    def accumulate_grad(self, key, g):
        """Add ``g`` to ``self.grads[key]`` (or store it, after :meth:`zero_grad`)."""
        if g is None:
            return
        old = self.grads.get(key)
        self.grads[key] = g if old is None else old + g

    def zero_grad(self):
        """Forget all gradients, in this module and every child."""
        for _, m in self.named_modules():
            m.grads = {}

    # -- traversal -------------------------------------------------------------------------
    def children(self):
        """(name, child module) pairs, in the order they were assigned."""
        return list(self._children.items())

    def named_modules(self, prefix=""):
        """Yield (dotted name, module) for this module and all descendants."""
        yield prefix, self
        for name, child in self._children.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def parameter_slots(self):
        """Yield a :class:`ParamSlot` for every trainable parameter (what optimisers use)."""
        for mname, m in self.named_modules():
            for key in m.params:
                yield ParamSlot(f"{mname}.{key}" if mname else key, m, key)

    def named_parameters(self):
        """Yield (dotted name, array) for every trainable parameter."""
        for slot in self.parameter_slots():
            yield slot.name, slot.module.params[slot.key]

    def num_parameters(self):
        """Total number of trainable scalars."""
        return int(sum(int(np.prod(p.shape)) for _, p in self.named_parameters()))

    def train(self, mode=True):
        """Switch this module and all children to training (``mode=True``) or eval mode."""
        for _, m in self.named_modules():
            m.training = bool(mode)
        return self

    def eval(self):
        """Switch to evaluation mode: dropout off, batch norm uses running statistics."""
        return self.train(False)

    def keep_caches(self, mode=True):
        """Keep (``True``, the default) or drop (``False``) every module's backward cache after
        its forward, in this module and all children (see :func:`no_cache`). Returns self."""
        for _, m in self.named_modules():
            m.keeps_cache = bool(mode)
        return self

    def to(self, device):
        """Move every parameter, gradient and buffer to ``"cpu"`` or ``"gpu"``."""
        for _, m in self.named_modules():
            m.params = backend.to_device(m.params, device)
            m.grads = backend.to_device(m.grads, device)
            m.buffers = backend.to_device(m.buffers, device)
            m.cache = None
        return self

    # -- saving ----------------------------------------------------------------------------
    def _state_slots(self):
        for mname, m in self.named_modules():
            for store in (m.params, m.buffers):
                for key in store:
                    yield (f"{mname}.{key}" if mname else key), store, key

    def state_dict(self):
        """A flat dict: dotted name -> array, for every parameter and buffer (not copies)."""
        return {name: store[key] for name, store, key in self._state_slots()}

    def load_state_dict(self, state, strict=True):
        """Copy arrays from ``state`` into this module's parameters and buffers, in place.

        Values may be NumPy or CuPy arrays; each is moved to the device of the array it
        replaces. With ``strict``, missing or unexpected names are an error. Shapes must match.
        Nothing is modified unless every check passes.
        """
        checks.check_state("load_state_dict", state)
        slots = {name: (store, key) for name, store, key in self._state_slots()}
        missing = sorted(set(slots) - set(state))
        unexpected = sorted(set(state) - set(slots))
        if strict and (missing or unexpected):
            raise ArgumentError(f"load_state_dict: missing keys {missing}, unexpected keys "
                                f"{unexpected}")
        for name in slots.keys() & state.keys():
            store, key = slots[name]
            if tuple(state[name].shape) != tuple(store[key].shape):
                raise ArgumentError(f"load_state_dict: {name!r} has shape "
                                    f"{tuple(state[name].shape)} in the state but "
                                    f"{tuple(store[key].shape)} in the module")
        for name in slots.keys() & state.keys():
            store, key = slots[name]
            target = store[key]
            target[...] = backend.to_device(state[name], backend.device_of(target))
        return self


class Sequential(Module):
    """Modules applied one after the other; backward runs them in reverse.

    ``Sequential(a, b, c)`` names the children "0", "1", "2"; ``Sequential({"conv1": a, ...})``
    keeps the given names (they appear in ``state_dict`` keys).
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, m in items:
            if not isinstance(m, Module):
                raise ArgumentError(f"Sequential: child {name!r} is a {type(m).__name__}, "
                                    "not a Module")
            setattr(self, name, m)
        self.layers = [m for _, m in items]

    def forward(self, x):
        for m in self.layers:
            x = m(x)
        return x

    def backward(self, dy):
        for m in reversed(self.layers):
            dy = m.backward(dy)
        return dy

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)
