"""``dense_crf``: DeepLab's fully connected CRF (paper Sec. 3.3) on an image and its probabilities.

The model (DeepLab v2, eq. 2-3; Kraehenbuehl & Koltun 2011, eq. 1-3): with ``x_i`` the label of
pixel i, ``p_i`` its position and ``I_i`` its colour,

    E(x) = sum_i -log P(x_i)
           + sum_{i,j} [x_i != x_j] ( w1 exp(-|p_i-p_j|^2 / 2 ta^2 - |I_i-I_j|^2 / 2 tb^2)
                                    + w2 exp(-|p_i-p_j|^2 / 2 tg^2) )

(ta, tb, tg = theta_alpha, theta_beta, theta_gamma).

The first kernel (appearance, "bilateral") works on the 5-D features
``(x/theta_alpha, y/theta_alpha, r/theta_beta, g/theta_beta, b/theta_beta)``, the second
(smoothness) on ``(x/theta_gamma, y/theta_gamma)``, both as ``exp(-|f_i - f_j|^2 / 2)``.
Mean-field inference lives in :mod:`.meanfield`, the two ways of filtering in :mod:`.naive` and
:mod:`.lattice`.
"""
import math
import numbers

from .. import backend
from ..checks import check_array, check_bool, check_choice, check_int
from ..errors import ArgumentError
from .lattice import LatticeFilter
from .meanfield import NORMALIZATIONS, mean_field, memory_blocks, normalized_filter
from .naive import NaiveFilter
from .parallel import resolve_threads, run_all, thread_pool
from .simplex import MAX_KEYS, key_space

__all__ = ["dense_crf", "crf_labels", "CRF_SETTINGS", "describe_crf_settings", "CRF_METHODS",
           "PROB_FLOOR", "unary_from_probs", "bilateral_features", "spatial_features",
           "make_filter", "appearance_filter", "smoothness_filter", "check_crf_inputs",
           "check_probabilities", "check_feature_spans", "check_grid", "PROB_TOLERANCE",
           "MAX_WEIGHT", "MAX_NAIVE_SPAN", "MAX_ITERATIONS"]

CRF_METHODS = ("lattice", "naive")
FILTERS = {"lattice": LatticeFilter, "naive": NaiveFilter}
PROB_FLOOR = 1e-5   # P is clipped here before -log (as pydensecrf's unary_from_softmax)
# limits of the CRF's inputs (docs/conventions.md, "Dense CRF", Limits):
PROB_TOLERANCE = 0.01   # each pixel's probabilities lie in [0, 1] and sum to 1, within this
MAX_WEIGHT = 1e20       # w1, w2: the float32 scores (at most w * pixels) stay far from overflow
MAX_NAIVE_SPAN = 1e100  # naive: every feature's range (pixels / theta) has a finite square
MAX_ITERATIONS = 1000   # mean-field iterations (about 70 s on a PASCAL image): no endless run

# The CRF's parameters (w1, theta_alpha, theta_beta, w2, theta_gamma) by name, each set written
# once (docs/conventions.md, "Dense CRF"): DeepLab's released settings, and dense_crf's defaults.
CRF_SETTINGS = {
    # the released ResNet-101 appearance kernel with the paper's smoothness kernel (Sec. 4.1:
    # w2 = 3, theta_gamma = 3): dense_crf's defaults
    "default": dict(w1=4.0, theta_alpha=67.0, theta_beta=3.0, w2=3.0, theta_gamma=3.0),
    # DeepLab v2's released setting for ResNet-101 on PASCAL VOC
    "resnet": dict(w1=4.0, theta_alpha=67.0, theta_beta=3.0, w2=3.0, theta_gamma=1.0),
    # DeepLab v1's released setting for VGG-16
    "vgg": dict(w1=4.0, theta_alpha=121.0, theta_beta=5.0, w2=3.0, theta_gamma=3.0),
}
_DEFAULT = CRF_SETTINGS["default"]


