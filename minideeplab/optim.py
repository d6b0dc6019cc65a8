"""SGD with momentum and weight decay as Caffe computes it, and the learning-rate schedules.

DeepLab v2 trains with Caffe's SGD solver (Sec. 4: "momentum of 0.9 and weight decay of
0.0005"; the release's ``solver.prototxt``). For every parameter ``w`` with gradient ``g``,
Caffe's ``SGDSolver`` computes, in this order::

    g' = g + (wd * decay_mult) * w            # Regularize(): L2 weight decay
    v  = m * v + (lr * lr_mult) * g'          # ComputeUpdateValue(): the history blob
    w  = w - v                                # Blob::Update()

so the learning rate multiplies the gradient *before* it enters the momentum buffer.
PyTorch's ``torch.optim.SGD`` differs: ``v = m * v + g'`` and ``w = w - lr * v``, i.e. the
learning rate multiplies the buffer. With a constant rate the two give identical weights
(PyTorch's ``v`` is Caffe's ``v / lr``); when the rate changes (the "poly" schedule changes
it every step) they differ, because Caffe's buffer remembers the old rates. This module
implements **Caffe's** update.

Per-parameter multipliers come from each module's ``lr_mult`` / ``decay_mult`` dicts (Caffe's
``param { lr_mult: ... decay_mult: ... }``; a missing name means 1.0). DeepLab's release uses
weights x1, biases x2 with no decay, and the classifier (fc8) x10 / biases x20.

The schedules are pure functions of the iteration (Caffe's ``lr_policy``):

* ``"poly"``: ``base_lr * (1 - it / max_iter) ** power``, power 0.9 (DeepLab v2, Sec. 4.1,
  Table 2: 1.17% better than "step");
* ``"step"``: ``base_lr * gamma ** (it // step_size)``;

either optionally times a linear warm-up over the first iterations (:func:`warmup_factor`).
"""
import functools

from . import backend
from .checks import check_int, check_number, check_state
from .errors import ArgumentError
from .parallel import run_all

__all__ = ["SGD", "poly_lr", "step_lr", "warmup_factor", "make_schedule", "SCHEDULES"]


# ----------------------------------------------------------------------------- schedules
def poly_lr(base_lr, it, max_iter, power=0.9):
    """Caffe's "poly" policy: ``base_lr * (1 - it / max_iter) ** power``.

    Parameters
    ----------
    base_lr : float >= 0
    it : int, the current iteration, 0 <= it <= max_iter (0 gives base_lr, max_iter gives 0)
    max_iter : int >= 1
    power : float >= 0 (DeepLab v2 uses 0.9)
    """
    fn = "poly_lr"
    base_lr = check_number(fn, "base_lr", base_lr, 0.0)
    max_iter = check_int(fn, "max_iter", max_iter, 1)
    it = check_int(fn, "it", it, 0)
    if it > max_iter:
        raise ArgumentError(f"{fn}: it must be <= max_iter, got it={it}, max_iter={max_iter}")
    power = check_number(fn, "power", power, 0.0)
    return base_lr * (1.0 - it / max_iter) ** power


