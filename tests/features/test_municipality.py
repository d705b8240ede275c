"""The one municipality rule (pipeline.features.municipality), on boxes checked by hand."""

from __future__ import annotations

from shapely.geometry import Polygon

from pipeline.features.municipality import assign_gemeentecode

from .conftest import X0, Y0, b, frame, p


def test_a_point_inside_the_object_decides() -> None:
    mun = frame([b(0, 0, 100, 100), b(100, 0, 200, 100)], gemeentecode=["GM0002", "GM0001"])
    # An L-shaped object whose centroid would fall outside it; it lies mostly in GM0001.
    ell = Polygon(
        [
            (X0 + x, Y0 + y)
            for x, y in [(110, 0), (190, 0), (190, 10), (120, 10), (120, 90), (110, 90)]
        ]
    )
    objs = frame([ell, p(50, 50), p(500, 500)], index=["l", "pt", "out"])
    s = assign_gemeentecode(objs, mun)
    assert s.name == "gemeentecode"
    assert s[["l", "pt"]].to_dict() == {"l": "GM0001", "pt": "GM0002"}
    assert s.isna()["out"]


def test_on_a_shared_boundary_or_in_an_overlap_the_smallest_code_wins_in_any_row_order() -> None:
    west, east = b(0, 0, 100, 100), b(100, 0, 200, 100)
    overlap = b(50, 0, 150, 100)  # bad data: overlaps both
    objs = frame([p(100, 50), p(120, 50), p(60, 50), p(0, 50)], index=["edge", "e", "w", "outer"])
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        geoms = [[west, east, overlap][k] for k in order]
        codes = [["GM0007", "GM0003", "GM0005"][k] for k in order]
        s = assign_gemeentecode(objs, frame(geoms, gemeentecode=codes))
        assert s.to_dict() == {
            "edge": "GM0003",  # on the west|east boundary and inside the overlap
            "e": "GM0003",  # in east and the overlap
            "w": "GM0005",  # in west and the overlap
            "outer": "GM0007",  # on west's outer boundary: covered by west
        }
