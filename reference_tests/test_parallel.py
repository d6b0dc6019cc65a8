"""minideeplab.parallel: the thread count, run_all, the shared matrix product, BLAS's threads."""
import threading

import numpy as np
import pytest

from minideeplab import parallel
from minideeplab.errors import ArgumentError


@pytest.fixture
def threads(request):
    previous = parallel.set_threads(request.param)
    yield request.param
    parallel.set_threads(previous)


@pytest.mark.parametrize("threads", [1, 2, 4], indirect=True)
def test_run_all_returns_every_result_in_order(threads):
    seen = set()

    def fn(k):
        seen.add(threading.get_ident())
        return k * k

    assert parallel.run_all(fn, range(50)) == [k * k for k in range(50)]
    assert len(seen) <= threads


@pytest.mark.parametrize("threads", [1, 3], indirect=True)
def test_run_all_raises_the_first_error_after_every_thread_stopped(threads):
    done = []

    def fn(k):
        if k == 5:
            raise KeyError("item 5")
        done.append(k)

    with pytest.raises(KeyError, match="item 5"):
        parallel.run_all(fn, range(20))
    assert 5 not in done


@pytest.mark.parametrize("threads", [3], indirect=True)
def test_run_all_inside_run_all_runs_in_the_calling_thread(threads):
    def inner(k):
        return threading.get_ident()

    def outer(k):
        return set(parallel.run_all(inner, range(10))) == {threading.get_ident()}

    assert all(parallel.run_all(outer, range(6)))


@pytest.mark.parametrize("shape", [(1, 7, 3), (64, 5, 9), (500, 330, 700), (129, 1, 2), (4, 9, 5000), (4, 3000, 5000)])
def test_matmul_is_the_product_and_the_same_on_any_number_of_threads(shape):
    M, K, N = shape
    rng = np.random.default_rng(M)
    a = rng.standard_normal((M, K))
    b = rng.standard_normal((K, N))
    results = []
    for n in (1, 2, 5):
        previous = parallel.set_threads(n)
        try:
            results.append(parallel.matmul(a.astype(np.float32), b.astype(np.float32)))
        finally:
            parallel.set_threads(previous)
    np.testing.assert_allclose(results[0], a @ b, rtol=1e-4, atol=1e-4)
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])


@pytest.mark.parametrize("size", [1, 1000, 2 ** 21 + 3, 3 * 2 ** 20 - 1])
def test_elementwise_covers_every_element_once_on_any_number_of_threads(size):
    # fn adds 1 to out in place: an element computed twice, or never, shows
    rng = np.random.default_rng(size)
    a = rng.standard_normal(size).astype(np.float32)
    for n in (1, 2, 5):
        previous = parallel.set_threads(n)
        try:
            out = np.zeros(size, np.float32)
            parallel.elementwise(lambda x, out: np.add(out, x + 1, out=out), out, a)
        finally:
            parallel.set_threads(previous)
        np.testing.assert_array_equal(out, a + 1)


def test_elementwise_takes_non_contiguous_arrays_whole():
    a = np.arange(2 ** 21, dtype=np.float32).reshape(2 ** 11, 2 ** 10)[:, ::2]
    out = np.empty(a.shape, np.float32)
    calls = []

    def fn(x, out):
        calls.append(x.shape)
        np.negative(x, out=out)

    parallel.elementwise(fn, out, a)
    assert calls == [a.shape]
    np.testing.assert_array_equal(out, -a)


def test_elementwise_refuses_arrays_of_other_shapes_and_a_bad_part():
    out = np.zeros((3, 4), np.float32)
    with pytest.raises(ArgumentError, match=r"elementwise: the arrays must have out's shape "
                                            r"\(3, 4\), got \[\(3, 4\), \(4, 3\)\]"):
        parallel.elementwise(np.add, out, np.ones((3, 4)), np.ones((4, 3)))
    with pytest.raises(ArgumentError, match="elementwise: part must be None or an int >= 1"):
        parallel.elementwise(np.negative, out, np.ones((3, 4)), part=0)
    assert (out == 0).all()                      # refused before any work


@pytest.mark.parametrize("count,minimum", [(1, 1), (7, 1), (100, 64), (1000, 64), (3, 8)])
def test_split_cuts_by_the_count_only(count, minimum):
    parts = parallel.split(count, minimum)
    assert parts[0][0] == 0 and parts[-1][1] == count
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
    assert len(parts) <= parallel.PARTS
    assert len(parts) == 1 or all(stop - start >= minimum for start, stop in parts)


def test_blas_runs_on_one_thread_inside_run_all_and_is_restored_after():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    controller = threadpoolctl.ThreadpoolController()
    blas = controller.select(user_api="blas")
    if not blas.lib_controllers:
        pytest.skip("no BLAS library that threadpoolctl can control")
    with controller.limit(limits=2, user_api="blas"):
        inside = parallel.run_all(
            lambda _: [lib.get_num_threads() for lib in blas.lib_controllers], [0])[0]
        after = [lib.get_num_threads() for lib in blas.lib_controllers]
    assert inside == [1] * len(after)
    assert after == [lib.num_threads for lib in blas.lib_controllers] or after == [2] * len(after)


def test_thread_count_from_the_environment_and_set_threads(monkeypatch):
    previous = parallel.set_threads(None)
    try:
        monkeypatch.setenv("MINIDEEPLAB_THREADS", "3")
        assert parallel.get_threads() == 3
        monkeypatch.delenv("MINIDEEPLAB_THREADS")
        assert parallel.get_threads() == parallel.default_threads() >= 1
        assert parallel.set_threads(2) is None and parallel.get_threads() == 2
        for bad in ("0", "two", "-1", "1.5"):
            monkeypatch.setenv("MINIDEEPLAB_THREADS", bad)
            parallel.set_threads(None)
            with pytest.raises(ArgumentError, match=r"MINIDEEPLAB_THREADS must be an integer >= 1"):
                parallel.get_threads()
        for bad in (0, -2, 1.5, True, "2"):
            with pytest.raises(ArgumentError, match="set_threads: threads must be None or an int"):
                parallel.set_threads(bad)
    finally:
        parallel.set_threads(previous)


@pytest.mark.parametrize("threads", [3], indirect=True)
def test_run_all_items_see_the_callers_numpy_errstate(threads):
    def overflow(_):
        return np.float32(3e38) * np.float32(10)

    with np.errstate(over="raise"):
        with pytest.raises(FloatingPointError):
            parallel.run_all(overflow, range(12))
    with np.errstate(over="ignore"):
        assert all(np.isinf(v) for v in parallel.run_all(overflow, range(12)))
