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
    assert trein["plot"] == pytest.approx(200.0)  # from the plot's top edge
    assert trein["unit"] == pytest.approx(np.hypot(400, 260))
    bus = fprox.distance_to_stop(objs, stops, kinds="bus")
    assert bus["plot"] == pytest.approx(50.0)
    assert bus["unit"] == pytest.approx(40.0)
    hov = fprox.distance_to_stop(objs, stops, kinds=("bus", "tram", "metro"))
    assert hov.name == "dist_bus_tram_metro_m"
    assert hov["plot"] == pytest.approx(50.0)


def test_distance_is_nan_without_stops_of_the_kind(stops):
    objs = frame([b(0, 0, 10, 10)])
    assert np.isnan(fprox.distance_to_stop(objs, stops, kinds="metro").iloc[0])


def test_distance_is_zero_for_a_target_inside():
    objs = frame([b(0, 0, 100, 100)])
    assert fprox.distance_to_nearest(objs, frame([p(50, 50)]), name="d").iloc[0] == 0.0


def test_count_within_radius_includes_the_boundary():
    objs = frame([p(0, 0), b(1000, 0, 1100, 100), p(5000, 5000)], index=["a", "b", "c"])
    targets = frame([p(300, 0), p(500, 0), p(501, 0), p(1100, 600), p(1600, 50)])
    n = fprox.count_within(objs, targets, radius=500, name="n_winkel_500m")
    assert n.name == "n_winkel_500m"
    # a: 300 and 500 (on the circle); b: 500 (from x=1000), 501, (1100,600) at 500, (1600,50) at 500
    assert n.to_dict() == {"a": 2, "b": 4, "c": 0}
    assert n.dtype == np.int64


def test_count_within_without_targets_is_zero():
    objs = frame([p(0, 0)])
    assert fprox.count_within(objs, frame([]), radius=10, name="n").tolist() == [0]


def test_mixed_use_share_on_the_grid():
    # Units snapped to 50 m cells; the object at the origin cell.
    units = frame([p(10, 10), p(20, 20), p(110, 10), p(410, 10), p(2000, 0)])
    nonres = np.array([False, True, True, False, True])
    objs = frame([b(0, 0, 40, 40), p(5000, 5000)], index=["near", "far"])
    s = fprox.mixed_use_share(objs, units, nonres, radius=500, cell=50)
    assert s.name == "mixed_use_500m"
    # within 500 m: the first four (cells 0, 0, 2, 8 along x); 2 of 4 non-residential
    assert s["near"] == pytest.approx(0.5)
    assert np.isnan(s["far"])
