"""Public helpers and constructors at the edges of their arguments: an ArgumentError or a
BudgetExceededError that names the function and the argument, before any work; never a
ZeroDivisionError, an IndexError, a silently wrong answer or NumPy's words.

Oracles: the helpers' definitions (docs/conventions.md) for the values they must still give;
one window computed by hand for pooling with a stride beyond the input; the bytes of the
parameters counted by ``state_dict`` for the model budget.
"""
import math

import numpy as np
import pytest

from minideeplab import checks, functional as F, nn
from minideeplab.data import augment, random_crop, random_mirror, random_scale
from minideeplab.errors import ArgumentError, BudgetExceededError
from minideeplab.metrics import ConfusionMatrix, confusion_matrix
from minideeplab.models import build_model
from minideeplab.models import factory
from minideeplab.optim import SGD
from minideeplab.preprocess import Preprocessing

X = np.ones((1, 2, 8, 8), np.float32)
W = np.ones((3, 2, 3, 3), np.float32)


def _cross_entropy_cache():
    return F.softmax_cross_entropy(np.zeros((1, 3, 2, 2), np.float32),
                                   np.zeros((1, 2, 2), np.int64))[1]


ARGUMENT_CASES = [
    # the functional helpers (sizes, rates, factors, layouts)
    ("space_to_batch rate 0", lambda: F.space_to_batch(X, 0), "space_to_batch: rate must be >= 1"),
    ("space_to_batch layout", lambda: F.space_to_batch(X, 2, layout="nhwc"),
     "space_to_batch: unknown layout 'nhwc'"),
    ("space_to_batch size", lambda: F.space_to_batch(X[:, :, :7], 2),
     r"space_to_batch: .* multiples of rate=2, got x.shape=\(1, 2, 7, 8\)"),
    ("space_to_batch list", lambda: F.space_to_batch(X.tolist(), 2),
     "space_to_batch: x must be a NumPy or CuPy array"),
    ("batch_to_space rate 0", lambda: F.batch_to_space(X, 0), "batch_to_space: rate must be >= 1"),
    ("batch_to_space layout", lambda: F.batch_to_space(X, 1, layout="NHWC"),
     "batch_to_space: unknown layout 'NHWC'"),
    ("batch_to_space batch", lambda: F.batch_to_space(X, 2),
     r"batch_to_space: the batch axis of y \(1\) must be a multiple of rate\*\*2 = 4"),
    ("interp_shrink_size 0", lambda: F.interp_shrink_size(5, 0),
     "interp_shrink_size: shrink_factor must be >= 1"),
    ("interp_zoom_size 0", lambda: F.interp_zoom_size(0, 8), "interp_zoom_size: size must be >= 1"),
    ("pool_output_size stride 0", lambda: F.pool_output_size(5, 3, 0, 0),
     "pool_output_size: stride must be >= 1"),
    ("pool_output_size float", lambda: F.pool_output_size(5.0, 3, 1, 0),
     "pool_output_size: size must be an integer"),
    ("conv_output_size stride 0", lambda: checks.conv_output_size(5, 3, stride=0),
     "conv_output_size: stride must be >= 1"),
    ("conv_output_size padding", lambda: checks.conv_output_size(5, 3, padding=-1),
     "conv_output_size: padding must be >= 0"),
    ("effective_kernel_size rate 0", lambda: checks.effective_kernel_size(3, 0),
     "effective_kernel_size: rate must be >= 1"),
    ("interp_matrix in 0", lambda: F.interp_matrix(0, 5), "interp_matrix: in_size must be >= 1"),
    ("interp_matrix align", lambda: F.interp_matrix(3, 5, align_corners="yes"),
     "interp_matrix: align_corners must be True or False"),
    ("linear_taps in 0", lambda: F.linear_taps(0, 4), "linear_taps: in_size must be >= 1"),
    ("linear_taps out 0", lambda: F.linear_taps(4, 0), "linear_taps: out_size must be >= 1"),
    # a NaN or infinite upstream gradient of the scalar loss (free to check)
    ("dloss nan", lambda: F.softmax_cross_entropy_backward(_cross_entropy_cache(), float("nan")),
     "softmax_cross_entropy_backward: dloss is NaN"),
    ("dloss inf", lambda: F.softmax_cross_entropy_backward(_cross_entropy_cache(), -math.inf),
     "softmax_cross_entropy_backward: dloss must be a finite number"),
    # constructors and settings accepted silently, or refused in someone else's words
    ("build_model longdouble", lambda: build_model("largefov", tiny=True, dtype="longdouble"),
     "build_model: dtype must be a floating-point dtype: float16, float32 or float64"),
    ("SGD lr inf", lambda: SGD(nn.ReLU(), lr=math.inf), "SGD: lr must be a finite number"),
    ("SGD lr 10**400", lambda: SGD(nn.ReLU(), lr=10 ** 400), "SGD: lr must be a finite number"),
    ("SGD weight_decay inf", lambda: SGD(nn.ReLU(), weight_decay=math.inf),
     "SGD: weight_decay must be a finite number"),
    ("SGD momentum 1", lambda: SGD(nn.ReLU(), momentum=1.0), r"SGD: momentum must be in \[0, 1\)"),
    ("ConfusionMatrix ignore_index", lambda: ConfusionMatrix(3, ignore_index="x"),
     "ConfusionMatrix: ignore_index must be an integer"),
    ("confusion_matrix ignore_index",
     lambda: confusion_matrix(np.zeros(3, int), np.zeros(3, int), 2, ignore_index=1.5),
     "confusion_matrix: ignore_index must be an integer"),
    ("Conv2d seed -1", lambda: nn.Conv2d(3, 4, 3, seed=-1),
     "Conv2d: seed must be an int seed >= 0"),
    ("Conv2d seed float", lambda: nn.Conv2d(3, 4, 3, seed=1.5), "Conv2d: seed must be a numpy"),
    ("ASPPv2 seed -1", lambda: nn.ASPPv2(4, 3, seed=-1), "ASPPv2: seed must be an int seed >= 0"),
    ("Preprocessing mean str", lambda: Preprocessing(mean="abc"),
     "Preprocessing: mean must be 3 numbers"),
    ("Preprocessing mean huge", lambda: Preprocessing(mean=(10 ** 400, 1, 1)),
     "Preprocessing: mean must be 3 numbers"),
    ("load_state_dict list", lambda: nn.Conv2d(1, 1, 1).load_state_dict(
        {"weight": [[[[1.0]]]], "bias": np.zeros(1, np.float32)}),
     r"load_state_dict: state\['weight'\] must be a NumPy or CuPy array of real numbers, got list"),
    ("load_state_dict not a dict", lambda: nn.Conv2d(1, 1, 1).load_state_dict([1, 2]),
     "load_state_dict: state must be a dict of arrays"),
    ("SGD.load_state_dict object", lambda: SGD(nn.Conv2d(1, 1, 1)).load_state_dict(
        {"weight": np.zeros((1, 1, 1, 1), object), "bias": np.zeros(1)}),
     r"SGD.load_state_dict: state\['weight'\] must be .* got dtype object"),
]


