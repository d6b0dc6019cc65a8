"""The CuPy stand-in (standin.py) must fail where CuPy fails: each rule fed code that breaks it.

These run whatever the device list says: they build stand-in arrays directly, without the
backend. What they guard is what makes a green run on the stand-in mean something for a GPU:
implicit conversions, NumPy calls on device arrays, host arrays mixed in, names CuPy lacks,
hidden syncs (counted by syncs.count_syncs, as on cupy.ndarray) and CuPy's own behaviour where
the library depends on it.
"""
import ast
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse

import standin
from minideeplab import backend
from syncs import count_syncs

cp, cupyx = standin.cupy, standin.cupyx
sparse = cupyx.scipy.sparse
HERE = pathlib.Path(__file__).parent
FIXTURE = HERE / "fixtures" / "cupy_names.json"


def dev(a):
    return cp.asarray(np.asarray(a))


# -- the fixture of names ----------------------------------------------------------------
def test_the_names_come_from_real_cupy_releases():
    data = json.loads(FIXTURE.read_text())
    versions = data["versions"]
    assert {v.split(".")[0] for v in versions} == {"13", "14"}, sorted(versions)
    assert (HERE / "fixtures" / "make_cupy_names.py").exists()
    for v, section in versions.items():
        assert section["cupy_version"] == v
        names = section["modules"]["cupy"]
        assert len(names) > 400 and names["asnumpy"] == "function" and names["exp"] == "ufunc"
        assert "scatter_add" in section["modules"]["cupyx"]
    assert standin.VERSIONS == sorted(versions)


def test_the_stand_in_offers_exactly_the_names_of_every_version():
    data = json.loads(FIXTURE.read_text())["versions"]
    common = set.intersection(*(set(s["modules"]["cupy"]) for s in data.values()))
    only_some = set.union(*(set(s["modules"]["cupy"]) for s in data.values())) - common
    assert "concat" in only_some                          # CuPy 14 only: not offered
    for name in common:
        assert hasattr(cp, name) or data[standin.VERSIONS[0]]["modules"]["cupy"][name] in (
            "module", "constant"), name
    for name in only_some | {"frobnicate", "nanargmax_of_everything"}:
        with pytest.raises(AttributeError, match="CuPy stand-in offers only CuPy's names"):
            getattr(cp, name)
    x = dev([1.0, 2.0])
    with pytest.raises(AttributeError):
        x.byteswap                                        # NumPy's and CuPy 14's, not 13's
    with pytest.raises(AttributeError):
        x.mT                                              # CuPy 14 only
    with pytest.raises(AttributeError):
        x.resize                                          # NumPy's ndarray method, not CuPy's
    with pytest.raises(AttributeError, match="frobnicate"):
        sparse.frobnicate
    with pytest.raises(AttributeError):
        sparse.coo_matrix(scipy.sparse.eye(2, format="coo")).getcol   # coo's: CuPy 14 only


def test_a_name_numpy_has_and_cupy_lacks_fails_in_library_style_code():
    numpy_only = sorted(n for n in dir(np) if callable(getattr(np, n)) and not n.startswith("_")
                        and not hasattr(cp, n) and n not in json.loads(FIXTURE.read_text())[
                            "versions"][standin.VERSIONS[0]]["modules"]["cupy"])
    assert numpy_only, "every NumPy function is in CuPy?"

    def op(x):                                   # an op that reaches for a NumPy-only name
        xp = backend.get_array_module(x) if backend.is_gpu_array(x) else standin.cupy
        return getattr(xp, numpy_only[0])(x)
    with pytest.raises(AttributeError, match=numpy_only[0]):
        op(dev([1.0, 2.0]))


# -- conversions and NumPy calls ---------------------------------------------------------
@pytest.mark.parametrize("convert", [
    np.asarray, np.array, np.ascontiguousarray, lambda a: a.__array__(),
    lambda a: np.exp(a), lambda a: np.sum(a), lambda a: np.concatenate([a, a]),
    lambda a: np.add(a, 1.0), lambda a: np.float32(a), lambda a: np.isfinite(a).all(),
    lambda a: np.asarray(a).mean(), lambda a: np.ones(2) + a, lambda a: a * np.ones(2),
    lambda a: cp.add(a, np.ones(2)), lambda a: cp.concatenate([a, np.ones(2)]),
    lambda a: cp.exp(a, out=np.empty(2)), lambda a: cp.where(a > 1, a, np.zeros(2)),
], ids=["asarray", "array", "ascontiguousarray", "__array__", "ufunc", "function",
        "function-list", "ufunc-scalar", "numpy-scalar-type", "numpy-reduction",
        "implicit-mean", "numpy+device", "device*numpy", "cupy-ufunc-mixed",
        "cupy-function-mixed", "out=numpy", "where-mixed"])
def test_implicit_conversions_and_mixing_are_type_errors(convert):
    with pytest.raises(TypeError):
        convert(dev([1.0, 2.0]))