def describe_crf_settings(name=None, **params):
    """One line naming CRF parameters, e.g. ``"'resnet' (w1=4, theta_alpha=67, theta_beta=3,
    w2=3, theta_gamma=1)"``: the named set of :data:`CRF_SETTINGS` with ``params`` over it."""
    values = dict(CRF_SETTINGS[name] if name is not None else {}, **params)
    text = ", ".join(f"{k}={v:g}" for k, v in values.items())
    return f"{name!r} ({text})" if name is not None else f"({text})"


def check_crf_inputs(fn, image, probs, **params):
    """Validate the image, the probabilities and the CRF's numbers; errors name the argument."""
    if not (hasattr(image, "dtype") and hasattr(image, "shape")):
        raise ArgumentError(f"{fn}: image must be a NumPy or CuPy array, got "
                            f"{type(image).__name__}")
    if image.dtype != "uint8":
        raise ArgumentError(f"{fn}: image must be an RGB uint8 array of shape (H, W, 3), got dtype "
                            f"{image.dtype} (image.shape={tuple(image.shape)}); convert it with "
                            "(255 * x).round().astype(np.uint8) if it is float in [0, 1]")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ArgumentError(f"{fn}: image must have shape (H, W, 3) (RGB, channels last), got "
                            f"image.shape={tuple(image.shape)}")
    check_array(fn, "probs", probs, nonempty=True)          # a 0x0 image has nothing to label
    if probs.ndim != 3 or tuple(probs.shape[1:]) != tuple(image.shape[:2]):
        raise ArgumentError(f"{fn}: probs must have shape (L, H, W) = (L, {image.shape[0]}, "
                            f"{image.shape[1]}) to match image.shape={tuple(image.shape)}, got "
                            f"probs.shape={tuple(probs.shape)}")
    if probs.shape[0] < 2:
        raise ArgumentError(f"{fn}: probs has L = {probs.shape[0]} label (probs.shape="
                            f"{tuple(probs.shape)}); a CRF needs at least 2 labels to choose from")
    xp = backend.get_array_module(image, probs)
    if not bool(xp.isfinite(probs).all()):
        raise ArgumentError(f"{fn}: probs contains NaN or infinite values "
                            f"(probs.shape={tuple(probs.shape)})")
    if bool((probs < 0).any()):
        raise ArgumentError(f"{fn}: probs contains negative values (min {float(probs.min()):.3g}); "
                            "pass probabilities (the softmax of the scores), not the scores")
    check_probabilities(fn, probs, xp)
    for name, value in params.items():
        if name == "iterations":
            if check_int(fn, name, value, 0) > MAX_ITERATIONS:
                raise ArgumentError(f"{fn}: iterations={value} is beyond the CRF's limit of "
                                    f"{MAX_ITERATIONS} (mean field settles within about 10; "
                                    "DeepLab runs 10)")
            continue
        if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                or not _finite(value)):
            raise ArgumentError(f"{fn}: {name} must be a finite real number, got {value!r}")
        if name.startswith("theta") and value <= 0:
            raise ArgumentError(f"{fn}: {name} is a standard deviation and must be > 0, got "
                                f"{value}")
        if name.startswith("w") and value < 0:
            raise ArgumentError(f"{fn}: {name} is a kernel weight and must be >= 0, got {value}")
        if name.startswith("w") and value > MAX_WEIGHT:
            raise ArgumentError(f"{fn}: {name}={value:g} is beyond the CRF's limit of "
                                f"{MAX_WEIGHT:g} for a kernel weight (the scores, at most the "
                                "weight times the number of pixels, must stay finite in "
                                "float32); DeepLab's weights are 3 to 6")
    return xp