@pytest.mark.parametrize("case", ARGUMENT_CASES, ids=lambda c: c[0])
def test_bad_arguments_are_named(case):
    _, call, pattern = case
    with pytest.raises(ArgumentError, match=pattern):
        call()


def test_augment_takes_an_int_seed_and_names_a_bad_rng():
    """rng: a Generator or an int seed >= 0 (docs/conventions.md); an int gives the same
    result as the Generator it seeds."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    label = rng.integers(0, 3, (20, 24)).astype(np.uint8)
    by_int = augment(image, label, 5, crop_size=16)
    by_gen = augment(image, label, np.random.default_rng(5), crop_size=16)
    for a, b in zip(by_int, by_gen):
        np.testing.assert_array_equal(a, b)
    for fn, call in [("augment", lambda r: augment(image, label, r)),
                     ("random_scale", lambda r: random_scale(image, label, r)),
                     ("random_mirror", lambda r: random_mirror(image, label, r)),
                     ("random_crop", lambda r: random_crop(image, label, 8, r))]:
        with pytest.raises(ArgumentError, match=f"{fn}: rng must be a numpy.random.Generator"):
            call("seed")
        with pytest.raises(ArgumentError, match=f"{fn}: rng must be an int seed >= 0"):
            call(-1)
    with pytest.raises(BudgetExceededError, match=r"random_scale: scale_range=\(0.5, 1e\+30\)"):
        random_scale(image, label, 0, (0.5, 1e30))


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
@pytest.mark.parametrize("stride", [9, 10 ** 30])
def test_a_stride_beyond_the_input_gives_one_window(pool, stride):
    """Each axis then has one window, at the top left: its max or mean, computed by hand; the
    gradient goes to that window only (a stride of 10**30 overflowed int64)."""
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 7))
    y, cache = pool(x, 3, stride=stride)
    window = x[:, :, :3, :3].reshape(1, 2, 9)
    expected = window.max(axis=2) if pool is F.max_pool2d else window.mean(axis=2)
    np.testing.assert_allclose(y.reshape(1, 2), expected, rtol=1e-12)
    backward = F.max_pool2d_backward if pool is F.max_pool2d else F.avg_pool2d_backward
    dx = backward(np.ones_like(y), cache)
    assert dx[:, :, 3:].sum() == 0 and dx[:, :, :, 3:].sum() == 0
    np.testing.assert_allclose(dx.sum(axis=(2, 3)), 1.0)


BUDGET_CASES = [
    ("conv2d padding 10**6", lambda: F.conv2d(X, W, padding=10 ** 6),
     r"conv2d: padding=\(1000000, 1000000\) and rate=1 would make padded_x"),
    ("conv2d padding=rate=10**12", lambda: F.conv2d(X, W, padding=10 ** 12, rate=10 ** 12),
     r"conv2d: padding=\(10{12}, 10{12}\) and rate=10{12} would make padded_x"),
    ("conv2d deinterlace rate 10**12", lambda: F.conv2d(X, W[:, :, :1, :1], rate=10 ** 12,
                                                        method="deinterlace"),
     r"conv2d: .*rate=10{12} would make padded_x of shape \(1, 2, 10{12}, 10{12}\)"),
    ("resize_bilinear 10**9", lambda: F.resize_bilinear(X, 10 ** 9),
     r"resize_bilinear: size=1000000000 would make y of shape \(1, 2, 1000000000, 1000000000\)"),
    ("build_model num_classes 10**9", lambda: build_model("largefov", num_classes=10 ** 9),
     r"build_model\('largefov'\): its parameters would take .* GiB"),
    ("build_model width 40", lambda: build_model("aspp-l", width=40),
     r"build_model\('aspp-l'\): its parameters would take"),
]


@pytest.mark.parametrize("case", BUDGET_CASES, ids=lambda c: c[0])
def test_absurd_sizes_are_refused_before_allocating(case):
    _, call, pattern = case
    with pytest.raises(BudgetExceededError, match=pattern + ".* more than this machine's memory"):
        call()


def test_the_memory_budget_is_the_limit(monkeypatch):
    """At a budget just below an array's bytes the op is refused; at exactly its bytes it runs.
    The model budget counts exactly the bytes of the parameters and buffers."""
    y_bytes = 1 * 3 * 8 * 8 * 4                            # conv2d(X, W, padding=1): (1, 3, 8, 8)
    padded_bytes = 1 * 2 * 10 * 10 * 4
    assert padded_bytes > y_bytes
    monkeypatch.setattr(checks, "memory_budget", lambda: padded_bytes - 1)
    with pytest.raises(BudgetExceededError, match="padded_x of shape"):
        F.conv2d(X, W, padding=1)
    monkeypatch.setattr(checks, "memory_budget", lambda: padded_bytes)
    F.conv2d(X, W, padding=1)
    monkeypatch.undo()
    model = build_model("largefov", tiny=True)
    nbytes = sum(a.nbytes for a in model.state_dict().values())
    assert factory.parameter_bytes(lambda: build_model("largefov", tiny=True)) == nbytes
    monkeypatch.setattr(checks, "memory_budget", lambda: nbytes - 1)
    with pytest.raises(BudgetExceededError, match="build_model"):
        build_model("largefov", tiny=True)
    monkeypatch.setattr(checks, "memory_budget", lambda: nbytes)
    build_model("largefov", tiny=True)


def test_helpers_still_give_their_definitions():
    """The checks change no answer: Caffe's sizes from docs/conventions.md."""
    assert F.interp_shrink_size(321, 8) == 41 and F.interp_zoom_size(41, 8) == 321
    assert checks.conv_output_size(41, 3, padding=12, rate=12) == 41
    assert checks.effective_kernel_size(3, 12) == 25
    assert [F.pool_output_size(s, 3, 2, 1) for s in (321, 161, 81)] == [161, 81, 41]
    i0, i1, lam = F.linear_taps(3, 5)
    np.testing.assert_allclose(i0 + lam, [0, 0.5, 1, 1.5, 2])


