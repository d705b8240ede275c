"""Overlay features on boxes whose answers can be computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.features import overlap as fov
from pipeline.features._spatial import intersection_areas

from .conftest import b, frame, p


def test_built_up_fraction_counts_inside_and_crossing_buildings():
    parcels = frame(
        [b(0, 0, 100, 100), b(100, 0, 200, 100), b(300, 0, 310, 10)], index=["P1", "P2", "P3"]
    )
    buildings = frame(
        [
            b(10, 10, 30, 30),  # 400 m² fully inside P1
            b(90, 40, 110, 60),  # 20×20 crossing P1|P2: 200 m² in each
            b(150, 0, 250, 100),  # half in P2: 50×100 = 5000 m²
        ]
    )
    s = fov.built_up_fraction(parcels, buildings)
    assert s.name == "built_up_fraction"
    assert list(s.index) == ["P1", "P2", "P3"]
    assert s["P1"] == pytest.approx(600 / 10_000)
    assert s["P2"] == pytest.approx(5200 / 10_000)
    assert s["P3"] == 0.0


def test_built_up_fraction_is_capped_at_one():
    parcels = frame([b(0, 0, 10, 10)])
    buildings = frame([b(0, 0, 10, 10), b(0, 0, 10, 10)])  # two identical footprints
    assert fov.built_up_fraction(parcels, buildings).iloc[0] == 1.0


def test_intersection_areas_splits_contained_pairs_without_overlay():
    geoms = np.array([b(0, 0, 100, 100), b(0, 0, 10, 10)], dtype=object)
    others = np.array([b(10, 10, 20, 20), b(-5, -5, 50, 50), b(90, 90, 120, 120)], dtype=object)
    i, j, area = intersection_areas(geoms, others)
    got = {(int(a), int(c)): round(float(v), 6) for a, c, v in zip(i, j, area, strict=True)}
    assert got == {
        (0, 0): 100.0,  # contained in the parcel: its own area
        (0, 1): 2500.0,  # crossing: intersected
        (0, 2): 100.0,  # crossing corner 10×10
        # (1, 0) touch at a corner only: no shared area, not a pair
        (1, 1): 100.0,  # the small box lies within the other: its own area
    }


def test_zoning_takes_the_largest_overlap_and_onbekend_without_plan():
    objs = frame([b(0, 0, 100, 100), b(500, 500, 510, 510), p(10, 10)], index=["a", "b", "c"])
    zoning = frame(
        [b(-10, -10, 60, 200), b(60, -10, 200, 200)],
        hoofdgroep=["wonen", "groen"],
    )
    s = fov.zoning_hoofdgroep(objs, zoning)
    assert s.name == "zoning_hoofdgroep"
    assert s.to_dict() == {"a": "wonen", "b": "onbekend", "c": "wonen"}  # 60 % vs 40 %


def test_zoning_groups_sum_over_several_plan_areas():
    objs = frame([b(0, 0, 100, 100)])
    zoning = frame(
        [b(0, 0, 40, 100), b(40, 0, 70, 100), b(70, 0, 100, 100)],
        hoofdgroep=["wonen", "groen", "groen"],  # groen 60 % in two pieces beats wonen 40 %
    )
    assert fov.zoning_hoofdgroep(objs, zoning).iloc[0] == "groen"


def test_zoning_tie_goes_to_alphabetically_first_group_in_any_order():
    objs = frame([b(0, 0, 100, 100)])
    zoning = frame([b(0, 0, 50, 100), b(50, 0, 100, 100)], hoofdgroep=["wonen", "groen"])
    assert fov.zoning_hoofdgroep(objs, zoning).iloc[0] == "groen"
    assert fov.zoning_hoofdgroep(objs, zoning.iloc[::-1]).iloc[0] == "groen"


def test_owner_class_needs_half_the_area_and_flags_the_province():
    objs = frame([b(0, 0, 100, 100), b(200, 0, 300, 100), b(400, 0, 500, 100), p(450, 50)])
    ownership = frame(
        [b(0, 0, 100, 60), b(200, 0, 300, 40), b(400, 0, 500, 100)],
        owner_class=["provincie", "gemeente", "corporatie"],
        owner_name=["Provincie Zuid-Holland", "Gemeente X", None],
    )
    owner = fov.owner_class(objs, ownership)
    assert owner.name == "owner_class"
    assert owner.tolist() == ["provincie", "onbekend", "corporatie", "corporatie"]
    assert fov.is_provincial(owner).tolist() == [True, False, False, False]


def test_owner_key_separates_named_owners_and_unnamed_polygons():
    objs = frame(
        [b(0, 0, 10, 10), b(10, 0, 20, 10), b(30, 0, 40, 10), b(50, 0, 60, 10), b(90, 0, 99, 10)]
    )
    ownership = frame(
        [b(0, 0, 20, 10), b(30, 0, 40, 10), b(50, 0, 60, 10)],
        owner_class=["gemeente", "gemeente", "overig"],
        owner_name=["Gemeente X", "Gemeente X", None],
    )
    key = fov.owner_key(objs, ownership)
    assert key.iloc[0] == key.iloc[1] == key.iloc[2] == "gemeente|Gemeente X"
    assert key.iloc[3].startswith("overig|#")
    assert key.iloc[4] is None


def test_zone_fraction_per_kind_for_polygons_and_points():
    objs = frame([b(0, 0, 100, 100), b(200, 0, 300, 100), p(50, 50), p(250, 50)])
    zones = frame(
        [b(0, 0, 25, 100), b(200, 0, 300, 100), b(0, 0, 100, 100)],
        kind=["natura2000", "natura2000", "externe_veiligheid"],
    )
    n2k = fov.zone_fraction(objs, zones, kind="natura2000")
    assert n2k.name == "zone_natura2000_frac"
    assert n2k.tolist() == pytest.approx([0.25, 1.0, 0.0, 1.0])
    ev = fov.zone_fraction(objs, zones, kind="externe_veiligheid")
    assert ev.tolist() == pytest.approx([1.0, 0.0, 1.0, 0.0])
    assert fov.zone_fraction(objs, zones, kind="nnn").tolist() == [0.0] * 4


def test_zone_fraction_of_overlapping_zones_is_capped():
    objs = frame([b(0, 0, 10, 10)])
    zones = frame([b(0, 0, 10, 10), b(0, 0, 10, 10)], kind=["nnn", "nnn"])
    assert fov.zone_fraction(objs, zones, kind="nnn").iloc[0] == 1.0


def test_in_kernwinkelgebied_by_majority_or_point_inside():
    objs = frame([b(0, 0, 100, 100), b(0, 0, 100, 100), p(10, 10), p(95, 95)])
    zones = frame([b(0, 0, 60, 100)], kind=["kernwinkelgebied"])
    s = fov.in_kernwinkelgebied(objs, zones)
    assert s.name == "in_kernwinkelgebied"
    assert s.tolist() == [True, True, True, False]


def test_empty_layers_give_defaults():
    objs = frame([b(0, 0, 1, 1)])
    empty = frame([], kind=pd.Series([], dtype=object), hoofdgroep=pd.Series([], dtype=object))
    assert fov.zone_fraction(objs, empty, kind="nnn").tolist() == [0.0]
    assert fov.zoning_hoofdgroep(objs, empty).tolist() == ["onbekend"]


def test_intersection_areas_equal_brute_force_overlays_for_any_shapes():
    """Rectangles, rotated squares and triangles: every fast path gives the overlay's area."""
    import shapely

    rng = np.random.default_rng(7)
    n = 120
    x, y = rng.uniform(0, 400, n), rng.uniform(0, 400, n)
    size = rng.uniform(5, 60, n)
    boxes = shapely.box(x, y, x + size, y + size * rng.uniform(0.5, 1.5, n))
    rotated = shapely.affinity.rotate  # per geometry below
    shapes = []
    for k, g in enumerate(boxes):
        if k % 3 == 1:
            g = rotated(g, float(rng.uniform(5, 80)))
        elif k % 3 == 2:
            (x0, y0, x1, y1) = g.bounds
            g = shapely.Polygon([(x0, y0), (x1, y0), (x0, y1)])
        shapes.append(g)
    # Nested on purpose: a big rectangle (contains everything), a big rotated square and a
    # big triangle (contain some shapes without being rectangles).
    big_rotated = rotated(shapely.box(150, 150, 300, 300), 30)
    big_triangle = shapely.Polygon([(0, 0), (250, 0), (0, 250)])
    geoms = np.array([*shapes[:60], big_rotated], dtype=object)
    others = np.array([*shapes[60:], shapely.box(0, 0, 500, 500), big_triangle], dtype=object)
    i, j, area = intersection_areas(geoms, others)
    got = {(int(a), int(c)): float(v) for a, c, v in zip(i, j, area, strict=True)}
    ii, jj = np.meshgrid(np.arange(len(geoms)), np.arange(len(others)), indexing="ij")
    brute = shapely.area(shapely.intersection(geoms[ii.ravel()], others[jj.ravel()]))
    want = {
        (int(a), int(c)): float(v)
        for a, c, v in zip(ii.ravel(), jj.ravel(), brute, strict=True)
        if v > 1e-9
    }
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9)


