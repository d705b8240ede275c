"""Distances, counts within a radius and mixed use, on points and boxes."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.features import proximity as fprox

from .conftest import b, frame, p


@pytest.fixture
def stops():
    return frame(
        [p(0, 300), p(400, 0), p(0, -50), p(1000, 1000)],
        kind=["trein", "bus", "bus", "tram"],
        stop_id=["s1", "s2", "s3", "s4"],
    )


def test_distance_to_stop_of_a_kind(stops):
    objs = frame([b(0, 0, 100, 100), p(400, 40)], index=["plot", "unit"])
    trein = fprox.distance_to_stop(objs, stops, kinds="trein")
    assert trein.name == "dist_trein_m"
    # measured from the plot's reference point, its centroid (50, 50)
    assert trein["plot"] == pytest.approx(np.hypot(50, 250))
    assert trein["unit"] == pytest.approx(np.hypot(400, 260))
    bus = fprox.distance_to_stop(objs, stops, kinds="bus")
    assert bus["plot"] == pytest.approx(np.hypot(50, 100))
    assert bus["unit"] == pytest.approx(40.0)
    hov = fprox.distance_to_stop(objs, stops, kinds=("bus", "tram", "metro"))
    assert hov.name == "dist_bus_tram_metro_m"
    assert hov["plot"] == pytest.approx(np.hypot(50, 100))


def test_dist_ov_is_unknown_without_any_bus_stop(stops):
    from pipeline.features.common import STOP_KINDS, dist_ov

    objs = frame([b(0, 0, 100, 100), p(400, 40)], index=["plot", "unit"])
    for only_rail in (False, True):
        sel = stops[stops["kind"] != "bus"] if only_rail else stops
        cols = {f"dist_{k}_m": fprox.distance_to_stop(objs, sel, kinds=k) for k in STOP_KINDS}
        ov = dist_ov(cols, sel)
        assert ov.name == "dist_ov_m"
        if only_rail:
            # only a station (250 m) and a tram stop: that proves no distance to the nearest bus
            assert ov.isna().all()
        else:
            # the bus stop at (0, -50) is nearest to the plot's point (50, 50); the unit's at 40 m
            assert ov["plot"] == pytest.approx(np.hypot(50, 100))
            assert ov["unit"] == pytest.approx(40.0)


def test_nearest_finds_the_closest_of_many_targets():
    rng = np.random.default_rng(3)
    tx, ty = rng.uniform(0, 5000, 300), rng.uniform(0, 5000, 300)
    x, y = rng.uniform(-500, 5500, 2000), rng.uniform(-500, 5500, 2000)
    got = fprox.nearest_distance_xy(x, y, tx, ty)
    brute = np.hypot(x[:, None] - tx[None, :], y[:, None] - ty[None, :]).min(axis=1)
    np.testing.assert_allclose(got, brute, rtol=1e-12, atol=1e-9)


def test_nearest_distance_of_a_3_4_5_triangle():
    # the nearest of (3, 4) at 5 m and (0, 6) at 6 m; a point on a target is at 0 m
    objs = frame([p(0, 0), p(3, 4)], index=["origin", "on"])
    d = fprox.distance_to_nearest(objs, frame([p(3, 4), p(0, 6), p(-7, 0)]), name="d")
    assert d["origin"] == 5.0
    assert d["on"] == 0.0


def test_distance_is_nan_without_stops_of_the_kind(stops):
    objs = frame([b(0, 0, 10, 10)])
    assert np.isnan(fprox.distance_to_stop(objs, stops, kinds="metro").iloc[0])


def test_distance_is_zero_for_a_target_inside():
    objs = frame([b(0, 0, 100, 100)])
    assert fprox.distance_to_nearest(objs, frame([p(50, 50)]), name="d").iloc[0] == 0.0


def test_count_within_radius_includes_the_boundary():
    objs = frame([p(25, 25), b(1000, 0, 1050, 50), p(5025, 5025)], index=["a", "b", "c"])
    targets = frame([p(325, 25), p(525, 25), p(575, 25), p(1025, 525), p(1525, 25), p(1025, 575)])
    n = fprox.count_within(objs, targets, radius=500, name="n_winkel_500m")
    assert n.name == "n_winkel_500m"
    # a: at 300 and 500 (on the circle), not 550
    # b (centre 1025, 25): 525 and 1525 at 500, 575 at 450, (1025, 525) at 500, not (1025, 575)
    assert n.to_dict() == {"a": 2, "b": 4, "c": 0}
    assert n.dtype == np.int64


def test_count_within_is_exact_off_the_grid():
    # 3-4-5 triangles scaled to r = 500: (300, 400) is on the circle, a millimetre more is not
    objs = frame([p(0, 0)])
    on = [p(300, 400), p(-400, 300), p(-300, -400), p(500, 0), p(0, -500)]
    off = [p(300.001, 400), p(0, 500.001), p(353.6, 353.6)]  # 353.6·√2 = 500.06
    inside = [p(1, 1), p(353.5, 353.5)]  # 353.5·√2 = 499.92
    targets = frame(on + off + inside)
    for cell in (None, 7.0, 50.0, 1000.0):
        n = fprox.count_within(objs, targets, radius=500, name="n", cell=cell)
        assert n.iloc[0] == len(on) + len(inside)


def test_count_within_matches_brute_force():
    rng = np.random.default_rng(5)
    objs = frame([p(x, y) for x, y in rng.uniform(0, 3000, (200, 2))])
    pts = rng.uniform(0, 3000, (400, 2))
    n = fprox.count_within(objs, frame([p(x, y) for x, y in pts]), radius=500, name="n").to_numpy()
    ox = np.array([g.x for g in objs.geometry]) - 80_000
    oy = np.array([g.y for g in objs.geometry]) - 440_000
    d = np.hypot(ox[:, None] - pts[None, :, 0], oy[:, None] - pts[None, :, 1])
    assert (n == (d <= 500).sum(axis=1)).all()


def test_count_within_without_targets_is_zero():
    objs = frame([p(0, 0)])
    assert fprox.count_within(objs, frame([]), radius=10, name="n").tolist() == [0]


def test_mixed_use_share_counts_exactly():
    # the object's reference point (its centroid) is (20, 20); (520, 20) is exactly 500 m away
    units = frame([p(20, 20), p(520, 20), p(521, 20), p(20, -480), p(20, 521)])
    nonres = np.array([False, True, True, True, True])
    objs = frame([b(0, 0, 40, 40), p(5000, 5000)], index=["near", "far"])
    s = fprox.mixed_use_share(objs, units, nonres)
    assert s.name == "mixed_use_500m"
    assert s["near"] == pytest.approx(2 / 3)  # (20, 20), (520, 20), (20, -480)
    assert np.isnan(s["far"])


def test_empty_geometries_get_nan_and_count_nothing():
    from shapely.geometry import Point, Polygon

    objs = frame([Polygon(), p(0, 0)], index=["empty", "pt"])
    targets = frame([p(3, 4), Point()])
    assert fprox.distance_to_nearest(objs, targets, name="d").tolist()[1] == 5.0
    assert np.isnan(fprox.distance_to_nearest(objs, targets, name="d")["empty"])
    assert fprox.count_within(objs, targets, radius=5, name="n").tolist() == [0, 1]
    s = fprox.mixed_use_share(objs, targets, np.array([True, True]))
    assert np.isnan(s["empty"]) and s["pt"] == 1.0


def test_polygon_distance_is_the_nearest_of_all_shapes_capped():
    """The distance to the nearest polygon is GEOS' shortest distance to the nearest of all of
    them (brute force), whatever the shapes' orientation; ``cap`` beyond it, and for a
    missing or empty geometry; 0 for one that touches or overlaps."""
    import shapely

    rng = np.random.default_rng(8)
    targets = np.array(
        [
            shapely.affinity.rotate(shapely.box(x, y, x + w, y + 30), a)
            for x, y, w, a in zip(
                *rng.uniform(0, 5000, (2, 40)),
                rng.uniform(5, 400, 40),
                rng.uniform(0, 90, 40),
                strict=True,
            )
        ],
        dtype=object,
    )
    geoms = shapely.buffer(shapely.points(rng.uniform(-2000, 7000, (300, 2))), 12, quad_segs=2)
    geoms[5], geoms[6] = None, shapely.Polygon()
    geoms[7] = targets[3].buffer(-1)  # inside a target
    geoms[8] = shapely.box(*targets[4].bounds).exterior.buffer(0.5)  # around a corner
    geoms[9] = shapely.Point(-30_000, -30_000)
    got = fprox.nearest_polygon_distance(geoms, targets, cap=2000.0)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    brute = np.full(len(geoms), 2000.0)
    brute[ok] = np.minimum(
        shapely.distance(geoms[ok][:, None], targets[None, :]).min(axis=1), 2000.0
    )
    np.testing.assert_array_equal(got, brute)
    assert got[7] == 0 and got[5] == got[6] == got[9] == 2000.0
    assert (got < 2000).sum() > 100 and (got == 2000).sum() > 10
    assert np.isnan(fprox.nearest_polygon_distance(geoms, targets[:0], cap=2000.0)).all()