def _finite(value):
    """A real number is finite (an int beyond float64's range is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_probabilities(fn, probs, xp):
    """(L, H, W) finite, non-negative ``probs`` must be probabilities: every value at most 1
    and every pixel's values summing to 1, within :data:`PROB_TOLERANCE` (a softmax stored in
    float16 is within 0.001). Scores (logits) are refused even when none is negative: their
    -log would be meaningless."""
    sums = probs.sum(axis=0, dtype=xp.float64)                                  # (H, W)
    high, sum_low, sum_high = (float(v) for v in backend.asnumpy(
        xp.stack([probs.max().astype(xp.float64), sums.min(), sums.max()])))
    if (high > 1 + PROB_TOLERANCE or abs(sum_low - 1) > PROB_TOLERANCE
            or abs(sum_high - 1) > PROB_TOLERANCE):
        raise ArgumentError(
            f"{fn}: probs must be probabilities, each pixel's L = {probs.shape[0]} values in "
            f"[0, 1] summing to 1 (within {PROB_TOLERANCE}); got values up to {high:.4g} and "
            f"per-pixel sums from {sum_low:.4g} to {sum_high:.4g} (probs.shape="
            f"{tuple(probs.shape)}); pass the softmax of the scores over axis 0")


def check_feature_spans(fn, shape, method, *, w1, theta_alpha, theta_beta, w2, theta_gamma):
    """Refuse standard deviations so small that the kernels' features cannot be filtered.

    The features are positions and colours divided by the thetas; they span at most
    ``(W - 1) / theta``, ``(H - 1) / theta`` and ``255 / theta_beta`` (a colour channel's
    whole range: the answer depends on the image's size, not its content). The lattice codes
    each vertex in one 64-bit key, so the number of keys those spans can reach must stay
    below :data:`~minideeplab.crf.lattice.MAX_KEYS`; the naive filter squares the features,
    so they must stay below :data:`MAX_NAIVE_SPAN`. Checked before any work, for the kernels
    with a non-zero weight.
    """
    H, W = shape
    # Python floats: a NumPy float32 theta would make these float32, whose comparison with
    # MAX_NAIVE_SPAN overflows
    theta_alpha, theta_beta = float(theta_alpha), float(theta_beta)
    theta_gamma = float(theta_gamma)
    kernels = []
    if w1 != 0:
        kernels.append(("appearance", "theta_alpha and theta_beta",
                        [(W - 1) / theta_alpha, (H - 1) / theta_alpha] + [255 / theta_beta] * 3,
                        f"theta_alpha={theta_alpha:g}, theta_beta={theta_beta:g}",
                        "DeepLab's: theta_alpha 67, theta_beta 3"))
    if w2 != 0:
        kernels.append(("smoothness", "theta_gamma",
                        [(W - 1) / theta_gamma, (H - 1) / theta_gamma],
                        f"theta_gamma={theta_gamma:g}", "DeepLab's: 1 or 3"))
    for kernel, names, spans, given, usual in kernels:
        if method == "lattice":
            keys = key_space(spans)
            if keys >= MAX_KEYS:
                raise ArgumentError(
                    f"{fn}: {given} are too small for a {H}x{W} image: the {kernel} kernel's "
                    f"lattice could need {keys:.3g} keys, more than its 64-bit keys hold "
                    f"({MAX_KEYS:.3g}); make {names} larger ({usual})")
        elif max(spans) > MAX_NAIVE_SPAN:
            raise ArgumentError(
                f"{fn}: {given} are too small for a {H}x{W} image: the {kernel} kernel's "
                f"features would span {max(spans):.3g} (at most {MAX_NAIVE_SPAN:g}); make "
                f"{names} larger ({usual})")


def check_grid(fn, method, shapes, w1_values, theta_alpha_values, theta_beta_values, w2,
               theta_gamma):
    """A cross-validation grid: three non-empty lists of finite numbers (the thetas > 0, the
    weights >= 0 and at most :data:`MAX_WEIGHT`), whose smallest thetas suit every image of
    ``shapes`` ((H, W) pairs; :func:`check_feature_spans`). Returns the three axes as tuples
    of floats."""
    axes = []
    for name, values, positive in (("w1_values", w1_values, False),
                                   ("theta_alpha_values", theta_alpha_values, True),
                                   ("theta_beta_values", theta_beta_values, True)):
        values = tuple(values) if isinstance(values, (tuple, list, range)) else (values,)
        if not values or not all(
                isinstance(v, numbers.Real) and not isinstance(v, bool) and _finite(v)
                and (v > 0 if positive else 0 <= v <= MAX_WEIGHT) for v in values):
            limit = "positive numbers" if positive else f"numbers in [0, {MAX_WEIGHT:g}]"
            raise ArgumentError(f"{fn}: {name} must be a non-empty list of {limit}, got "
                                f"{values!r:.200}")
        axes.append(tuple(float(v) for v in values))
    for shape in shapes:
        check_feature_spans(fn, shape, method, w1=max(axes[0]), theta_alpha=min(axes[1]),
                            theta_beta=min(axes[2]), w2=w2, theta_gamma=theta_gamma)
    return axes


def unary_from_probs(probs):
    """(L, H, W) probabilities -> (N, L) float32 unary ``U = -log max(P, PROB_FLOOR)``."""
    xp = backend.get_array_module(probs)
    L = probs.shape[0]
    U = xp.empty((probs[0].size, L), dtype=xp.float32)                  # (N, L), N = H*W
    for l in range(L):          # one label at a time: no (L, H, W) temporaries
        p = xp.maximum(probs[l].reshape(-1), PROB_FLOOR, dtype=xp.float32)
        U[:, l] = xp.log(p, out=p)
    return xp.negative(U, out=U)


def spatial_features(H, W, theta, xp):
    """(N, 2) float64 ``(x/theta, y/theta)`` of the pixels in row-major order (x = column)."""
    y, x = xp.meshgrid(xp.arange(H, dtype=xp.float64), xp.arange(W, dtype=xp.float64),
                       indexing="ij")
    return xp.stack([x.ravel(), y.ravel()], axis=1) / theta


def bilateral_features(image, theta_alpha, theta_beta):
    """(N, 5) float64 ``(x, y) / theta_alpha`` and ``(r, g, b) / theta_beta`` per pixel."""
    xp = backend.get_array_module(image)
    H, W, _ = image.shape
    rgb = image.reshape(H * W, 3).astype(xp.float64) / theta_beta
    return xp.concatenate([spatial_features(H, W, theta_alpha, xp), rgb], axis=1)


def make_filter(features, method):
    """The unnormalised Gaussian filter of ``features`` (N, d): a NaiveFilter or LatticeFilter."""
    return FILTERS[method](features)


def appearance_filter(image, theta_alpha, theta_beta, method):
    """The appearance kernel's unnormalised filter (eq. 3, first term) of an (H, W, 3) image:
    a Gaussian of the 5-D features ``(x, y) / theta_alpha, (r, g, b) / theta_beta``."""
    return make_filter(bilateral_features(image, theta_alpha, theta_beta), method)


def smoothness_filter(H, W, theta_gamma, method, xp):
    """The smoothness kernel's unnormalised filter (eq. 3, second term) of an H x W image:
    a Gaussian of the positions ``(x, y) / theta_gamma``."""
    return make_filter(spatial_features(H, W, theta_gamma, xp), method)


def dense_crf(image, probs, *, w1=_DEFAULT["w1"], theta_alpha=_DEFAULT["theta_alpha"],
              theta_beta=_DEFAULT["theta_beta"], w2=_DEFAULT["w2"],
              theta_gamma=_DEFAULT["theta_gamma"], iterations=10, method="lattice",
              normalization="symmetric", return_history=False, threads=None):
    """Fully connected CRF with mean-field inference (DeepLab v2, Sec. 3.3; Kraehenbuehl 2011).

    Parameters
    ----------
    image : (H, W, 3) uint8 RGB array (NumPy or CuPy)
    probs : (L, H, W) float array, the network's softmax (upsampled to the image size), L >= 2,
        same device as ``image``; the unary is ``-log max(probs, 1e-5)``
    w1, theta_alpha, theta_beta : appearance (bilateral) kernel weight and its position and
        colour standard deviations (pixels, intensity levels)
    w2, theta_gamma : smoothness kernel weight and position standard deviation
    iterations : number of mean-field iterations (DeepLab: 10)
    method : "lattice" (permutohedral lattice, O(N)) or "naive" (exact O(N^2) sums, small
        images only); both kernels use the chosen method
    normalization : "symmetric" | "after" | "before" | "none", see below
    return_history : also return the marginals and scores after every iteration (paper Fig. 5)
    threads : int >= 1 or None, CPU threads for the lattice method (None: minideeplab's thread
        count, :func:`minideeplab.parallel.get_threads`; always 1 on CuPy and for
        "naive", whose products already use BLAS's threads). The two lattices are built in
        parallel and each iteration's messages are filtered in blocks of labels, one per thread
        (:mod:`.parallel`), for images of PASCAL size; larger ones (one label block does not
        fit in 128 MiB) run on one thread. The result is the same for every
        thread count up to float32 rounding.

    Returns
    -------
    Q : (L, H, W) float32, the approximate marginals (argmax over axis 0 gives the labels)
    history : MeanFieldHistory with lists ``Q`` and ``scores`` of (L, H, W) float32 arrays, of
        length iterations + 1 (index t = after t iterations, t = 0 the unary alone); only with
        ``return_history=True``

    Conventions (the reference is Kraehenbuehl's C++ code, v3 2013, which pydensecrf wraps)
    ---------------------------------------------------------------------------------------
    * Self-connection: the paper's energy sums over pairs ``i != j``, so a pixel sends no
      message to itself; the reference code's filters include ``i = j`` (a Gaussian is 1 at
      distance 0, and the lattice cannot leave it out). We follow the reference: every message
      includes the pixel's own ``Q_i`` with weight ``K_ii = 1`` before normalisation. The naive
      filter could drop it exactly (``K - I``); it keeps it so both methods solve one model.
    * Normalisation: the paper's kernels are unnormalised; the reference normalises each kernel
      by its row sums ``n = K 1`` computed with the same filter: "symmetric" (its default,
      ``D^-1/2 K D^-1/2``), "after" (``D^-1 K``, the per-pixel normalisation of the reference's
      earlier v2.x release), "before" (``K D^-1``), "none" (raw ``K``; the exact
      and lattice kernels then differ by a global factor, so naive and lattice disagree).
    * Lattice: blur weights (1/2, 1, 1/2) along each of the d+1 axes and slice scaling
      ``1 / (1 + 2^-d)``, as the reference (Adams et al. use (1/4, 1/2, 1/4)); the global
      factor this leaves (lattice row sums ~0.5x the exact ones in 5-D, ~0.9x in 2-D) cancels
      in the normalised modes. Blur order 0..d, so the lattice's K is only nearly symmetric
      (its transpose blurs in the reverse order), as in the reference. Keys are 64-bit.
    * Accuracy of "lattice" against "naive" (measured, symmetric normalisation): messages
      within 0.8-1.6% relative L2 for the 2-D smoothness kernel and 3.5-7% for the 5-D
      appearance kernel; final labels agree on >= 99% of the pixels at DeepLab's settings.
    * The smoothness kernel is filtered by the same method as the appearance kernel (a 2-D
      permutohedral lattice for "lattice", as the reference), not by an exact separable
      Gaussian: measured against the reference code at (4, 67, 3, 3, 1), the exact Gaussian
      moved 0.44% of the labels for 9% less time, and at theta_gamma = 3 it was 1.65x slower
      (docs/conventions.md, "Dense CRF").
    * Agreement with the reference code (benchmarks/bench_crf.py --reference): 100% of the
      labels, mean |dQ| < 1e-5, at the ResNet-101, VGG and a wide setting.
    * Potts compatibility ``[l != l']``; update ``Q = softmax(-U + w1 Kn1 Q + w2 Kn2 Q)``.
    * Defaults (w1, theta_alpha, theta_beta, w2, theta_gamma) = ``CRF_SETTINGS["default"]``,
      (4, 67, 3, 3, 3): the released ResNet-101 appearance kernel with the paper's smoothness
      kernel (w2 = 3, theta_gamma = 3); the released ResNet-101 setting ("resnet") has
      theta_gamma = 1, VGG v1's ("vgg") is (4, 121, 5, 3, 3) (docs/conventions.md, "Dense
      CRF").
    """
    fn = "dense_crf"
    xp = check_crf_inputs(fn, image, probs, w1=w1, theta_alpha=theta_alpha,
                          theta_beta=theta_beta, w2=w2, theta_gamma=theta_gamma,
                          iterations=iterations)
    check_choice(fn, "method", method, CRF_METHODS)
    check_choice(fn, "normalization", normalization, NORMALIZATIONS)
    return_history = check_bool(fn, "return_history", return_history)
    threads = resolve_threads(fn, threads, xp)
    check_feature_spans(fn, probs.shape[1:], method, w1=w1, theta_alpha=theta_alpha,
                        theta_beta=theta_beta, w2=w2, theta_gamma=theta_gamma)
    if method != "lattice":
        threads = 1
    L, H, W = probs.shape
    kernels = []                                  # (make the filter, weight) of each kernel
    if w1 != 0:
        kernels.append((lambda: appearance_filter(image, theta_alpha, theta_beta, method), w1))
    if w2 != 0:
        kernels.append((lambda: smoothness_filter(H, W, theta_gamma, method, xp), w2))

    def build(kernel):
        make, weight = kernel
        return normalized_filter(make(), normalization, weight)

    # the two lattices side by side, for images of PASCAL size; larger ones one after the
    # other (the builds' temporary arrays, about 0.5 GB at 2048x1024, would add up)
    side_by_side = threads > 1 and memory_blocks(H * W, L) == 1
    # the lattices' sparse module is imported here, in the caller's thread: an import inside
    # the threads would let one of them find scipy.sparse half loaded in sys.modules
    backend.sparse_module(xp)
    with thread_pool(min(threads, len(kernels)) if side_by_side else 1) as pool:
        filters = run_all(pool, build, kernels)
    result = mean_field(unary_from_probs(probs), filters, iterations, return_history, threads)
    final = result[0] if return_history else result
    if not bool(xp.isfinite(final).all()):     # one read, after the loop; checked inputs and
        raise FloatingPointError(               # limits keep it finite: this would be a bug
            f"{fn}: the marginals are not finite (w1={w1}, theta_alpha={theta_alpha}, "
            f"theta_beta={theta_beta}, w2={w2}, theta_gamma={theta_gamma}, {method}, "
            f"{normalization}, probs.shape={tuple(probs.shape)}); nothing is returned")

    def to_image(a):                                                    # (N, L) -> (L, H, W)
        return xp.ascontiguousarray(a.T.reshape(L, H, W), dtype=xp.float32)

    if not return_history:
        return to_image(result)
    Q, history = result
    return to_image(Q), type(history)([to_image(q) for q in history.Q],
                                      [to_image(s) for s in history.scores])


def crf_labels(image, probs, **params):
    """The labels (H, W) after :func:`dense_crf` with ``params`` on one image's (L, H, W)
    softmax: the argmax of the marginals, on the device of the inputs."""
    return dense_crf(image, probs, **params).argmax(axis=0)
