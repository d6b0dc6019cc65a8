"""Checks for the convolution exercises: atrous im2col, space_to_batch, the receptive field.

Notebooks 01-03 and 03b. Each check compares the student's function with the library's
(:func:`minideeplab.functional.im2col.im2col`, :func:`~minideeplab.functional.space_to_batch`,
:func:`minideeplab.models.fov.receptive_field`) on random cases and the edge cases.
"""
import numpy as np

from ...functional.deinterlace import space_to_batch
from ...functional.im2col import im2col
from ...models.fov import receptive_field
from ...models.resnet import stage_strides_and_rates
from ._core import Case, run_check

__all__ = ["check_atrous_im2col", "check_space_to_batch", "check_receptive_field",
           "check_output_stride_plan", "atrous_im2col_reference"]


def atrous_im2col_reference(x, kernel, rate):
    """The answer: (C, H, W) padded input -> (C*k*k, OH*OW) columns, taps ``rate`` apart.

    Row ``(c*k + p)*k + q`` holds tap (p, q) of channel c; column ``i*OW + j`` is output (i, j).
    """
    C = x.shape[0]
    cols = im2col(np.ascontiguousarray(x[..., None]), kernel, kernel, 1, rate)
    return cols.reshape(C * kernel * kernel, -1)


def _im2col_cases(rng):
    shapes = [(1, 5, 5, 3, 1, "rate 1 (plain im2col)"),
              (2, 9, 9, 3, 2, "a 3x3 kernel at rate 2"),
              (3, 7, 11, 3, 3, "a non-square input, rate 3"),
              (1, 7, 7, 3, 3, "the edge case where one output remains (k_e = 7 = H)"),
              (2, 6, 6, 1, 4, "a 1x1 kernel (the rate changes nothing)"),
              (2, 12, 10, 2, 3, "an even kernel (k = 2) at rate 3")]
    for C, H, W, k, r, what in shapes:
        x = rng.standard_normal((C, H, W))
        yield Case(f"{what}: x.shape={x.shape}, kernel={k}, rate={r}", (x, k, r),
                   atrous_im2col_reference(x, k, r))


def _taps_adjacent(x, kernel, rate):
    C, H, W = x.shape
    ke = kernel + (kernel - 1) * (rate - 1)
    OH, OW = H - ke + 1, W - ke + 1
    out = np.empty((C, kernel, kernel, OH, OW))
    for p in range(kernel):
        for q in range(kernel):
            out[:, p, q] = x[:, p:p + OH, q:q + OW]
    return out.reshape(C * kernel * kernel, -1)


def _taps_transposed(x, kernel, rate):
    C = x.shape[0]
    cols = atrous_im2col_reference(x, kernel, rate).reshape(C, kernel, kernel, -1)
    return cols.transpose(0, 2, 1, 3).reshape(C * kernel * kernel, -1)


def check_atrous_im2col(fn, *, seed=0):
    """Check ``fn(x, kernel, rate)``: (C, H, W) padded -> (C*k*k, OH*OW), taps ``rate`` apart.

    Mistakes recognised: taps 1 apart (the rate ignored in the slicing), rows in (c, q, p)
    order (the filter's taps transposed).
    """
    return run_check("atrous im2col", fn, _im2col_cases(np.random.default_rng(seed)), [
        (_taps_adjacent, "Your taps are 1 pixel apart: tap (p, q) of output (i, j) reads "
                         "x[:, i + rate*p, j + rate*q]."),
        (_taps_transposed, "Your rows are in (c, q, p) order: row (c*k + p)*k + q must hold "
                           "tap p down and q across, the order of w.reshape(O, C*k*k)."),
    ])


# ------------------------------------------------------------------------ space_to_batch
def _s2b_cases(rng):
    for N, C, H, W, r, what in [(1, 1, 4, 4, 2, "one image, rate 2"),
                                (2, 3, 6, 9, 3, "two images, rate 3, non-square"),
                                (3, 2, 4, 6, 2, "three images"),
                                (2, 2, 5, 5, 1, "rate 1 (nothing to split)")]:
        x = rng.standard_normal((N, C, H, W))
        yield Case(f"{what}: x.shape={x.shape}, rate={r}", (x, r), space_to_batch(x, r))


def _s2b_swapped(x, rate):
    N, C, H, W = x.shape
    return np.concatenate([x[:, :, a::rate, b::rate] for b in range(rate) for a in range(rate)])


def _s2b_image_major(x, rate):
    N, C, H, W = x.shape
    return np.stack([x[n, :, a::rate, b::rate] for n in range(N)
                     for a in range(rate) for b in range(rate)])


def check_space_to_batch(fn, *, seed=0):
    """Check ``fn(x, rate)``: (N, C, r*h, r*w) -> (r*r*N, C, h, w) as TensorFlow orders it.

    Mistakes recognised: the row and column offsets swapped ((b*r + a) order); image-major
    order (n*r*r + a*r + b instead of (a*r + b)*N + n).
    """
    return run_check("space_to_batch", fn, _s2b_cases(np.random.default_rng(seed)), [
        (_s2b_swapped, "You swapped the row offset a and the column offset b: batch entry "
                       "(a*r + b)*N + n holds x[n, :, a::r, b::r]."),
        (_s2b_image_major, "Your batch is image-major (n*r*r + a*r + b); TensorFlow puts the "
                           "sub-image index outside: (a*r + b)*N + n."),
    ])


