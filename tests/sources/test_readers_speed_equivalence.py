"""The readers' shortcuts give exactly what the plain rules give.

``load_sources`` reads sources in threads, assigns most
features their municipality from a grid of municipality interiors, checks digit ids for
duplicates as integers and splits gebruiksdoel once per distinct value. Each shortcut is
checked here against the straightforward rule it replaces, on hand-made edge cases and on
seeded random data.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pandas.testing import assert_frame_equal, assert_series_equal
from shapely.geometry import MultiPolygon, Point, Polygon, box

from pipeline import catalog, schemas
from pipeline.errors import InputError
from pipeline.sources import bag

from .conftest import RD, Inputs, parcels_gdf

# ---------------------------------------------------------------------------------------------
# validity: repair exactly what GEOS calls invalid
# ---------------------------------------------------------------------------------------------


def _star(points: int, turns: int, r: float = 10.0) -> Polygon:
    angles = np.arange(points) * 2 * np.pi * turns / points
    return Polygon(np.c_[1000 + r * np.cos(angles), 2000 + r * np.sin(angles)])


HAND_CASES = [
    box(0, 0, 1, 1),  # convex, counter-clockwise
    Polygon([(0, 0), (0, 1), (1, 1), (1, 0)]),  # convex, clockwise
    Polygon([(0, 0), (1, 0), (0, 1)]),  # triangle
    Polygon(
        [(85_000.0, 440_000.0), (85_000.5, 440_000.0), (85_000.5, 440_000.5), (85_000, 440_000.5)]
    ),
    Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]),  # bow-tie
    Polygon([(0, 0), (1, 0), (1, 0), (1, 1)]),  # repeated vertex
    Polygon([(0, 0), (2, 0), (1, 1e-13), (1, 1)]),  # nearly straight
    Polygon([(0, 0), (1, 0), (2, 0)]),  # collinear, no area
    Polygon([(0, 0), (3, 0), (3, 3), (1, 1), (0, 3)]),  # concave
    _star(5, 2),  # pentagram: every turn to the same side, but around twice
    _star(7, 3),
    _star(12, 1),  # convex 12-gon
    Polygon(box(0, 0, 4, 4).exterior, [box(1, 1, 2, 2).exterior]),  # hole
    MultiPolygon([box(0, 0, 1, 1), box(2, 2, 3, 3)]),
    MultiPolygon([box(0, 0, 2, 2), box(1, 1, 3, 3)]),  # overlapping parts: invalid
    Point(0, 0),
    Polygon(),
    None,
]


def _random_polygons(rng: np.random.Generator, n: int) -> list[Polygon]:
    out: list[Polygon] = []
    for _ in range(n):
        k = int(rng.integers(3, 9))
        centre = rng.uniform([40_000, 400_000], [130_000, 480_000])
        scale = 10.0 ** rng.uniform(-7, 3)  # from far below a millimetre to a kilometre
        pts = centre + rng.normal(size=(k, 2)) * scale
        if rng.random() < 0.5:  # sort by angle: often convex, sometimes not
            d = pts - pts.mean(axis=0)
            pts = pts[np.argsort(np.arctan2(d[:, 1], d[:, 0]))]
        out.append(Polygon(pts))
    return out


def test_repair_counts_the_same_invalid_geometries_as_geos() -> None:
    rng = np.random.default_rng(11)
    geoms = np.array(_random_polygons(rng, 3_000) + HAND_CASES, dtype=object)
    with np.errstate(invalid="ignore"):
        out, repaired = schemas._repair_geometries(geoms, polygonal=True)
    expected = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    assert (repaired == expected).all()
    assert (out[~expected] == geoms[~expected]).all()


# ---------------------------------------------------------------------------------------------
# gemeentecode: the grid shortcut equals "first municipality containing the point on surface"
# ---------------------------------------------------------------------------------------------


def _reference_codes(gdf: gpd.GeoDataFrame, mun: gpd.GeoDataFrame) -> pd.Series:
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    codes = np.full(len(geoms), None, dtype=object)
    for k, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        p = g if g.geom_type == "Point" else g.point_on_surface()
        if p.is_empty:
            continue
        for m, code in sorted(
            zip(mun.geometry, mun["gemeentecode"], strict=True), key=lambda t: t[1]
        ):
            if shapely.intersects_xy(m, p.x, p.y):  # covered, boundary included
                codes[k] = code
                break  # the smallest code wins
    return pd.Series(codes, index=gdf.index, dtype="str", name="gemeentecode")


@pytest.fixture
def municipalities() -> gpd.GeoDataFrame:
    """Twelve irregular municipalities (Voronoi cells) over 12 × 10 km, plus one that overlaps
    two of them (bad data, but the rule stays: the smallest code wins)."""
    rng = np.random.default_rng(3)
    extent = box(80_000, 440_000, 92_000, 450_000)
    seeds = shapely.multipoints(rng.uniform([80_000, 440_000], [92_000, 450_000], size=(12, 2)))
    cells = [
        c.intersection(extent) for c in shapely.voronoi_polygons(seeds, extend_to=extent).geoms
    ]
    cells = [shapely.segmentize(c, 300.0) for c in cells]
    geoms = [*cells, box(85_000, 444_000, 87_500, 446_500)]
    codes = [f"GM{k:04d}" for k in range(len(geoms))]
    return gpd.GeoDataFrame({"gemeentecode": pd.Series(codes, dtype="str")}, geometry=geoms, crs=RD)


def _features(rng: np.random.Generator, n: int) -> gpd.GeoDataFrame:
    x = rng.uniform(79_000, 93_000, n)
    y = rng.uniform(439_000, 451_000, n)
    w = 10.0 ** rng.uniform(0, 3.2, n)  # 1 m to 1.5 km
    kinds = rng.integers(0, 3, n)
    geoms: list[object] = []
    for k in range(n):
        if kinds[k] == 0:
            geoms.append(Point(x[k], y[k]))
        elif kinds[k] == 1:
            geoms.append(box(x[k], y[k], x[k] + w[k], y[k] + w[k] / 3))
        else:  # an L-shape: its point on surface is not its centre
            geoms.append(
                Polygon(
                    [
                        (x[k], y[k]),
                        (x[k] + w[k], y[k]),
                        (x[k] + w[k], y[k] + w[k] / 5),
                        (x[k] + w[k] / 5, y[k] + w[k] / 5),
                        (x[k] + w[k] / 5, y[k] + w[k]),
                        (x[k], y[k] + w[k]),
                    ]
                )
            )
    geoms += [  # (empty geometries are a problem before municipalities are assigned)
        None,
        Polygon([(85_000, 445_000), (85_010, 445_000), (85_020, 445_000)]),  # no area
        MultiPolygon(
            [box(81_000, 441_000, 81_010, 441_010), box(91_000, 449_000, 91_010, 449_010)]
        ),
        Point(80_000, 445_000),  # on the outer boundary: covered by the municipality there
        Point(78_000, 445_000),  # outside every municipality
    ]
    index = pd.RangeIndex(1, len(geoms) + 1)
    return gpd.GeoDataFrame({"v": np.arange(len(geoms))}, geometry=geoms, crs=RD, index=index)


def test_assign_gemeentecode_equals_the_point_by_point_rule(
    municipalities: gpd.GeoDataFrame,
) -> None:
    gdf = _features(np.random.default_rng(5), 4_000)
    with np.errstate(invalid="ignore"):
        got = catalog.assign_gemeentecode(gdf, municipalities)
        index = catalog.MunicipalityIndex.build(municipalities)
        by_grid = index.from_cells(np.asarray(gdf.geometry.array, dtype=object)) >= 0
    assert_series_equal(got, _reference_codes(gdf, municipalities))
    assert got.isna().any() and got.notna().any()
    assert by_grid.mean() > 0.3  # the shortcut is really exercised
    # the overlap: features there take the smallest code, never the overlapping GM0012
    assert (got != municipalities["gemeentecode"].iloc[-1]).all()


def test_assign_gemeentecode_without_municipalities_or_features() -> None:
    mun = gpd.GeoDataFrame({"gemeentecode": pd.Series([], dtype="str")}, geometry=[], crs=RD)
    out = catalog.assign_gemeentecode(parcels_gdf(), mun)
    assert out.isna().all() and out.dtype == "str"
    empty = gpd.GeoDataFrame(geometry=[], crs=RD)
    assert len(catalog.assign_gemeentecode(empty, parcels_gdf().assign(gemeentecode="x"))) == 0


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["0599100000000001", "0599100000000002", None, None], False),
        (["0599100000000001", "0599100000000002", "0599100000000001"], True),
        (["01", "1"], False),  # equal as numbers, not as ids
        (["12", "1a", "12 "], False),
        (["1234567890123456789", "1234567890123456789"], True),  # too long for int64: hashed
        (["x", "y", "x"], True),
    ],
)
def test_has_duplicates_of_digit_ids(values: list[str | None], expected: bool) -> None:
    for dtype in ("str", object):
        series = pd.Series(values, dtype=dtype)
        assert schemas.has_duplicates(series) is expected
        assert schemas.has_duplicates(series) == bool(series.dropna().duplicated().any())


def test_gebruiksdoel_lists_gives_every_row_its_own_list() -> None:
    values = pd.Series(["woonfunctie", "woonfunctie", None, "Kantoorfunctie, woonfunctie"] * 3)
    out = bag.gebruiksdoel_lists(values)
    assert out.tolist()[:4] == [
        ["woonfunctie"],
        ["woonfunctie"],
        None,
        ["kantoorfunctie", "woonfunctie"],
    ]
    lists = [v for v in out if v is not None]
    assert len({id(v) for v in lists}) == len(lists)
    assert bag.gebruiksdoel_lists(pd.Series([None, None], dtype="str")).tolist() == [None, None]


# ---------------------------------------------------------------------------------------------
# threads: the same layers, warnings and problems in the same order
# ---------------------------------------------------------------------------------------------


def _load(inputs_yaml: object, threads: int, monkeypatch: pytest.MonkeyPatch, **kw: object):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(catalog.load, "READ_THREADS", threads)
    return catalog.load_sources(catalog.read_sources_yaml(inputs_yaml), **kw)  # type: ignore[arg-type]


def test_one_or_two_threads_load_the_same(inputs: Inputs, monkeypatch: pytest.MonkeyPatch) -> None:
    path = inputs.write_yaml()
    for kw in ({}, {"gemeenten": ["GM0902"]}):
        one, report_one = _load(path, 1, monkeypatch, **kw)
        two, report_two = _load(path, 2, monkeypatch, **kw)
        assert list(one) == list(two)
        for name in one:
            assert_frame_equal(one[name], two[name], check_exact=True)
        assert report_one.warnings == report_two.warnings
        assert report_one.counts == report_two.counts
        assert list(report_one.layer_sources.items()) == list(report_two.layer_sources.items())
        assert [i.source for i in report_one.inputs] == [i.source for i in report_two.inputs]


def test_problems_come_in_source_order_whatever_the_threads(
    inputs: Inputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = gpd.GeoDataFrame(
        {"identificatie": ["1", "1"]}, geometry=[box(0, 0, 1, 1), box(0, 0, 1, 1)], crs=RD
    )
    bad.to_file(inputs.dir / "dubbel.gpkg", layer="perceel")
    path = inputs.write_yaml(
        {
            "parcels": {"path": "dubbel.gpkg"},
            "ownership": {"path": "ontbreekt.gpkg"},
            "zoning": {"path": "leeg/"},
        }
    )
    (inputs.dir / "leeg").mkdir()
    messages = []
    for threads in (1, 2):
        with pytest.raises(InputError) as err:
            _load(path, threads, monkeypatch)
        messages.append([str(p) for p in err.value.problems])
    assert messages[0] == messages[1]
    assert len(messages[0]) >= 3  # parcels, zoning and ownership each have one