def step_lr(base_lr, it, step_size, gamma=0.1):
    """Caffe's "step" policy: ``base_lr * gamma ** (it // step_size)``.

    Parameters
    ----------
    base_lr : float >= 0
    it : int >= 0, the current iteration
    step_size : int >= 1, iterations between drops
    gamma : float in [0, 1], the factor of each drop
    """
    fn = "step_lr"
    base_lr = check_number(fn, "base_lr", base_lr, 0.0)
    it = check_int(fn, "it", it, 0)
    step_size = check_int(fn, "step_size", step_size, 1)
    gamma = check_number(fn, "gamma", gamma, 0.0, 1.0)
    return base_lr * gamma ** (it // step_size)


SCHEDULES = ("poly", "step")


def warmup_factor(it, warmup_iter):
    """Linear warm-up: ``(it + 1) / warmup_iter`` for the first ``warmup_iter`` iterations, then
    1 (``warmup_iter`` 0: always 1). The schedule's rate is multiplied by it.

    Not in DeepLab (which fine-tunes ImageNet weights at a small rate); Goyal et al., 2017
    ("Accurate, large minibatch SGD"), Sec. 2.2. Networks trained from scratch at a rate high
    enough to learn fast can otherwise settle in the first steps on predicting the most
    frequent class everywhere (docs/conventions.md, "Training recipes").
    """
    fn = "warmup_factor"
    it = check_int(fn, "it", it, 0)
    warmup_iter = check_int(fn, "warmup_iter", warmup_iter, 0)
    return min(1.0, (it + 1) / warmup_iter) if warmup_iter else 1.0


def make_schedule(policy, base_lr, max_iter, *, power=0.9, step_size=None, gamma=0.1,
                  warmup_iter=0):
    """A function ``it -> lr`` for ``policy`` "poly" or "step" (step_size default: max_iter // 3),
    times :func:`warmup_factor` when ``warmup_iter`` > 0.

    Only a convenience for a training loop that takes the policy by name; the math is in
    :func:`poly_lr`, :func:`step_lr` and :func:`warmup_factor`.
    """
    if policy == "poly":
        poly_lr(base_lr, 0, max_iter, power)          # validate now, not at iteration 1000
        rate = functools.partial(poly_lr, base_lr, max_iter=max_iter, power=power)
    elif policy == "step":
        step_size = max(1, max_iter // 3) if step_size is None else step_size
        step_lr(base_lr, 0, step_size, gamma)
        rate = functools.partial(step_lr, base_lr, step_size=step_size, gamma=gamma)
    else:
        raise ArgumentError(f"make_schedule: unknown policy {policy!r}; choose one of {SCHEDULES}")
    warmup_factor(0, warmup_iter)
    if not warmup_iter:
        return rate
    return lambda it: rate(it) * warmup_factor(it, warmup_iter)


# ----------------------------------------------------------------------------- optimiser
def _update(w, g, v, lr, decay, momentum):
    """Caffe's update of one parameter, in place: ``v = m v + lr (g + decay w); w -= v``.

    One temporary array, ``lr (g + decay w)``, made in place from ``decay w``; the gradient is
    left as it is.
    """
    if decay != 0.0:
        d = decay * w                                      # Regularize ...
        d += g
        d *= lr                                            # ... times the learning rate
    else:
        d = lr * g
    v *= momentum
    v += d
    w -= v                                                 # in place: w is the parameter


class SGD:
    """Stochastic gradient descent with momentum and L2 weight decay, Caffe's update.

    For each parameter (``lr_mult``, ``decay_mult`` from its module, default 1)::

        v = momentum * v + (lr * lr_mult) * (g + (weight_decay * decay_mult) * w)
        w -= v

    Parameters
    ----------
    model : a :class:`minideeplab.nn.Module` (its ``parameter_slots()`` are optimised)
    lr : float, the learning rate used by :meth:`step` when it is not given one
    momentum : float in [0, 1) (DeepLab: 0.9)
    weight_decay : float >= 0 (DeepLab: 5e-4)

    Parameters are updated **in place** (the module's arrays keep their identity). The
    velocities ``v`` start at zero, live on each parameter's device, and are the optimiser's
    whole state: :meth:`state_dict` gives them as a flat dict ``"<param name>" -> array``.
    A parameter whose effective learning rate is 0 (``lr_mult = 0``: frozen) is skipped.
    """

    def __init__(self, model, lr=1e-3, momentum=0.9, weight_decay=5e-4):
        fn = "SGD"
        if not hasattr(model, "parameter_slots"):
            raise ArgumentError(f"{fn}: model must be a minideeplab.nn.Module, got "
                                f"{type(model).__name__}")
        self.lr = check_number(fn, "lr", lr, 0.0)
        self.momentum = check_number(fn, "momentum", momentum, 0.0, 1.0)
        if self.momentum == 1.0:             # the velocity would never forget a gradient
            raise ArgumentError(f"{fn}: momentum must be in [0, 1), got {momentum!r}")
        self.weight_decay = check_number(fn, "weight_decay", weight_decay, 0.0)
        self.slots = list(model.parameter_slots())
        self.velocity = {}
        for slot in self.slots:
            p = slot.module.params[slot.key]
            self.velocity[slot.name] = backend.get_array_module(p).zeros_like(p)

    def multipliers(self, slot):
        """(lr_mult, decay_mult) of one :class:`~minideeplab.nn.ParamSlot`."""
        return (float(slot.module.lr_mult.get(slot.key, 1.0)),
                float(slot.module.decay_mult.get(slot.key, 1.0)))

    def step(self, lr=None):
        """Apply one update to every parameter, from the gradients in the modules' ``grads``.

        ``lr``: this step's base learning rate (e.g. ``poly_lr(base, it, max_iter)``); None
        uses ``self.lr``. Raises if a trainable parameter has no gradient (``backward`` was
        not called, or ``zero_grad`` came after it).
        """
        lr = self.lr if lr is None else check_number("SGD.step", "lr", lr, 0.0)
        updates = []
        for slot in self.slots:
            lr_mult, decay_mult = self.multipliers(slot)
            local_lr = lr * lr_mult
            if local_lr == 0.0:
                continue
            w = slot.module.params[slot.key]
            g = slot.module.grads.get(slot.key)
            if g is None:
                raise RuntimeError(f"SGD.step: parameter {slot.name!r} {tuple(w.shape)} has "
                                   "no gradient; call model.backward(...) before step()")
            if tuple(g.shape) != tuple(w.shape):
                raise ArgumentError(f"SGD.step: gradient of {slot.name!r} has shape "
                                    f"{tuple(g.shape)} but the parameter has {tuple(w.shape)}")
            updates.append((w, g, self.velocity[slot.name], local_lr,
                            self.weight_decay * decay_mult))
        if updates:          # every gradient checked above: no parameter is half updated
            run_all(lambda u: _update(*u, self.momentum), updates,
                    backend.get_array_module(updates[0][0]))

    def zero_grad(self):
        """Forget every parameter's gradient (call once per training step, before backward)."""
        for slot in self.slots:
            slot.module.grads.pop(slot.key, None)

    # -- checkpointing -----------------------------------------------------------------------
    def state_dict(self):
        """The velocities as a flat dict ``param name -> array`` (the arrays themselves)."""
        return dict(self.velocity)

    def load_state_dict(self, state):
        """Copy velocities from ``state`` (as :meth:`state_dict` gives them) in place.

        Every parameter name must be present with the right shape; nothing is modified unless
        all checks pass. Arrays may be NumPy or CuPy; they are moved to each velocity's device.
        """
        check_state("SGD.load_state_dict", state)
        missing = sorted(set(self.velocity) - set(state))
        unexpected = sorted(set(state) - set(self.velocity))
        if missing or unexpected:
            raise ArgumentError(f"SGD.load_state_dict: missing keys {missing}, unexpected keys "
                                f"{unexpected}")
        for name, v in self.velocity.items():
            if tuple(state[name].shape) != tuple(v.shape):
                raise ArgumentError(f"SGD.load_state_dict: {name!r} has shape "
                                    f"{tuple(state[name].shape)} in the state but "
                                    f"{tuple(v.shape)} in the optimiser")
        for name, v in self.velocity.items():
            v[...] = backend.to_device(state[name], backend.device_of(v))
        return self