def test_intersection_areas_of_some_rows_and_in_parts_equal_the_whole(monkeypatch):
    """``rows`` overlays only those geometries (indices stay those of the whole array); two
    halves, or many parts taken in turn by two threads, give the pairs of one pass, in the
    same order."""
    import shapely

    from pipeline.features import _spatial

    rng = np.random.default_rng(3)
    n = 80
    x, y = rng.uniform(0, 300, n), rng.uniform(0, 300, n)
    geoms = shapely.box(x, y, x + 40, y + 25)
    geoms[::4] = [shapely.affinity.rotate(g, 33) for g in geoms[::4]]
    others = shapely.box(*(rng.uniform(0, 300, 2)), 320, 320), *shapely.box(y, x, y + 30, x + 30)
    others = np.array(others, dtype=object)
    whole = intersection_areas(geoms, others)
    monkeypatch.setattr(_spatial, "PARALLEL_MIN_ROWS", 2)
    for part_rows in (n, 7):  # two halves; 11 parts
        monkeypatch.setattr(_spatial, "PARALLEL_PART_ROWS", part_rows)
        parts = intersection_areas(geoms, others)
        for a, c in zip(whole, parts, strict=True):
            np.testing.assert_array_equal(a, c)
    rows = np.arange(1, n, 3)
    i, j, area = intersection_areas(geoms, others, rows=rows)
    keep = np.isin(whole[0], rows)
    np.testing.assert_array_equal(i, whole[0][keep])
    np.testing.assert_array_equal(j, whole[1][keep])
    np.testing.assert_array_equal(area, whole[2][keep])