def test_the_explicit_ways_to_the_host_and_back():
    a = np.arange(6.0).reshape(2, 3)
    d = cp.asarray(a)
    assert isinstance(d, cp.ndarray) and not isinstance(d, np.ndarray)
    got = d.get()
    assert type(got) is np.ndarray and np.array_equal(got, a)
    assert np.array_equal(cp.asnumpy(d), a) and cp.get_array_module(d) is cp
    assert cp.get_array_module(a) is np
    assert np.array_equal(cp.array([1, 2]).get(), [1, 2])         # lists go to the device


def test_reductions_and_element_indexing_stay_on_the_device():
    d = dev(np.arange(6.0).reshape(2, 3))
    for r in (d.sum(), d.max(), cp.mean(d), d[1, 2], cp.linalg.norm(d), (d > 2).any(),
              cp.count_nonzero(d), d.argmax()):
        assert isinstance(r, cp.ndarray) and r.shape == (), type(r)
    assert float(d.sum()) == 15.0


def test_numpy_index_arrays_are_accepted_as_cupy_accepts_them():
    d = dev(np.arange(5.0))
    assert np.array_equal(d[np.array([0, 4])].get(), [0.0, 4.0])
    assert np.array_equal(d[[1, 2]].get(), [1.0, 2.0])
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray"):
        d[:2] = np.ones(2)                                 # a host array into a device one


# -- syncs --------------------------------------------------------------------------------
def test_every_host_read_is_a_sync_and_device_work_is_not():
    d = dev(np.arange(6.0))
    i = dev(np.array([3, 0, 3]))
    with count_syncs(cp.ndarray, cp) as counter:
        y = cp.exp(d) * 2 + d[1:4].sum() - d.max()         # device work only
        cp.add.at(y, i, 1.0)
        cupyx.scatter_add(y, i, d[:3])
        cp.where(d > 2, d, 0.0)
        assert counter.total == 0, counter
        float(y[0]), int(i[0]), bool(d[1] > 0), y[2].item(), y.tolist(), y.get(), str(y[0])
        f"{y[0]:.2f}"
        d[d > 2]                                           # boolean mask
        for name in backend.SYNC_FUNCTIONS:
            fn = getattr(cp, name)
            fn(d > 2, d) if name in ("compress", "extract") else fn(d)
        cp.where(d > 2)                                    # one argument: nonzero
        cp.asnumpy(d)
    kinds = dict(counter.counts)
    assert kinds.pop("x[boolean mask]") == 1
    for name in ("__float__", "__int__", "__bool__", "item", "tolist", "__str__",
                 "__format__"):
        assert kinds.pop(name) == 1, (name, counter)
    assert kinds.pop("get") == 2                           # .get() and asnumpy
    assert kinds.pop("nonzero") == 1                       # where(cond)
    for name in backend.SYNC_FUNCTIONS:
        assert kinds.pop(f"cupy.{name}") == 1, (name, counter)
    assert kinds == {}, kinds


def test_the_stand_in_has_every_syncing_method_cupy_has():
    offered = standin.NAMES["cupy.ndarray"]
    for name in backend.SYNC_METHODS:
        assert (name in vars(cp.ndarray)) == (name in offered), name
    assert "__index__" not in offered                      # range(device_scalar) fails
    with pytest.raises(TypeError):
        range(dev(np.int64(3)))


def test_bincount_is_cupy_13s():
    with count_syncs(cp.ndarray, cp) as counter:
        got = cp.bincount(dev(np.array([0, 2, 2])), minlength=4)
    assert np.array_equal(got.get(), [1, 0, 2, 0]) and counter.total == 2   # check, size
    with pytest.raises(ValueError, match="zero-size"):
        cp.bincount(dev(np.zeros(0, np.int64)), minlength=4)
    with pytest.raises(TypeError):
        cp.bincount(np.array([0, 1]))


def test_a_sync_in_a_loop_breaks_a_budget():
    """What the sync budgets of test_syncs.py assert, fed a loop that reads a value back at
    every iteration (a convergence test on the device)."""
    def mean_field(q, iterations):
        for _ in range(iterations):
            new = cp.exp(q) / cp.exp(q).sum(axis=0, keepdims=True)
            if float(cp.abs(new - q).max()) < 1e-6:        # a sync per iteration
                break
            q = new
        return q
    q = dev(np.random.default_rng(0).standard_normal((3, 5)))
    syncs = {}
    for n in (1, 4):
        with count_syncs(cp.ndarray, cp) as counter:
            mean_field(q, n)
        syncs[n] = counter.total
    assert (syncs[4] - syncs[1]) / 3 == 1
    with pytest.raises(AssertionError):
        assert (syncs[4] - syncs[1]) / 3 <= 0, "a sync per iteration"


# -- CuPy's behaviour where the library relies on it ----------------------------------------
def test_add_at_and_scatter_add_accumulate_repeats():
    for scatter in (lambda t, i, v: cp.add.at(t, i, v), cupyx.scatter_add):
        t = cp.zeros(3)
        scatter(t, dev(np.array([0, 2, 0])), dev(np.array([1.0, 2.0, 3.0])))
        assert np.array_equal(t.get(), [4.0, 0.0, 2.0])
    with pytest.raises(TypeError):
        cupyx.scatter_add(np.zeros(3), dev(np.array([0])), 1.0)


