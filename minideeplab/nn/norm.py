"""The batch-norm layer: ``gamma``/``beta`` parameters and running-statistics buffers."""
from .. import checks, functional as F
from ..errors import ArgumentError
from . import init
from .module import Module

__all__ = ["BatchNorm2d"]


class BatchNorm2d(Module):
    """Batch normalisation of (N, C, H, W) maps (see :mod:`minideeplab.functional.batchnorm`).

    Parameters
    ----------
    num_features : int, C
    momentum : float, weight of each new batch in the running statistics (PyTorch's
        convention; TensorFlow's decay d is 1 - d)
    eps : float, added to the variance
    frozen : bool. Use the running statistics also in training and never update them: the
        "frozen" batch norm DeepLab v2 trains ResNet-101 with (Caffe ``use_global_stats:
        true``), because batches of 10 crops give poor statistics.
    freeze_affine : bool. Keep gamma and beta fixed: ``lr_mult = 0`` for both, as DeepLab v2's
        Scale layers (``param { lr_mult: 0 }``); the optimiser skips them. Their gradients are
        still computed.
    dtype, device : of the parameters and buffers

    ``params``: ``gamma`` (C,) = 1 and ``beta`` (C,) = 0, with ``decay_mult = 0`` (no weight
    decay on them, as TensorFlow's DeepLab v3). ``buffers``: ``running_mean`` (C,) = 0 and
    ``running_var`` (C,) = 1, saved by ``state_dict`` but not trained.

    Mode: batch statistics (and a running-statistics update) when ``self.training`` and not
    ``self.frozen``; running statistics otherwise (``eval()``, or frozen).
    Shapes: x (N, C, H, W) -> y (N, C, H, W).
    """

    def __init__(self, num_features, *, momentum=0.1, eps=1e-5, frozen=False,
                 freeze_affine=False, dtype="float32", device=None):
        super().__init__()
        fn = "BatchNorm2d"
        C = checks.check_int(fn, "num_features", num_features, 1)
        checks.check_number(fn, "momentum", momentum, 0.0, 1.0)
        if not 0 < checks.check_number(fn, "eps", eps, 0.0) < float("inf"):
            raise ArgumentError(f"{fn}: eps must be > 0 and finite, got {eps}")
        checks.check_bool(fn, "frozen", frozen)
        checks.check_bool(fn, "freeze_affine", freeze_affine)
        dtype = checks.check_float_dtype(fn, "dtype", dtype)
        if not init.counting():                # four (C,) arrays
            checks.check_budget(fn, f"num_features={C}", 4 * dtype.itemsize, parameters=(C,))
        self.params["gamma"] = init.ones((C,), dtype, device)
        self.params["beta"] = init.zeros((C,), dtype, device)
        self.buffers["running_mean"] = init.zeros((C,), dtype, device)
        self.buffers["running_var"] = init.ones((C,), dtype, device)
        self.decay_mult.update(gamma=0.0, beta=0.0)
        self.momentum, self.eps = momentum, eps
        self.frozen = False
        if frozen or freeze_affine:
            self.freeze(statistics=frozen, affine=freeze_affine)

    def freeze(self, statistics=True, affine=True):
        """Freeze the running statistics (use them in training, stop updating them) and/or
        gamma and beta (``lr_mult = 0``). DeepLab v3 does this for its second training phase."""
        if statistics:
            self.frozen = True
        if affine:
            self.lr_mult.update(gamma=0.0, beta=0.0)
        return self

    def forward(self, x):
        use_batch = self.training and not self.frozen
        y, self.cache = F.batch_norm(x, self.params["gamma"], self.params["beta"],
                                     self.buffers["running_mean"], self.buffers["running_var"],
                                     training=use_batch, momentum=self.momentum, eps=self.eps)
        if use_batch:
            self.buffers["running_mean"] = self.cache.running_mean
            self.buffers["running_var"] = self.cache.running_var
        return y

    def backward(self, dy):
        dx, dgamma, dbeta = F.batch_norm_backward(dy, self.saved_cache())
        self.accumulate_grad("gamma", dgamma)
        self.accumulate_grad("beta", dbeta)
        return dx

    def __repr__(self):
        return (f"BatchNorm2d({self.params['gamma'].shape[0]}, momentum={self.momentum}, "
                f"eps={self.eps}, frozen={self.frozen}, "
                f"affine_frozen={self.lr_mult.get('gamma', 1.0) == 0.0})")
