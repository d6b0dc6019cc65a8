"""Fuzz tests (hypothesis) of the CRF's entry points and the weight readers.

The property, for any input: the call returns a valid result or raises a
:class:`~minideeplab.errors.UserError` whose message names the function (and, for files, the
file); any other exception, any warning (NumPy's RuntimeWarnings included), a NaN in a result,
or a refusal of an input that is valid by the rules written out here fails the test.

* ``dense_crf`` and ``cross_validate``: tiny images, probabilities that are a softmax or not
  (scaled, logits, NaN, infinite, negative, float16), parameters from ordinary to absurd
  (0, 1e-300, 1e300, NaN, inf, negative, non-numbers), every method and normalisation. A
  result must be finite marginals that sum to 1 per pixel.
* the readers: ``load_pth`` on the torch.save fixtures and on hand-assembled files with
  bytes flipped, cut, inserted or replaced by extreme integers, and on random pickles;
  ``read_safetensors``, ``read_npz``, ``read_npy``, ``read_image`` and ``read_label_png`` on
  damaged files. A result must be a dict of arrays (an array).

Examples are derandomised (CI runs the same cases every time); ``MINIDEEPLAB_FUZZ_SCALE=20``
runs twenty times as many random ones.
"""
import os
import struct
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from minideeplab.crf import cross_validate, dense_crf
from minideeplab.errors import UserError
from minideeplab.io import (read_image, read_label_png, read_npy, read_npz, read_safetensors,
                            save_npy, save_npz, save_safetensors)
from minideeplab.pth import load_pth
from pth_crafting import legacy_bytes, state_pickle, write_zip

