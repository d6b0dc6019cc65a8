"""Gradient check of a whole Module: its input and every parameter, end to end."""
from minideeplab.gradcheck import check_gradients


def check_module_gradients(module, x, *, before_forward=None, max_checks=30, seed=0):
    """Central differences for ``module.forward(x)`` w.r.t. x and every parameter.

    ``before_forward()`` runs before each forward pass (e.g. to reseed dropout so that every
    evaluation uses the same masks). The module's parameters are restored afterwards.
    Returns the dict of worst relative errors from :func:`check_gradients`.
    """
    slots = list(module.parameter_slots())
    original = {s.name: s.module.params[s.key] for s in slots}

    def run(kw):
        for s in slots:
            s.module.params[s.key] = kw[s.name]
        if before_forward is not None:
            before_forward()
        return module.forward(kw["x"])

    def forward(**kw):
        return run(kw)

    def backward(dy, **kw):
        module.zero_grad()
        run(kw)
        grads = {"x": module.backward(dy)}
        grads.update({s.name: s.module.grads[s.key] for s in slots})
        return grads

    try:
        return check_gradients(forward, backward, {"x": x, **original}, max_checks=max_checks,
                               seed=seed)
    finally:
        for s in slots:
            s.module.params[s.key] = original[s.name]