def test_load_torchvision_names_odd_state_dicts():
    """A state dict with an int key, or a classifier weight that is 0-d or a string (an
    AttributeError and IndexErrors before), or whose class count is absurd."""
    from minideeplab.models import load_torchvision
    base = {f"backbone.layer3.{i}.conv1.weight": np.zeros((1, 1, 1, 1), np.float32)
            for i in range(6)}                                   # the keys of a ResNet-50
    with pytest.raises(ArgumentError, match=r"load_torchvision: the state's keys must be "
                                            r"parameter names \(strings\), got 3 \(int\)"):
        load_torchvision({**base, 3: np.zeros(1)})
    for weight, got in [(np.float32(1), r"float32 of shape \(\)"), ("abc", r"str of shape \(\)"),
                        (np.zeros((0, 256, 1, 1)), r"ndarray of shape \(0, 256, 1, 1\)")]:
        with pytest.raises(ArgumentError, match=r"load_torchvision: classifier.4.weight must be "
                                                rf"a \(L, 256, 1, 1\) array .* got a {got}"):
            load_torchvision({**base, "classifier.4.weight": weight})
    huge = np.broadcast_to(np.float32(0), (10 ** 9, 256, 1, 1))  # no memory, 10**9 classes
    with pytest.raises(BudgetExceededError, match="its parameters would take"):
        load_torchvision({**base, "classifier.4.weight": huge})


