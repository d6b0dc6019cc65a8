"""The exact O(N^2) Gaussian filter: the readable reference the lattice is checked against.

Kraehenbuehl & Koltun 2011, eq. 3-4: the mean-field message of a Gaussian kernel is
``out_i = sum_j exp(-|f_i - f_j|^2 / 2) v_j`` over *all* pixels j (the CRF is fully connected),
``i = j`` included. Written as a matrix product ``out = K V`` with ``K_ij = exp(-|f_i - f_j|^2/2)``
it costs N^2 kernel values per call: fine for a 64x64 image (1.7 * 10^7), hopeless for a PASCAL
image (3.5 * 10^10). Memory stays near :data:`MEMORY_BUDGET` bytes whatever N: when the whole K
fits in it (N <= 5792 pixels, 256 MB) it is computed once and kept; otherwise it is recomputed
at every call, ``chunk`` rows at a time, each block ``K[rows, :]`` multiplied by V and dropped.
"""
from .. import backend
from ..errors import ArgumentError

__all__ = ["NaiveFilter", "MAX_PIXELS", "MEMORY_BUDGET"]

MEMORY_BUDGET = 256 * 2 ** 20   # bytes for one (chunk, N) float64 block of the kernel
MAX_PIXELS = 128 * 192          # above this a 10-iteration CRF takes minutes: use the lattice


class NaiveFilter:
    """``V -> diag(left) K diag(right) V`` with the exact Gaussian kernel, ``i = j`` included.

    Parameters
    ----------
    features : (N, d) float array (NumPy or CuPy), each feature already divided by its sigma

    Calling the filter: ``out = filt(V)``, V (N, C) float -> out (N, C), same dtype as V. The
    kernel itself is evaluated in float64.
    """

    def __init__(self, features, *, max_pixels=None):
        xp = backend.get_array_module(features)
        N = features.shape[0]
        limit = MAX_PIXELS if max_pixels is None else max_pixels
        if N > limit:
            raise ArgumentError(
                f"NaiveFilter: {N} pixels is more than the naive O(N^2) filter's limit of {limit} "
                f"({N}^2 = {N * N:.2g} kernel values per message, minutes per CRF); "
                "use method=\"lattice\" for images this large")
        self.xp = xp
        self.features = xp.asarray(features, dtype=xp.float64)          # (N, d)
        self.sq_norms = (self.features ** 2).sum(axis=1)                 # (N,) |f_j|^2
        self.n_points = N
        # one (chunk, N) float64 block at a time (exp is computed in place)
        self.chunk = max(1, min(N, MEMORY_BUDGET // (8 * max(N, 1))))
        self.kernel = self.kernel_rows(0, N) if self.chunk == N else None  # (N, N) if it fits
        self.left = None
        self.right = None

    def with_scales(self, left=None, right=None):
        """A filter computing ``diag(left) K diag(right) V``; left, right (N,) or None."""
        other = NaiveFilter.__new__(NaiveFilter)
        other.__dict__.update(self.__dict__)
        other.left, other.right = left, right
        return other

    def kernel_rows(self, start, stop):
        """The exact kernel block ``K[start:stop, :]``, (stop - start, N) float64."""
        f = self.features
        # |f_i - f_j|^2 = |f_i|^2 + |f_j|^2 - 2 f_i.f_j  (one GEMM instead of an (n, N, d) array)
        d2 = f[start:stop] @ f.T                                         # (n, N)
        d2 *= -2.0
        d2 += self.sq_norms[start:stop, None]
        d2 += self.sq_norms[None, :]
        xp = self.xp
        xp.maximum(d2, 0.0, out=d2)       # rounding can make the identity slightly negative
        d2 *= -0.5
        return xp.exp(d2, out=d2)

    def __call__(self, V):
        """(N, C) -> (N, C), the same dtype as V."""
        xp = self.xp
        V64 = V.astype(xp.float64)
        if self.right is not None:
            V64 *= self.right[:, None]
        if self.kernel is not None:
            out = self.kernel @ V64
        else:
            out = xp.empty(V.shape, dtype=xp.float64)
            for start in range(0, self.n_points, self.chunk):            # chunks of rows of K
                stop = min(start + self.chunk, self.n_points)
                out[start:stop] = self.kernel_rows(start, stop) @ V64
        if self.left is not None:
            out *= self.left[:, None]
        return out.astype(V.dtype, copy=False)