def test_sparse_constructors_take_device_arrays_only():
    data, rows, cols = dev(np.array([1.0, 2.0])), dev(np.array([0, 1])), dev(np.array([1, 0]))
    m = sparse.coo_matrix((data, (rows, cols)), shape=(2, 2)).tocsr()
    assert sparse.issparse(m) and m.format == "csr" and m.indices.dtype == np.int32
    assert np.array_equal((m @ cp.ones((2, 1))).get(), [[1.0], [2.0]])
    assert isinstance(m @ cp.ones(2), cp.ndarray)
    with pytest.raises(TypeError):
        sparse.coo_matrix((np.array([1.0]), (rows[:1], cols[:1])), shape=(2, 2))
    with pytest.raises(TypeError):
        m @ np.ones(2)
    with pytest.raises(ValueError, match="Only bool, float32, float64"):
        sparse.csr_matrix((dev(np.array([1, 2])), dev(np.array([0, 1])),
                           dev(np.array([0, 1, 2]))), shape=(2, 2))
    moved = sparse.csr_matrix(scipy.sparse.eye(3, format="csr"))         # host -> device
    assert sparse.issparse(moved) and not scipy.sparse.issparse(moved)
    assert scipy.sparse.issparse(moved.get())


def test_a_csr_matrix_of_unknown_canonical_form_syncs_at_its_first_product():
    def build(canonical):
        a = sparse.csr_matrix((dev(np.ones(2, np.float32)), dev(np.array([0, 1])),
                               dev(np.array([0, 1, 2]))), shape=(2, 2))
        if canonical:
            a.has_canonical_format = True
        return a
    v = cp.ones((2, 3), dtype=cp.float32)
    for canonical, expected in ((False, 1), (True, 0)):
        a = build(canonical)
        with count_syncs(cp.ndarray, cp) as counter:
            a @ v
            a @ v                                          # known from then on
        assert counter.total == expected, (canonical, counter)


# -- the hook ------------------------------------------------------------------------------
def test_only_the_backend_imports_cupy_or_the_stand_in():
    root = HERE.parent / "minideeplab"
    offenders = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] in ("cupy", "cupyx", "standin") for n in names):
                offenders.append(str(path.relative_to(root)))
        if "MINIDEEPLAB_CUPY_STANDIN" in path.read_text():
            offenders.append(str(path.relative_to(root)))
    assert sorted(set(offenders)) == ["backend.py"], offenders


def test_the_environment_variable_puts_the_stand_in_in_cupys_place():
    code = ("from minideeplab import backend\nimport numpy as np\n"
            "x = backend.to_device(np.ones(3), 'gpu')\n"
            "print(type(x).__module__, backend.gpu_available(), backend.device_of(x))")
    env = dict(os.environ, MINIDEEPLAB_CUPY_STANDIN=str(HERE / "standin.py"),
               PYTHONPATH=str(HERE.parent))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["standin", "True", "gpu"]
    env["MINIDEEPLAB_CUPY_STANDIN"] = str(HERE / "no_such_standin_module.py")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode != 0 and "no_such_standin_module" in out.stderr   # loud, not NumPy


def test_notebook_08s_stand_in_arrays_sync_on_the_same_list():
    """One list of syncing calls (backend.SYNC_METHODS / SYNC_FUNCTIONS) for the sync counter,
    this stand-in and the arrays of notebook 08's exercise: each of them records each call."""
    from minideeplab.paper.exercises._standin import DeviceArrayStandIn, SyncLog, \
        stand_in_module
    log = SyncLog()
    x = DeviceArrayStandIn(np.array([0, 2]), log)
    for name in backend.SYNC_METHODS:
        before = len(log.events)
        method = getattr(x[1] if name in ("__index__", "__int__", "__float__", "__bool__",
                                          "__complex__", "item") else x, name)
        method(x > 1) if name == "compress" else method("") if name == "__format__" else \
            method()
        assert len(log.events) == before + 1, name
    xp = stand_in_module(log)
    for name in backend.SYNC_FUNCTIONS:
        before = len(log.events)
        fn = getattr(xp, name)
        fn(x > 1, x) if name in ("compress", "extract") else fn(x)
        assert log.events[before:] == [(None, f"xp.{name}")], name


def test_sparse_constructors_sync_where_cupy_does():
    """CuPy 14 reads a new CSR matrix's indptr ends; CuPy 13 checks a COO matrix's index
    bounds (four reads): a matrix built from device arrays inside a loop would sync."""
    data, idx = dev(np.ones(2, np.float32)), dev(np.array([0, 1]))
    with count_syncs(cp.ndarray, cp) as counter:
        sparse.csr_matrix((data, idx, dev(np.array([0, 1, 2]))), shape=(2, 2))
    assert counter.total == 1, counter
    with count_syncs(cp.ndarray, cp) as counter:
        sparse.coo_matrix((data, (idx, idx)), shape=(2, 2))
    assert counter.total == 4, counter