def test_resizing_beyond_the_pixel_budget_is_refused():
    """--shorter-side 10**30 ended in Pillow's OverflowError; torchvision's 520 still gives
    int(520 * long / short)."""
    with pytest.raises(BudgetExceededError, match=r"Preprocessing: resize_shorter=10{30} makes "
                                                  r"the 30 x 20 image .* more than the 67 Mpx"):
        Preprocessing(resize_shorter=10 ** 30).input_size(20, 30)
    assert Preprocessing(resize_shorter=520).input_size(375, 500) == (520, int(520 * 500 / 375))


def test_a_diverging_run_stops_without_numpy_warnings():
    """lr = 1e300 overflows in the first update: the run stops with TrainingDiverged naming
    the parameter, and NumPy's overflow RuntimeWarnings (extra lines on stderr) are not shown."""
    import warnings

    from minideeplab.train import TrainConfig, Trainer, TrainingDiverged
    config = TrainConfig(model="largefov", image_size=17, crop_size=17, num_train=2, num_val=2,
                         batch_size=2, max_iter=3, loss_at="stride8", base_lr=1e300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TrainingDiverged, match="became non-finite"):
            Trainer(config, progress=False).run(log=None)


@pytest.mark.parametrize("call, pattern", [
    (lambda: F.linear_taps(10 ** 30, 4), "linear_taps: in_size=10{30} is beyond 2\\*\\*53"),
    (lambda: F.interp_matrix(4, 10 ** 12), "interp_matrix: in_size=4, out_size=10{12} would "
                                           "make matrix of shape"),
    (lambda: F.linear_taps(4, 10 ** 12), "linear_taps: in_size=4, out_size=10{12} would make "
                                         "taps"),
])
def test_interpolation_helpers_refuse_sizes_they_cannot_hold(call, pattern):
    """OverflowError, 'Maximum allowed size exceeded', 36 TiB MemoryErrors and RuntimeWarnings
    of invalid casts before."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises((ArgumentError, BudgetExceededError), match=pattern):
            call()


@pytest.mark.parametrize("call, pattern", [
    (lambda: nn.Conv2d(10 ** 6, 10 ** 6, 3), r"Conv2d: in_channels, out_channels and "
                                            r"kernel_size would make weight of shape \(1000000, "),
    (lambda: nn.BatchNorm2d(10 ** 12), r"BatchNorm2d: num_features=1000000000000 would make"),
    (lambda: build_model("largefov", num_classes=10 ** 30), r"build_model\('largefov'\): "
                                                           r"nn.init: a parameter of shape"),
])
def test_layers_refuse_parameters_beyond_memory(call, pattern):
    """A 65 TiB MemoryError, and 'Maximum allowed dimension exceeded' for 10**30 classes."""
    with pytest.raises(BudgetExceededError, match=pattern):
        call()


def test_float32_thetas_pass_the_crf_checks_without_warnings():
    """np.float32 thetas made the naive method's span check overflow a float32 cast."""
    import warnings

    from minideeplab.crf import dense_crf
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (5, 4, 3)).astype(np.uint8)
    probs = rng.dirichlet(np.ones(3), (5, 4)).transpose(2, 0, 1).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Q = dense_crf(image, probs, method="naive", theta_beta=np.float32(3.0),
                      theta_gamma=np.float32(3.0), iterations=1)
    assert np.isfinite(Q).all()