# MINIDEEPLAB_FUZZ_SCALE=20: twenty times the examples, random ones (a longer hunt by hand)
SCALE = float(os.environ.get("MINIDEEPLAB_FUZZ_SCALE", "1"))
settings.register_profile("fuzz", derandomize=SCALE == 1, deadline=None, print_blob=True,
                          database=None, suppress_health_check=[
                              HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
PROFILE = settings.get_profile("fuzz")


def examples(n):
    return max(1, int(n * SCALE))
FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")

ODD_NUMBERS = [0.0, 1e-300, 1e-5, 1e20, 1e21, 1e300, float("nan"), float("inf"), -1.0, -0.0,
               10 ** 400, True, "3", None]
NUMBERS = st.one_of(st.floats(0.1, 150.0), st.sampled_from(ODD_NUMBERS))
PROBS = ["softmax", "softmax16", "uniform", "one-hot", "scaled", "logits", "nan", "inf",
         "negative", "int", "wrong-shape"]


def _probs(kind, rng, L, H, W):
    logits = rng.normal(0, 3, (L, H, W))
    p = np.exp(logits - logits.max(axis=0))
    p /= p.sum(axis=0)
    p = {"softmax": p, "softmax16": p.astype(np.float16), "uniform": np.full_like(p, 1 / L),
         "one-hot": np.eye(L)[logits.argmax(axis=0)].transpose(2, 0, 1), "scaled": p * 3,
         "logits": np.abs(logits), "nan": np.where(p > 0.5, np.nan, p),
         "inf": np.where(p > 0.5, np.inf, p), "negative": p - 0.5,
         "int": (p > 0.5).astype(np.int64), "wrong-shape": p[:, :, :1]}[kind]
    return p if kind in ("softmax16", "int") else p.astype(np.float32)


def _valid_crf_call(kind, L, params, iterations, threads, return_history):
    """Valid by the documented rules (docs/conventions.md, "Limits and budgets")."""
    def real(v):
        return isinstance(v, float) and np.isfinite(v)
    weights_ok = all(real(params[k]) and 0 <= params[k] <= 1e20 for k in ("w1", "w2"))
    thetas_ok = all(real(params[k]) and 1e-5 <= params[k] <= 1e20
                    for k in ("theta_alpha", "theta_beta", "theta_gamma"))
    return (kind in ("softmax", "softmax16", "uniform", "one-hot") and L >= 2 and weights_ok
            and thetas_ok and isinstance(iterations, int) and iterations >= 0
            and threads in (None, 1, 2) and isinstance(return_history, bool))


def _check_user_error(e, *names):
    assert isinstance(e, UserError), f"{type(e).__name__}: {e}"
    assert any(n in str(e) for n in names), f"{e} names none of {names}"


def _marginals_ok(Q, shape):
    Q = np.asarray(Q)
    assert Q.shape == shape and Q.dtype == np.float32
    assert np.isfinite(Q).all() and Q.min() >= 0
    np.testing.assert_allclose(Q.sum(axis=0), 1, atol=1e-4)


@settings(PROFILE, max_examples=examples(300))
@given(seed=st.integers(0, 2 ** 16), H=st.integers(1, 6), W=st.integers(1, 6),
       L=st.integers(1, 4), kind=st.sampled_from(PROBS), w1=NUMBERS, w2=NUMBERS,
       theta_alpha=NUMBERS, theta_beta=NUMBERS, theta_gamma=NUMBERS,
       iterations=st.sampled_from([0, 1, 3, -1, 2.5]), method=st.sampled_from(
           ["lattice", "naive", "exact"]), normalization=st.sampled_from(
           ["symmetric", "after", "before", "none"]), threads=st.sampled_from([None, 1, 2, 0]),
       return_history=st.sampled_from([False, True, "yes"]),
       image_dtype=st.sampled_from(["uint8", "uint8", "uint8", "float32"]))
def test_dense_crf_on_any_input(seed, H, W, L, kind, w1, w2, theta_alpha, theta_beta,
                                theta_gamma, iterations, method, normalization, threads,
                                return_history, image_dtype):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (H, W, 3)).astype(image_dtype)
    probs = _probs(kind, rng, L, H, W)
    params = dict(w1=w1, theta_alpha=theta_alpha, theta_beta=theta_beta, w2=w2,
                  theta_gamma=theta_gamma)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            out = dense_crf(image, probs, iterations=iterations, method=method,
                            normalization=normalization, threads=threads,
                            return_history=return_history, **params)
        except Exception as e:      # noqa: BLE001 - the property is about every exception
            _check_user_error(e, "dense_crf")
            valid = (_valid_crf_call(kind, L, params, iterations, threads, return_history)
                     and image_dtype == "uint8" and method != "exact")
            # thetas beyond the lattice's keys are refused by the size rule, not by ours here
            assert not valid or "too small for" in str(e), f"valid input refused: {e}"
            return
    Q = out[0] if return_history is True else out
    _marginals_ok(Q, probs.shape)
    if return_history is True:
        assert len(out[1].Q) == iterations + 1
        for q in out[1].Q:
            _marginals_ok(q, probs.shape)


@settings(PROFILE, max_examples=examples(60))
@given(seed=st.integers(0, 2 ** 16), kind=st.sampled_from(PROBS[:8]),
       w1s=st.lists(NUMBERS, min_size=0, max_size=2),
       alphas=st.lists(NUMBERS, min_size=0, max_size=2),
       betas=st.lists(NUMBERS, min_size=0, max_size=2), w2=NUMBERS, theta_gamma=NUMBERS,
       coarse_step=st.sampled_from([1, 2, 0]))
def test_cross_validate_on_any_input(seed, kind, w1s, alphas, betas, w2, theta_gamma,
                                     coarse_step):
    rng = np.random.default_rng(seed)
    samples = [(rng.integers(0, 256, (5, 4, 3)).astype(np.uint8), _probs(kind, rng, 3, 5, 4),
                rng.integers(0, 3, (5, 4)))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            result = cross_validate(samples, w1_values=w1s, theta_alpha_values=alphas,
                                    theta_beta_values=betas, w2=w2, theta_gamma=theta_gamma,
                                    iterations=2, coarse_step=coarse_step, progress=False)
        except Exception as e:      # noqa: BLE001
            _check_user_error(e, "cross_validate")
            return
    assert 0 <= result.best_mean_iou <= 1 and np.isfinite(result.baseline_mean_iou)


# ----------------------------------------------------------------------------- weight files
def _valid_files(tmp_path):
    """name -> bytes of files that load: the torch.save fixtures and hand-assembled ones."""
    w = np.arange(24, dtype=np.float32)
    p = state_pickle({"a": ("0", 24, (2, 12), (12, 1)), "b": ("0", 24, (3, 4), (1, 3), 2)})
    zipped = write_zip(tmp_path / "crafted_zip.pth", p, {"0": w})
    files = {"crafted_zip.pth": zipped.read_bytes(),
             "crafted_legacy.pth": legacy_bytes(p, {"0": w})}
    for name in ("tiny_zip.pth", "tiny_legacy.pth"):
        with open(os.path.join(FIXTURES, name), "rb") as f:
            files[name] = f.read()
    return files


MUTATIONS = st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert", "int32", "int64"]),
                               st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=4)
EXTREMES = [0, 1, 2 ** 31 - 1, 2 ** 32 - 1, 2 ** 62, 2 ** 63 - 1, -1, -2 ** 31]


def _mutate(data, mutations):
    data = bytearray(data)
    for kind, where, value in mutations:
        i = int(where * max(len(data) - 1, 0))
        if kind == "flip" and data:
            data[i] ^= value or 1
        elif kind == "cut":
            del data[i:]
        elif kind == "insert":
            data[i:i] = bytes([value]) * (1 + value % 7)
        else:
            n = 4 if kind == "int32" else 8
            x = EXTREMES[value % len(EXTREMES)]
            data[i:i + n] = (x % 2 ** (8 * n)).to_bytes(n, "little")
    return bytes(data)


def _read_or_refuse(reader, path, fn_name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # as Python's default filters do for library code: pickletools' decoder warns about
        # the escapes of a damaged string, which no user sees
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            out = reader(path)
        except Exception as e:      # noqa: BLE001
            _check_user_error(e, fn_name, os.fspath(path))
            return None
    return out


@settings(PROFILE, max_examples=examples(400))
@given(name=st.sampled_from(["crafted_zip.pth", "crafted_legacy.pth", "tiny_zip.pth",
                             "tiny_legacy.pth"]), mutations=MUTATIONS)
def test_load_pth_on_damaged_files(tmp_path_factory, name, mutations):
    tmp = tmp_path_factory.mktemp("pth")
    path = tmp / f"damaged_{name}"
    path.write_bytes(_mutate(_valid_files(tmp)[name], mutations))
    out = _read_or_refuse(load_pth, path, "load_pth")
    if out is not None:
        assert isinstance(out, dict)
        for v in out.values():
            assert isinstance(v, (np.ndarray, dict, list, tuple, int, float, str, bool,
                                  type(None), bytes))


@settings(PROFILE, max_examples=examples(300))
@given(body=st.binary(max_size=300), legacy=st.booleans())
def test_load_pth_on_random_pickles(tmp_path_factory, body, legacy):
    """Random bytes after the pickle header, as the state pickle of either format."""
    tmp = tmp_path_factory.mktemp("pickles")
    path = tmp / "random.pth"
    pickle_bytes = b"\x80\x02" + body
    if legacy:
        path.write_bytes(legacy_bytes(pickle_bytes, {}))
    else:
        write_zip(path, pickle_bytes, {})
    _read_or_refuse(load_pth, path, "load_pth")


def _arrays_ok(arrays):
    assert isinstance(arrays, dict)
    assert all(isinstance(v, np.ndarray) for v in arrays.values())


@settings(PROFILE, max_examples=examples(400))
@given(fmt=st.sampled_from(["safetensors", "npz", "npy", "png"]), mutations=MUTATIONS)
def test_array_and_image_readers_on_damaged_files(tmp_path_factory, fmt, mutations):
    tmp = tmp_path_factory.mktemp(fmt)
    arrays = {"w": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
              "b": np.ones(3, np.float64), "n": np.array(7, np.int64)}
    good = tmp / f"good.{fmt}"
    if fmt == "npz":
        save_npz(good, arrays)
    elif fmt == "npy":
        save_npy(good, arrays["w"])
    elif fmt == "png":
        Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3)).save(good)
    else:
        save_safetensors(good, arrays, metadata={"config": "{}"})
    path = tmp / f"damaged.{fmt}"
    path.write_bytes(_mutate(good.read_bytes(), mutations))
    readers = {"npz": [read_npz], "npy": [read_npy], "png": [read_image, read_label_png],
               "safetensors": [read_safetensors]}[fmt]
    for reader in readers:
        out = _read_or_refuse(reader, path, "read_")
        if out is None:
            continue
        if fmt == "npz":
            _arrays_ok(out)
        elif fmt == "safetensors":
            _arrays_ok(out[1])
        else:
            assert isinstance(out, np.ndarray)


@pytest.mark.parametrize("header_length", [0, 7, 2 ** 31, 2 ** 63])
def test_safetensors_header_lengths_beyond_the_file(tmp_path, header_length):
    """The first 8 bytes give the JSON header's length: any value is answered by an error
    naming the file, without allocating it."""
    path = tmp_path / "lying.safetensors"
    path.write_bytes(struct.pack("<Q", header_length) + b'{"w": {}}')
    _read_or_refuse(read_safetensors, path, "read_")
