"""A real town end to end: Weesp's offices and shops from Kadaster's BAG extract as delivered.

``kansenkaart scan --gemeente GM0457`` on real inputs — the municipal LVBAG extract of 2021-10-15
(zip in zip in zip), the CBS municipalities of 2022 (the last year Weesp existed), the NS
stations of 2015 — plus a small vacancy register made here. The checks are about honesty: what
the inputs say is shown as known (vacancy, floor area, street, distance to the station), what
they do not say (zoning, ownership, noise, bus stops, parcels) is shown as unknown, never
invented. The same command is documented in the README.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
import yaml
from typer.testing import CliRunner

from pipeline.cli import app

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real"
WEESP_ZIP = REAL / "bag_weesp_0457" / "BAGGEM0457L-15102021.zip"

pytestmark = [pytest.mark.real, pytest.mark.slow]

SHOP = "0457010000000368"  # 73 m² winkelfunctie, Binnenveer (pand 0457100000054948)
OFFICE = "0457010000001497"  # the one 500 m² office unit of pand 0457100000056588 (1979)
OFFICE_PAND = "0457100000056588"
STALE = "0457010000999999"  # not in the extract: a withdrawn unit
REFERENCE = np.datetime64("2021-10-15")


def years(since: str) -> float:
    return float((REFERENCE - np.datetime64(since)) / np.timedelta64(1, "D")) / 365.25


@pytest.fixture(scope="module")
def weesp(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    if not WEESP_ZIP.exists():
        pytest.skip("real data not available")
    root = tmp_path_factory.mktemp("weesp")
    (root / "leegstand.csv").write_text(
        "verblijfsobject_id;leegstand_sinds;bron\n"
        f"{SHOP};2019-06-01;test: eigen waarneming\n"
        f"{OFFICE};2017-01-01;test: eigen waarneming\n"
        f"{STALE};2020-01-01;test: ingetrokken verblijfsobject\n",
        encoding="utf-8",
    )
    # an ownership register without rows: nobody's ownership is known
    gpd.GeoDataFrame(
        {"eigenaar_klasse": [], "eigenaar_naam": []}, geometry=[], crs="EPSG:28992"
    ).to_file(root / "eigendom.gpkg", layer="eigendom")
    real = REAL.resolve()
    doc = {
        "sources": {
            "municipalities": {
                "path": str(real / "cbs_gemeenten_2022/gemeenten_2022_gegeneraliseerd.geojson"),
                "format": "cbs",
            },
            # real parcels, but of Otterlo: they do not cover Weesp
            "parcels": {
                "path": str(real / "brk_kadastralekaart_samples/v5/kadastralekaart_perceel.gml"),
                "format": "brk",
            },
            "buildings": {"path": str(WEESP_ZIP.resolve()), "format": "bag", "date": "2021-10-15"},
            # real plans, of Zuid-Holland: no zoning is known in Weesp
            "zoning": {"path": str(real / "imro_bestemmingsplannen_zh"), "format": "imro"},
            "vacancy": {"path": "leegstand.csv", "format": "vacancy-csv", "date": "2021-10-15"},
            "ownership": {"path": "eigendom.gpkg", "format": "ownership"},
            "transit_stops": {
                "path": str(real / "ns_treinstations_spoor/treinstations_rws_2015.geojson"),
                "format": "stops",
                "kind": "trein",
            },
        }
    }
    (root / "sources.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    out = root / "weesp.gpkg"
    result = CliRunner().invoke(
        app,
        [
            "scan",
            "--sources",
            str(root / "sources.yaml"),
            "--gemeente",
            "GM0457",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return out, " ".join(result.output.split())


def layer(out: Path, name: str) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(out, layer=name)


def criteria(row: object) -> dict[str, dict]:
    return {c["id"]: c for c in json.loads(row["explanation"])["criteria"]}  # type: ignore[index]


def test_the_run_says_what_it_could_not_do(weesp: tuple[Path, str]) -> None:
    out, output = weesp
    assert "[vacancy] 1 of 3 verblijfsobject id(s) are not current units" in output
    assert STALE in output
    assert "[parcels] 1 of 1 municipality has no parcels: GM0457 Weesp" in output
    assert "no exclusion zones" in output
    # only the NS stations: the distance to public transport is unknown, not "far"
    assert "transit_stops has no bus stops" in output
    assert len(layer(out, "tijdelijke_locaties")) == 0  # no parcels: no sites invented
    meta = layer(out, "run_metadata").set_index("key")["value"]
    assert json.loads(meta["gemeenten"]) == ["GM0457"]
    assert json.loads(meta["synthetic"]) is False


def test_the_vacant_shop_is_shown_with_the_facts_of_the_extract(weesp: tuple[Path, str]) -> None:
    out, _ = weesp
    plinten = layer(out, "plinten")
    # only the shop the register calls vacant is a candidate (the others are not vacant)
    assert list(plinten["vbo_id"]) == [SHOP]
    shop = plinten.iloc[0]
    assert shop["gemeentecode"] == "GM0457" and shop["gemeentenaam"] == "Weesp"
    assert shop["straatnaam"] == "Binnenveer"  # from the extract's NUM and OPR
    assert "Binnenveer" in shop["label"] and "onbekend" not in shop["label"]
    assert shop["oppervlakte_m2"] == 73
    assert shop["vacant_years"] == pytest.approx(years("2019-06-01"), abs=0.01)
    assert shop["owner_class"] == "onbekend"  # no ownership register rows
    crit = criteria(shop)
    assert crit["leegstand"]["missing"] is False
    assert crit["leegstand"]["raw"] == pytest.approx(years("2019-06-01"), abs=0.01)


def test_the_vacant_office_is_shown_with_the_facts_of_the_extract(
    weesp: tuple[Path, str],
) -> None:
    out, _ = weesp
    kantoren = layer(out, "kantoren").set_index("pand_id")
    office = kantoren.loc[OFFICE_PAND]
    assert office["bouwjaar"] == 1979
    assert office["office_floor_m2"] == 500
    assert office["vacant_share"] == pytest.approx(1.0)
    assert office["vacant_years"] == pytest.approx(years("2017-01-01"), abs=0.01)
    assert office["vacant_office_floor_m2"] == 500
    assert office["capacity_units"] == 8  # floor(500 × 0.7 / 40)
    assert set(kantoren["owner_class"]) == {"onbekend"}
    # the register names one vacant office: every other office is occupied and no candidate
    assert list(kantoren.index) == [OFFICE_PAND]
    excluded = layer(out, "uitgesloten_panden")
    codes = excluded["kantoor_reason_codes"].str.split(",")
    is_office = ~codes.map(lambda c: bool({"geen_kantoor", "kantoor_te_klein"} & set(c)))
    assert is_office.sum() > 50  # Weesp's real office buildings of at least 500 m²
    assert codes[is_office].map(lambda c: "niet_leeg" in c).all()
    # the station is 1.6 km away but bus stops are not given: not excluded as too far
    assert not codes.map(lambda c: "ov_te_ver" in c).any()


def test_the_distance_to_the_station_is_the_real_one(weesp: tuple[Path, str]) -> None:
    out, _ = weesp
    stations = gpd.read_file(REAL / "ns_treinstations_spoor/treinstations_rws_2015.geojson")
    station_pts = np.asarray(stations.to_crs("EPSG:28992").geometry.array)
    kantoren = layer(out, "kantoren")
    for _, row in kantoren.head(10).iterrows():
        part = next(p for p in criteria(row)["locatie"]["parts"] if "station" in p["label"])
        here = shapely.point_on_surface(row.geometry)
        nearest = float(shapely.distance(here, station_pts).min())
        assert part["raw"] == pytest.approx(nearest, abs=100.0)  # a building's width at most
        assert nearest < 3_000  # Weesp station, 2015


def test_what_the_inputs_do_not_say_is_unknown_never_invented(weesp: tuple[Path, str]) -> None:
    out, _ = weesp
    for name in ("kantoren", "plinten"):
        for _, row in layer(out, name).iterrows():
            crit = criteria(row)
            texts = " ".join(c["reason"] for c in crit.values())
            for cid, c in crit.items():
                if c.get("raw") is None and "parts" not in c:
                    # no value: said to be missing, never scored as a fact
                    assert c["missing"] is True or c["raw_text"] == "onbekend", (name, cid, c)
                for part in c.get("parts", []):
                    if "halte" in part["label"]:  # no bus/tram/metro stops were given
                        assert part["raw"] is None and part["raw_text"] == "onbekend"
            # no noise raster: the noise penalty says so and subtracts nothing
            expl = json.loads(row["explanation"])
            noise = [p for p in expl["penalties"] if p["id"] == "geluid"]
            assert noise and all(
                p["raw"] is None and p["raw_text"] == "onbekend" and p["penalty"] == 0
                for p in noise
            ), (name, noise)
            # no zoning in Weesp, no owner known: nothing claims one
            assert "bestemming " not in texts.lower() or "onbekend" in texts.lower()
            for c in crit.values():
                if "eigenaar" in c["id"] or "eigendom" in c["id"]:
                    assert c["raw_text"] == "onbekend" or c["missing"] is True