def test_synthetic_data_and_the_demo_refuse_sizes_beyond_memory(capsys):
    """train --image-size 10**9 / --num-train 10**12 and demo --size/--channels 10**9 ended in
    NumPy's 'array is too big' or a 25 PiB MemoryError, with a traceback."""
    from minideeplab.cli import main
    from minideeplab.data import SyntheticShapes
    with pytest.raises(BudgetExceededError, match=r"SyntheticShapes: size=1000000000 is beyond "
                                                  "the 67 Mpx"):
        SyntheticShapes("train", 2, size=10 ** 9)
    with pytest.raises(BudgetExceededError, match="SyntheticShapes.load_arrays: "
                                                  "num_images=1000000000000 would make"):
        SyntheticShapes("train", 10 ** 12, size=97).load_arrays()
    for argv in (["demo", "--size", str(10 ** 9)], ["demo", "--channels", str(10 ** 9)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("minideeplab demo: error: demo: --channels") and \
            "more than this machine's memory" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("change, pattern", [
    (dict(max_iter=10 ** 30), "max_iter must be at most 1000000000"),
    (dict(crop_size=99999), "crop_size must be at most 4096"),
    (dict(image_size=10 ** 9), "image_size=1000000000 makes images beyond the 67 Mpx"),
    (dict(batch_size=10 ** 9, crop_size=17), r"batch_size=1000000000 and crop_size=17 would "
                                             r"make batch of shape \(1000000000, 3, 17, 17\)")])
def test_train_settings_beyond_their_limits_are_refused_by_the_config(change, pattern):
    """train --max-iter 10**30 ended in tqdm's OverflowError with a traceback; a crop beyond
    augment's limit was refused only at the first batch, after the data and model were built;
    a batch beyond memory (a checkpoint's batch_size=10**9) grew to 16 GiB at the first step."""
    from minideeplab.config import TrainConfig
    with pytest.raises((ArgumentError, BudgetExceededError), match=f"TrainConfig: {pattern}"):
        TrainConfig(**change)
    TrainConfig(max_iter=10 ** 9, crop_size=4096, image_size=8192)     # the limits themselves
