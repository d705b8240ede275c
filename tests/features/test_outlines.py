"""Canonical outlines (docs/contracts.md §E.0): vertices on straight edges carry no shape."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from pipeline.features._spatial import canonical_outlines


def _coords(g) -> int:
    return int(shapely.get_num_coordinates(g))


def test_points_on_straight_edges_go_and_corners_stay() -> None:
    square = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)])
    dense = shapely.segmentize(square, 1.0)  # 40 vertices, the same square
    turned = shapely.affinity.rotate(dense, 23.0, origin=(3, 4))
    out = canonical_outlines(np.array([dense, turned], dtype=object))
    assert _coords(dense) == 41
    assert [_coords(g) for g in out] == [5, 5]  # four corners and the closing point
    assert shapely.equals(out[0], square)
    assert abs(shapely.area(out[1]) - 100.0) < 1e-9


def test_a_corner_rounded_to_the_millimetre_stays() -> None:
    # a neighbour's corner half a millimetre off the edge: a real vertex, not a survey point
    poly = Polygon([(0, 0), (5, 0.0005), (10, 0), (10, 10), (0, 10)])
    out = canonical_outlines(np.array([poly], dtype=object))
    assert _coords(out[0]) == 6
    assert shapely.equals_exact(out[0], poly, tolerance=0)


def test_a_multipolygon_of_one_part_becomes_its_polygon() -> None:
    one = MultiPolygon([shapely.segmentize(Polygon([(0, 0), (4, 0), (4, 3), (0, 3)]), 0.5)])
    two = MultiPolygon(
        [
            shapely.segmentize(Polygon([(0, 0), (1, 0), (1, 1), (0, 1)]), 0.1),
            Polygon([(5, 5), (6, 5), (6, 6)]),
        ]
    )
    point = shapely.Point(1, 1)
    plain = MultiPolygon([Polygon([(0, 0), (4, 0), (4, 3)])])  # nothing to drop
    out = canonical_outlines(np.array([one, two, point, None, plain], dtype=object))
    assert out[4].geom_type == "Polygon" and shapely.equals_exact(out[4], plain.geoms[0], 0)
    assert out[0].geom_type == "Polygon" and _coords(out[0]) == 5  # the part itself
    assert out[1] is two  # several parts: as delivered
    assert out[2] is point and out[3] is None


def test_holes_lose_their_edge_points_too() -> None:
    outer = [(0, 0), (20, 0), (20, 20), (0, 20)]
    hole = [(5, 5), (5, 10), (10, 10), (10, 5)]
    poly = shapely.segmentize(Polygon(outer, [hole]), 1.0)
    out = canonical_outlines(np.array([poly], dtype=object))[0]
    assert _coords(out) == 10
    assert abs(out.area - 375.0) < 1e-9


def test_screened_or_not_the_outlines_are_douglas_peucker(monkeypatch) -> None:
    """Outlines are simplified only where a corner lies on a straight line (mostly plain
    footprints: screened first) or everywhere (mostly parcels with survey points: a sample
    says so): either way each is what Douglas–Peucker makes of it."""
    from pipeline.features import _spatial

    rng = np.random.default_rng(5)
    plain = [
        shapely.affinity.rotate(shapely.box(x, 0, x + 7, 5), a, origin=(x, 0))
        for x, a in zip(range(0, 900, 10), rng.uniform(0, 90, 90), strict=True)
    ]
    dense = [shapely.segmentize(g, 1.5) for g in plain[:30]]
    holed = Polygon([(0, 0), (20, 0), (20, 20), (0, 20)], [[(5, 5), (5, 10), (10, 10), (10, 5)]])
    for geoms, screened in (
        (np.array([*plain, *dense, holed, MultiPolygon([plain[3]])], dtype=object), True),
        (np.array([*dense, holed, *plain[:10]], dtype=object), False),
    ):
        want = shapely.simplify(geoms, _spatial.OUTLINE_TOLERANCE_M, preserve_topology=False)
        for n in (len(geoms), 7, 1):  # samples of all, of a few, of the first one
            monkeypatch.setattr(_spatial, "SCREEN_SAMPLE", n)
            out = canonical_outlines(geoms)
            assert shapely.equals_exact(out, want, tolerance=0).all()
            if n == len(geoms):  # left as they are only when screened
                kept = sum(out[k] is geoms[k] for k in range(len(geoms)))
                assert kept == (90 if screened else 0)


def test_outlines_of_layers_in_parts_are_those_of_each_layer_whole(monkeypatch) -> None:
    """The scan makes the parcels' and buildings' outlines in parts on two threads: every
    layer gets what it would get whole, in its own row order, marked as done."""
    import geopandas as gpd

    from pipeline.features import context

    rng = np.random.default_rng(11)
    boxes = [
        shapely.segmentize(shapely.affinity.rotate(shapely.box(x, 0, x + 9, 6), a), 2.0)
        for x, a in zip(range(0, 500, 10), rng.uniform(0, 90, 50), strict=True)
    ]
    a = gpd.GeoDataFrame({"k": range(30)}, geometry=boxes[:30], crs="EPSG:28992")
    b = gpd.GeoDataFrame({"k": range(20)}, geometry=boxes[30:], crs="EPSG:28992")
    empty = gpd.GeoDataFrame({"k": []}, geometry=[], crs="EPSG:28992")
    whole = [context.outlined(f) for f in (a, b)]
    monkeypatch.setattr(context, "OUTLINE_PART_ROWS", 7)
    parts = context.outlined_layers([a, empty, b])
    assert parts[1] is empty
    for got, want, src in zip((parts[0], parts[2]), whole, (a, b), strict=True):
        assert got.attrs[context.OUTLINES_ATTR]
        assert got.index.equals(src.index)
        assert shapely.equals_exact(
            np.asarray(got.geometry.array), np.asarray(want.geometry.array), tolerance=0
        ).all()
        assert (shapely.get_num_coordinates(np.asarray(got.geometry.array)) == 5).all()
    assert context.outlined_layers([parts[0]])[0] is parts[0]  # done once
