"""The pure readers on tiny hand-made tables: each rule of a format, checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
from shapely.geometry import Point, Polygon, box

from pipeline import schemas
from pipeline.sources import bag, brk, cbs, imro, stops, vacancy, zones
from pipeline.sources._common import Issues

from .conftest import frame_of


def issues() -> Issues:
    return Issues(file="f", source="s")


def test_gebruiksdoel_strings_and_lists_become_lists() -> None:
    s = pd.Series(
        [
            "woonfunctie,winkelfunctie",
            " Kantoorfunctie ",
            None,
            "woonfunctie , overige gebruiksfunctie",
        ]
    )
    out = bag.gebruiksdoel_lists(s)
    assert out.iloc[0] == ["woonfunctie", "winkelfunctie"]
    assert out.iloc[1] == ["kantoorfunctie"]
    assert pd.isna(out.iloc[2])
    assert out.iloc[3] == ["woonfunctie", "overige gebruiksfunctie"]
    lists = pd.Series(
        [np.array(["woonfunctie", "winkelfunctie"]), np.array(["sportfunctie"])], dtype=object
    )
    assert bag.gebruiksdoel_lists(lists).tolist() == [
        ["woonfunctie", "winkelfunctie"],
        ["sportfunctie"],
    ]


def test_lvbag_panden_history_status_prefix_and_unknown_year() -> None:
    raw = frame_of(
        [
            # pand 1: two voorkomens, the first ended
            {
                "identificatie": "NL.IMBAG.Pand.0001100000000001",
                "oorspronkelijkBouwjaar": 1900,
                "status": "Bouw gestart",
                "eindGeldigheid": "2001-01-01",
                "voorkomenIdentificatie": 1,
            },
            {
                "identificatie": "NL.IMBAG.Pand.0001100000000001",
                "oorspronkelijkBouwjaar": 1900,
                "status": "Pand in gebruik",
                "eindGeldigheid": None,
                "voorkomenIdentificatie": 2,
            },
            {
                "identificatie": "NL.IMBAG.Pand.0001100000000002",
                "oorspronkelijkBouwjaar": 9999,
                "status": "Pand in gebruik",
                "eindGeldigheid": None,
                "voorkomenIdentificatie": 1,
            },
            {
                "identificatie": "NL.IMBAG.Pand.0001100000000003",
                "oorspronkelijkBouwjaar": 1950,
                "status": "Pand gesloopt",
                "eindGeldigheid": None,
                "voorkomenIdentificatie": 1,
            },
        ],
        [box(0, 0, 1, 1)] * 4,
    )
    iss = issues()
    out = bag.buildings_from_bag(raw, iss)
    assert out["pand_id"].tolist() == ["0001100000000001", "0001100000000002"]
    assert out["status"].tolist() == ["Pand in gebruik", "Pand in gebruik"]
    assert out["bouwjaar"].iloc[0] == 1900 and pd.isna(out["bouwjaar"].iloc[1])
    assert any("1 historic pand" in w for w in iss.warnings)
    assert any("Pand gesloopt: 1" in w for w in iss.warnings)


def test_units_take_the_first_pand_of_a_pandref_list() -> None:
    raw = frame_of(
        [
            {
                "identificatie": "NL.IMBAG.Verblijfsobject.1",
                "pandRef": np.array(["NL.IMBAG.Pand.7", "NL.IMBAG.Pand.8"]),
                "gebruiksdoel": np.array(["woonfunctie"]),
                "oppervlakte": 50,
                "status": "Verblijfsobject in gebruik",
            },
            {
                "identificatie": "NL.IMBAG.Verblijfsobject.2",
                "pandRef": np.array(["NL.IMBAG.Pand.9"]),
                "gebruiksdoel": np.array(["winkelfunctie", "woonfunctie"]),
                "oppervlakte": 70,
                "status": "Verblijfsobject gevormd",
            },
        ],
        [Point(0, 0), Point(1, 1)],
    )
    out = bag.units_from_bag(raw, issues())
    assert out["vbo_id"].tolist() == ["1"]
    assert out["pand_id"].tolist() == ["7"]
    assert out["gebruiksdoel"].iloc[0] == ["woonfunctie"]


def test_pdok_units_with_comma_separated_panden() -> None:
    raw = frame_of(
        [
            {
                "identificatie": "0001010000000001",
                "pand_identificatie": "0001100000000001,0001100000000002",
                "gebruiksdoel": "kantoorfunctie",
                "oppervlakte": 500,
                "status": "Verblijfsobject in gebruik",
                "openbare_ruimte_naam": "Dorpsstraat",
            }
        ],
        [Point(0, 0)],
    )
    out = bag.units_from_bag(raw, issues())
    assert out.iloc[0]["pand_id"] == "0001100000000001"
    assert out.iloc[0]["straatnaam"] == "Dorpsstraat"


def test_parcel_ids_sizes_and_areas() -> None:
    raw = frame_of(
        [
            {"identificatie": "NL.IMKAD.KadastraalObject.1", "kadastraleGrootteWaarde": 100.0},
            {"lokaalID": "2", "kadastraleGrootteWaarde": 52.0},
        ],
        [box(0, 0, 10, 10), box(0, 0, 5, 10)],
    )
    raw.loc[1, "lokaalID"] = None
    out = brk.parcels_from_brk(raw, issues())
    assert out["parcel_id"].tolist() == ["1", "2"]
    assert out["area_m2"].tolist() == [100.0, 50.0]
    assert out["kadastrale_grootte_m2"].tolist() == [100.0, 52.0]


def test_cbs_drops_non_municipalities_and_reprojects() -> None:
    raw = frame_of(
        [
            {"gemeente_key": "GM0599", "Gemeente": "Rotterdam"},
            {"gemeente_key": "GM0998", "Gemeente": "Buitenland"},
            {"gemeente_key": "PV28", "Gemeente": "Zuid-Holland"},
        ],
        [box(4.4, 51.9, 4.5, 52.0)] * 3,
        crs="EPSG:4326",
    )
    iss = issues()
    out = cbs.municipalities_from_cbs(raw, iss)
    assert out["gemeentecode"].tolist() == ["GM0599"]
    assert out.crs == schemas.CRS
    assert 80_000 < out.geometry.iloc[0].centroid.x < 100_000
    assert "2 row(s) that are not municipalities" in iss.warnings[0]


def test_imro_ids_plan_and_lowercase_group() -> None:
    raw = frame_of(
        [
            {
                "gml_id": "NL.IMRO.1",
                "namespace": "NL.IMRO",
                "lokaalID": "1",
                "naam": "Wonen",
                "bestemmingshoofdgroep": "Wonen",
            },
            {
                "gml_id": "x",
                "identificatie": "NL.IMRO.2008.9",
                "naam": "Groen",
                "bestemmingshoofdgroep": "groen",
            },
        ],
        [box(0, 0, 1, 1)] * 2,
    )
    raw.loc[1, "identificatie"] = None
    out = imro.zoning_from_imro(raw, issues(), plan_id="NL.IMRO.0001.P-0001")
    assert out["zoning_id"].tolist() == ["NL.IMRO.1", "NL.IMRO.2008.9"]
    assert out["hoofdgroep"].tolist() == ["wonen", "groen"]
    both = imro.unique_zoning_ids(pd.concat([out, out.assign(plan_id="NL.IMRO.0002.Q")]))
    assert both["zoning_id"].is_unique
    assert both["zoning_id"].iloc[2] == "NL.IMRO.0002.Q/NL.IMRO.1"


def test_vacancy_dates_prefixes_and_leading_zeros() -> None:
    table = pd.DataFrame(
        {
            "vbo_id": [
                "NL.IMBAG.Verblijfsobject.0001010000000001",
                "1010000000002",
                "0001010000000003",
            ],
            "vacant_since": ["2021-03-01", "01-02-2020", "2020/13/01"],
        },
        index=[2, 3, 5],
    )
    iss = issues()
    out = vacancy.vacancy_from_csv(table, iss)
    assert out["vbo_id"].tolist()[:2] == ["0001010000000001", "0001010000000002"]
    assert out["vacant_since"].iloc[1] == pd.Timestamp("2020-02-01")
    assert len(iss.problems) == 1 and iss.problems[0].row == "5"


def test_gtfs_kinds_from_routes() -> None:
    stop_rows = pd.DataFrame(
        {
            "stop_id": ["a", "b", "c", "p"],
            "stop_name": ["Station", "Halte", "Veer", "Stationsgebouw"],
            "stop_lat": ["52.0", "52.01", "52.02", "52.0"],
            "stop_lon": ["4.3", "4.31", "4.32", "4.3"],
            "location_type": ["0", "0", "0", "1"],
        },
        index=[2, 3, 4, 5],
    )
    routes = pd.DataFrame(
        {"route_id": ["r1", "r2", "r3", "r4"], "route_type": ["2", "3", "4", "900"]}
    )
    trips = pd.DataFrame(
        {"trip_id": ["t1", "t2", "t3", "t4"], "route_id": ["r1", "r2", "r3", "r4"]}
    )
    stop_times = pd.DataFrame(
        {"trip_id": ["t1", "t2", "t4", "t3"], "stop_id": ["a", "a", "b", "c"]}
    )
    iss = issues()
    out = stops.stops_from_table(stop_rows, iss, routes=routes, trips=trips, stop_times=stop_times)
    assert dict(zip(out["stop_id"], out["kind"], strict=True)) == {"a": "trein", "b": "tram"}
    assert out.crs == schemas.CRS
    assert any("1 stop(s) served by no" in w for w in iss.warnings)  # the ferry


def test_gtfs_without_routes_assumes_bus_with_a_warning() -> None:
    stop_rows = pd.DataFrame(
        {"stop_id": ["a"], "stop_lat": ["52.0"], "stop_lon": ["4.3"]}, index=[2]
    )
    iss = issues()
    out = stops.stops_from_table(stop_rows, iss)
    assert out["kind"].tolist() == ["bus"] and "assumed to be bus" in iss.warnings[0]


def test_zone_kind_aliases_and_default() -> None:
    raw = frame_of([{"soort": "Natura 2000"}, {"soort": "Kernwinkelgebied"}], [box(0, 0, 1, 1)] * 2)
    assert zones.zones_from_polygons(raw, issues())["kind"].tolist() == [
        "natura2000",
        "kernwinkelgebied",
    ]
    bare = frame_of([{"naam": "Duinen"}], [box(0, 0, 1, 1)])
    assert zones.zones_from_polygons(bare, issues(), default_kind="nnn")["kind"].tolist() == ["nnn"]


def test_validate_layer_repairs_counts_and_keeps_the_polygon() -> None:
    bowtie = Polygon(
        [(100_000, 450_000), (100_010, 450_010), (100_010, 450_000), (100_000, 450_010)]
    )
    gdf = frame_of(
        [
            {"parcel_id": "1", "area_m2": 1.0, "gemeentecode": None},
            {"parcel_id": "2", "area_m2": 2.0, "gemeentecode": None},
        ],
        [bowtie, box(100_000, 450_000, 100_001, 450_001)],
    )
    out, problems, repaired = schemas.validate_layer(gdf, schemas.PARCELS, file="f")
    assert not problems and repaired == 1
    assert out.is_valid.all() and out.geometry.iloc[0].area == 50.0


def test_has_duplicates_ignores_missing_values() -> None:
    assert not schemas.has_duplicates(pd.Series(["a", "b", None, None], dtype="str"))
    assert schemas.has_duplicates(pd.Series(["a", "b", "a"], dtype="str"))
    assert schemas.has_duplicates(pd.Series(["a", "a"], dtype=object))
    assert not schemas.has_duplicates(pd.Series([1.0, np.nan, np.nan]))