def test_owner_key_of_some_rows_is_none_elsewhere():
    objs = frame([b(0, 0, 10, 10), b(10, 0, 20, 10), b(30, 0, 40, 10)])
    ownership = frame([b(0, 0, 40, 10)], owner_class=["gemeente"], owner_name=["Gemeente X"])
    key = fov.owner_key(objs, ownership, rows=np.array([1, 2]))
    assert key.tolist() == [None, "gemeente|Gemeente X", "gemeente|Gemeente X"]


def test_lookup_positions_of_text_ids_missing_keys_and_other_keys():
    from pipeline.features._spatial import lookup_positions

    index = pd.Index(["0344100000000001", "0344100000000002", "None", "b"])
    keys = np.array(["b", "0344100000000001", "x", "0344100000000002"], dtype=object)
    assert lookup_positions(index, keys).tolist() == [3, 0, -1, 1]
    # a missing key (None) is not the text "None"; a number is not text
    assert lookup_positions(index, np.array([None, "b"], dtype=object)).tolist() == [-1, 3]
    assert lookup_positions(index, np.array([5], dtype=object)).tolist() == [-1]
    assert lookup_positions(pd.Index([3, 5]), np.array([5, 4])).tolist() == [1, -1]


def test_overlay_parts_hold_about_equal_vertex_counts(monkeypatch):
    """The threads take parts of about equal vertex counts: a polygon of a thousand vertices
    (a river parcel) fills a part of its own, the plain plots share the others, in order."""
    import shapely

    from pipeline.features import _spatial

    monkeypatch.setattr(_spatial, "PARALLEL_MIN_ROWS", 2)
    monkeypatch.setattr(_spatial, "PARALLEL_PART_ROWS", 20)
    x = np.arange(200) * 20.0
    geoms = shapely.box(x, 0, x + 10, 10)  # 5 coordinates each: 1,000 in all
    river = shapely.Point(0, -50).buffer(40, quad_segs=250)  # 1,001 coordinates
    geoms = np.concatenate([geoms[:10], [river], geoms[10:]])
    parts = _spatial._balanced_parts(geoms, np.arange(len(geoms)))
    np.testing.assert_array_equal(np.concatenate(parts), np.arange(len(geoms)))
    assert 2 <= len(parts) <= 10  # 201 rows // 20 (cuts that fall inside the river: none)
    # each part is at most a tenth of the 2,001 vertices, plus the one row that crosses it
    weight = [int(shapely.get_num_coordinates(geoms[p]).sum()) for p in parts]
    river_part = next(k for k, p in enumerate(parts) if 10 in p)
    assert weight[river_part] <= 200 + 1001
    assert all(w <= 200 + 5 for k, w in enumerate(weight) if k != river_part)
    assert max(weight) / min(weight) > 4  # by vertices, not rows
    small = np.arange(50)
    assert [p.tolist() for p in _spatial._balanced_parts(geoms, small)] != [small.tolist()]
    monkeypatch.setattr(_spatial, "PARALLEL_MIN_ROWS", 100)
    assert [p.tolist() for p in _spatial._balanced_parts(geoms, small)] == [small.tolist()]


