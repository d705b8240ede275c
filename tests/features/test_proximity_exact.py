"""Exact disk counts and nearest distances against a brute-force numpy computation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.features import proximity as fprox

X0, Y0 = 80_000.0, 440_000.0
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def brute_counts(x, y, tx, ty, r, flags):
    """Column 0: targets with dx² + dy² ≤ r²; column k + 1: those with flags[k]."""
    dx = tx[None, :] - x[:, None]
    dy = ty[None, :] - y[:, None]
    hit = dx * dx + dy * dy <= r * r
    return np.column_stack([hit.sum(axis=1)] + [(hit & f[None, :]).sum(axis=1) for f in flags])


def coords(rng, n, extent, lattice):
    """Uniform points, half of them on a ``lattice``-metre lattice (many exact boundary cases)."""
    xy = rng.uniform(-0.1 * extent, extent, (n, 2))
    k = n // 2
    xy[:k] = np.round(xy[:k] / lattice) * lattice
    return X0 + xy[:, 0], Y0 + xy[:, 1]


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 120),
    m=st.integers(0, 600),
    radius=st.sampled_from([0.0, 1.0, 25.0, 50.0, 300.0, 500.0, 2000.0]),
    extent=st.sampled_from([100.0, 1500.0, 6000.0]),
    lattice=st.sampled_from([1.0, 25.0, 50.0, 100.0]),
    cell=st.sampled_from([None, 3.0, 50.0, 333.0, 10_000.0]),
    scatter=st.sampled_from([None, False, True]),
)
def test_disk_counts_equal_brute_force(seed, n, m, radius, extent, lattice, cell, scatter):
    rng = np.random.default_rng(seed)
    x, y = coords(rng, n, extent, lattice)
    tx, ty = coords(rng, m, extent, lattice)
    flags = [rng.random(m) < 0.3, np.ones(m, dtype=bool)]
    got = fprox.disk_counts_xy(x, y, tx, ty, radius=radius, flags=flags, cell=cell, scatter=scatter)
    assert got.dtype == np.int64
    assert got.shape == (n, 3)
    if n and m:
        np.testing.assert_array_equal(got, brute_counts(x, y, tx, ty, radius, flags))
    else:
        assert (got == 0).all()


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 150),
    m=st.integers(0, 300),
    extent=st.sampled_from([10.0, 1500.0, 50_000.0]),
)
def test_nearest_distance_equals_brute_force(seed, n, m, extent):
    rng = np.random.default_rng(seed)
    x, y = coords(rng, n, extent, 10.0)
    tx, ty = coords(rng, m, extent, 10.0)
    got = fprox.nearest_distance_xy(x, y, tx, ty)
    if m == 0:
        assert np.isnan(got).all()
        return
    brute = np.hypot(x[:, None] - tx[None, :], y[:, None] - ty[None, :]).min(axis=1)
    np.testing.assert_allclose(got, brute, rtol=1e-12, atol=1e-9)


def test_counts_do_not_depend_on_order_or_cell():
    rng = np.random.default_rng(11)
    x, y = coords(rng, 300, 4000.0, 50.0)
    tx, ty = coords(rng, 2000, 4000.0, 50.0)
    f = rng.random(2000) < 0.1
    ref = fprox.disk_counts_xy(x, y, tx, ty, radius=500.0, flags=[f])
    perm = rng.permutation(2000)
    shuffled = fprox.disk_counts_xy(x, y, tx[perm], ty[perm], radius=500.0, flags=[f[perm]])
    np.testing.assert_array_equal(ref, shuffled)
    for cell in (10.0, 40.0, 700.0):
        for scatter in (False, True):
            got = fprox.disk_counts_xy(
                x, y, tx, ty, radius=500.0, flags=[f], cell=cell, scatter=scatter
            )
            np.testing.assert_array_equal(ref, got)


def test_counts_with_coincident_points_and_targets():
    # many targets on one spot and points exactly on them, on the circle and outside it
    tx = np.full(50, X0)
    ty = np.full(50, Y0)
    x = np.array([X0, X0 + 500.0, X0 + 500.0 + 1e-9 * X0, X0 - 300.0])
    y = np.array([Y0, Y0, Y0, Y0 - 400.0])
    got = fprox.disk_counts_xy(x, y, tx, ty, radius=500.0)[:, 0]
    np.testing.assert_array_equal(got, brute_counts(x, y, tx, ty, 500.0, [])[:, 0])
    assert got.tolist() == [50, 50, 0, 50]


@pytest.mark.parametrize("cells", [2_000_000, 50])
def test_a_small_grid_budget_enlarges_the_cells(monkeypatch, cells):
    monkeypatch.setattr(fprox, "MAX_GRID_CELLS", cells)
    monkeypatch.setattr(fprox, "ROW_ITEMS", 50)
    monkeypatch.setattr(fprox, "PAIR_BATCH", 100)
    rng = np.random.default_rng(2)
    x, y = coords(rng, 200, 20_000.0, 50.0)
    tx, ty = coords(rng, 500, 20_000.0, 50.0)
    for scatter in (False, True):
        got = fprox.disk_counts_xy(x, y, tx, ty, radius=2000.0, cell=1.0, scatter=scatter)
        np.testing.assert_array_equal(got, brute_counts(x, y, tx, ty, 2000.0, []))


def test_mixed_use_exact_equals_brute_force():
    from .conftest import frame, p

    rng = np.random.default_rng(4)
    uxy = rng.uniform(0, 2000, (3000, 2))
    uxy[:1000] = np.round(uxy[:1000] / 20) * 20
    nonres = rng.random(3000) < 0.2
    oxy = np.round(rng.uniform(0, 2000, (100, 2)) / 20) * 20
    units = frame([p(a, b) for a, b in uxy])
    objs = frame([p(a, b) for a, b in oxy])
    got = fprox.mixed_use_share(objs, units, nonres).to_numpy()
    c = brute_counts(
        oxy[:, 0] + X0, oxy[:, 1] + Y0, uxy[:, 0] + X0, uxy[:, 1] + Y0, 500.0, [nonres]
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where(c[:, 0] > 0, c[:, 1] / c[:, 0], np.nan)
    np.testing.assert_array_equal(got, expected)
