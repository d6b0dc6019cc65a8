"""The lattice notebook's arrays (minideeplab.paper.figures.lattice) against what the math of
the permutohedral lattice guarantees, and its kernel measurement against the exact filter."""
import numpy as np
import pytest

from minideeplab.crf.lattice import build_lattice
from minideeplab.crf.naive import NaiveFilter
from minideeplab.paper.figures import lattice as lat


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_lattice_steps_give_a_simplex_of_lattice_points_around_each_point(d):
    f = np.random.default_rng(d).random((40, d)) * 4
    s = lat.lattice_steps(f)
    d1 = d + 1
    assert np.allclose(s.elevated.sum(axis=0), 0)                      # on the plane
    for r in range(d1):                                                # corner r: remainder r
        assert np.all(s.corners[r] % d1 == r) and np.all(s.corners[r].sum(axis=0) == 0)
    assert np.all(s.bary >= -1e-12) and np.allclose(s.bary.sum(axis=0), 1)
    assert np.allclose((s.bary[:, None] * s.corners).sum(axis=0), s.elevated)
    # the same weights as the library's splat matrix (sorted per point)
    S = build_lattice(f)[0].tocsc()
    for n in range(0, 40, 7):
        col = np.sort(S.data[S.indptr[n]:S.indptr[n + 1]])
        mine = np.sort(s.bary[:, n][s.bary[:, n] > 1e-7])
        assert np.allclose(col[col > 1e-7], mine, atol=1e-6)


def test_plane_coordinates_keep_distances_on_the_plane():
    p = lat.lattice_steps(np.random.default_rng(0).random((10, 2)) * 3).elevated
    q = lat.plane_coordinates(p)
    d3 = np.linalg.norm(p[:, :, None] - p[:, None, :], axis=0)
    d2 = np.linalg.norm(q[:, :, None] - q[:, None, :], axis=0)
    assert np.allclose(d2, d3)


def test_impulse_response_against_the_exact_kernel():
    yy, xx = np.mgrid[:30, :30]
    f = np.stack([xx.ravel(), yy.ravel()], axis=1) / 3.0
    i = 15 * 30 + 15
    p = lat.lattice_impulse_response(f, i)
    assert np.allclose(p.exact, NaiveFilter(f).kernel_rows(i, i + 1)[0])
    assert p.lattice[i] == 1 and np.all(p.lattice[p.distance > p.reach] == 0)
    assert p.reach == p.distance[p.lattice > 0].max()
    fitted = np.exp(-p.distance ** 2 / (2 * p.width ** 2))
    for s in (p.width - 0.1, p.width + 0.1):                         # a least-squares minimum
        assert np.sum((fitted - p.lattice) ** 2) <= np.sum(
            (np.exp(-p.distance ** 2 / (2 * s * s)) - p.lattice) ** 2)