def test_query_pairs_in_chunks_on_two_threads_equal_one_query(monkeypatch):
    """Chunks queried two at a time give the pairs of one query, sorted by input, then tree
    index; an input of PARALLEL_MIN_ROWS or more is cut in at least two chunks."""
    import shapely

    from pipeline.features import _spatial

    rng = np.random.default_rng(5)
    x, y = rng.uniform(0, 500, 300), rng.uniform(0, 500, 300)
    geoms = shapely.buffer(shapely.points(x, y), rng.uniform(5, 40, 300))
    tree = shapely.STRtree(geoms[::-1])
    sizes: list[int] = []
    plain = _spatial.chunks

    def chunks(n, size=_spatial.CHUNK):
        sizes.append(size)
        return plain(n, size)

    monkeypatch.setattr(_spatial, "chunks", chunks)
    monkeypatch.setattr(_spatial, "CHUNK", 70)
    monkeypatch.setattr(_spatial, "PARALLEL_MIN_ROWS", 100)
    for predicate, distance in (("intersects", None), ("dwithin", 3.0)):
        i, j = _spatial.query_pairs(geoms, tree, predicate=predicate, distance=distance)
        expect = tree.query(geoms, predicate=predicate, distance=distance)
        order = np.lexsort((expect[1], expect[0]))
        assert len(i) > 300  # every circle meets itself, and others
        np.testing.assert_array_equal(i, expect[0][order])
        np.testing.assert_array_equal(j, expect[1][order])
    assert sizes == [70, 70]  # 300 rows in five chunks of at most 70, two at a time
    monkeypatch.setattr(_spatial, "CHUNK", 1_000)
    _spatial.query_pairs(geoms, tree, predicate="intersects")
    assert sizes[-1] == 150  # at least PARALLEL_MIN_ROWS rows: two halves
    monkeypatch.setattr(_spatial, "PARALLEL_MIN_ROWS", 1_000)
    _spatial.query_pairs(geoms, tree, predicate="intersects")
    assert sizes[-1] == 500  # fewer: one chunk