# ----------------------------------------------------------------------- receptive field
def _rf_cases(rng):
    vgg_pool5 = [(3, 1, 1)] * 2 + [(2, 2, 1)] + [(3, 1, 1)] * 2 + [(2, 2, 1)] \
        + ([(3, 1, 1)] * 3 + [(2, 2, 1)]) * 2 + [(3, 1, 1)] * 3 + [(3, 1, 1)]
    yield Case("an empty chain (the input pixel itself)", ([],), (1, 1))
    yield Case("one 3x3 convolution", ([(3, 1, 1)],), receptive_field([(3, 1, 1)]))
    yield Case("a 3x3 convolution at rate 2 after a stride-2 pooling",
               ([(2, 2, 1), (3, 1, 2)],), receptive_field([(2, 2, 1), (3, 1, 2)]))
    chain = vgg_pool5 + [(3, 1, 12)]
    yield Case("DeepLab-LargeFOV's trunk up to fc6 (3x3, rate 12)", (chain,),
               receptive_field(chain))
    for t in range(3):
        chain = [(int(rng.integers(1, 8)), int(rng.integers(1, 4)), int(rng.integers(1, 6)))
                 for _ in range(int(rng.integers(2, 7)))]
        yield Case(f"the random chain {chain} of (kernel, stride, rate)", (chain,),
                   receptive_field(chain))


def _rf_no_rate(layers):
    return receptive_field([(k, s, 1) for k, s, _ in layers])


def _rf_jump_first(layers):
    rf, jump = 1, 1
    for k, s, r in layers:
        jump *= s
        rf += (k + (k - 1) * (r - 1) - 1) * jump
    return rf, jump


def check_receptive_field(fn, *, seed=0):
    """Check ``fn(layers)``: a list of (kernel, stride, rate) -> (receptive field, jump).

    Mistakes recognised: the rate ignored (k instead of k_e = k + (k-1)(r-1)); the jump
    multiplied by the layer's stride before its kernel is added (a layer's own stride only
    spaces the *next* layer's taps).
    """
    return run_check("receptive field", fn, _rf_cases(np.random.default_rng(seed)), [
        (_rf_no_rate, "You ignored the rate: a layer spans k_e = k + (k-1)(r-1) units."),
        (_rf_jump_first, "You multiplied the jump by the layer's stride before adding its "
                         "kernel; a layer's own taps are spaced by the jump of its input."),
    ])


# ------------------------------------------------------------------ output stride plan
def _plan_cases(rng):
    for os_, depth, grid, what in [(32, (3, 4, 6, 3), None, "ResNet-50 at output stride 32"),
                                   (16, (3, 4, 6, 3), None, "ResNet-50 at output stride 16"),
                                   (8, (3, 4, 23, 3), None, "ResNet-101 at output stride 8"),
                                   (16, (3, 4, 23, 3), (1, 2, 4), "ResNet-101, OS 16, multi-grid"),
                                   (8, (1, 1, 1, 3), (1, 2, 4), "one block per stage, OS 8, "
                                                                "multi-grid"),
                                   (8, (1, 1, 1, 1), None, "one block per stage, OS 8")]:
        yield Case(f"{what} (output_stride={os_}, depth={depth}, multi_grid={grid})",
                   (os_, depth, grid),
                   [[tuple(b) for b in s] for s in stage_strides_and_rates(os_, depth, grid)])


def _plan_previous_rate_first(output_stride, depth, multi_grid):
    return stage_strides_and_rates(output_stride, depth, multi_grid, "torchvision")


def _plan_one_doubling(output_stride, depth, multi_grid):
    plan = stage_strides_and_rates(output_stride, depth, multi_grid)
    return [[(s, r // 2 if k == 3 and output_stride == 8 else r) for s, r in stage]
            for k, stage in enumerate(plan)]


def _plan_no_grid(output_stride, depth, multi_grid):
    return stage_strides_and_rates(output_stride, depth, None)


def check_output_stride_plan(fn, *, seed=0):
    """Check ``fn(output_stride, depth, multi_grid)``: per stage (layer1..layer4), per block,
    (stride, rate) of its 3x3 convolution, as four lists of tuples, by the v3 paper's rule
    (every block of a converted stage has the unit rate times its multi-grid factor).

    Mistakes recognised: torchvision's schedule (the first block of a converted stage keeping
    the previous rate); layer4's unit rate not doubled again at output stride 8; multi-grid
    ignored.
    """
    if not callable(fn):
        return run_check("output stride plan", fn, [])

    def as_lists(plan):
        return [[tuple(int(v) for v in b) for b in s] for s in plan]

    def wrapped(*args):
        return as_lists(fn(*args))

    return run_check("output stride plan", wrapped, _plan_cases(np.random.default_rng(seed)), [
        (lambda *a: as_lists(_plan_previous_rate_first(*a)),
         "That is torchvision's schedule: the first block of a converted stage keeps the "
         "previous rate. The paper gives every block of the stage its unit rate times the "
         "grid, the first included: (2, 4, 8) for layer4 at output stride 16 with multi-grid "
         "(1, 2, 4)."),
        (lambda *a: as_lists(_plan_one_doubling(*a)),
         "Every removed stride doubles the rate of all later convolutions: at output stride "
         "8 layer3's unit rate is 2 and layer4's is 4."),
        (lambda *a: as_lists(_plan_no_grid(*a)),
         "You ignored multi-grid: layer4's block b uses unit rate * multi_grid[b]."),
    ])
