"""The readers on the real Dutch files in ../shared/data/real (skipped when absent).

Counts come from each folder's PROVENANCE.md. The shared folder is never written to: the test
at the end compares its listing before and after reading every GML in it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline import catalog, schemas
from pipeline.catalog import SourceSpec
from pipeline.cli import app
from pipeline.errors import InputError
from pipeline.sources._common import Issues

from .conftest import REAL_DATA, Inputs

pytestmark = pytest.mark.real


def load(real: Path, key: str, rel: str, **options: str) -> tuple[dict, Issues]:
    """Run one source's loader and validate its layers like load_sources does."""
    spec = SourceSpec(key=key, path=real / rel, format=catalog.SOURCE_FORMATS[key], **options)
    loaded = catalog.load_source(spec)
    layers = {name: (gdf, loaded.repaired.get(name, 0)) for name, gdf in loaded.layers.items()}
    return layers, loaded.issues


def test_lvbag_doesburg_zip_keeps_current_existing_panden(real_data: Path) -> None:
    layers, issues = load(real_data, "buildings", "bag_doesburg_0221/0221PND15092020.zip")
    assert not issues.problems
    buildings, _ = layers["buildings"]
    # 13,098 voorkomens → 7,797 current panden → minus 570 demolished/planned/not realised
    assert any("7797 current" in w for w in issues.warnings)
    assert len(buildings) == 7797 - 389 - 168 - 12 - 1
    assert buildings["pand_id"].str.fullmatch(r"\d{16}").all()
    assert buildings["pand_id"].is_unique
    assert not (buildings["bouwjaar"] == 9999).any()
    assert set(buildings["status"]) <= set(schemas.PAND_STATUS_CURRENT)
    assert buildings.crs == schemas.CRS
    assert "units" not in layers and any("no verblijfsobject" in w for w in issues.warnings)


def test_derived_doesburg_geopackage_with_lvbag_column_names(real_data: Path) -> None:
    layers, issues = load(
        real_data, "buildings", "bag_doesburg_0221/doesburg_pand_actueel_20200915.gpkg"
    )
    assert not issues.problems
    assert len(layers["buildings"][0]) == 7227


def test_lvbag_small_sample_folder_drops_history(real_data: Path) -> None:
    layers, issues = load(real_data, "buildings", "bag_doesburg_0221/lvbag_sample_small")
    assert not issues.problems
    units, _ = layers["units"]
    assert len(units) == 2  # 5 VBO records = 2 objects incl. history
    row = units.set_index("vbo_id").loc["0221010000330999"]
    assert row["gebruiksdoel"] == ["overige gebruiksfunctie"]
    assert row["pand_id"] == "0221100000311191"
    assert row["oppervlakte_m2"] == 18


@pytest.mark.parametrize(
    ("rel", "n", "assumed"),
    [
        ("brk_kadastralekaart_samples/v5/kadastralekaart_perceel.gml", 11, False),
        ("brk_kadastralekaart_samples/v4/dkk_perceel.gml", 8, True),
        ("brk_kadastralekaart_samples/v3/Perceel.gml", 10, False),
    ],
)
def test_brk_gml_reads_parcel_polygons_not_label_points(
    real_data: Path, rel: str, n: int, assumed: bool
) -> None:
    layers, issues = load(real_data, "parcels", rel)
    assert not issues.problems
    parcels, _ = layers["parcels"]
    assert len(parcels) == n
    assert set(parcels.geom_type) <= {"Polygon", "MultiPolygon"}
    assert parcels["parcel_id"].str.fullmatch(r"\d+").all()
    assert parcels["kadastrale_grootte_m2"].notna().all()
    close = (parcels["area_m2"] - parcels["kadastrale_grootte_m2"]).abs() <= 0.05 * parcels[
        "kadastrale_grootte_m2"
    ] + 5
    assert close.mean() >= 0.5  # registered size ≈ polygon area for most parcels
    assert any("assumed EPSG:28992" in w for w in issues.warnings) is assumed


def test_brk_v4_with_crs_in_sources_yaml_has_no_warning(real_data: Path) -> None:
    _, issues = load(
        real_data, "parcels", "brk_kadastralekaart_samples/v4/dkk_perceel.gml", crs="EPSG:28992"
    )
    assert not issues.problems and not issues.warnings


def test_brk_derived_geopackage(real_data: Path) -> None:
    layers, issues = load(
        real_data,
        "parcels",
        "brk_kadastralekaart_samples/perceel_polygonen_derived.gpkg",
        layer="perceel_v5",
    )
    assert not issues.problems
    parcels, _ = layers["parcels"]
    assert len(parcels) == 11
    assert parcels.iloc[0]["akr_code"] == "OTL02"


def test_brk_derived_geopackage_without_layer_asks_for_one(real_data: Path) -> None:
    _, issues = load(
        real_data, "parcels", "brk_kadastralekaart_samples/perceel_polygonen_derived.gpkg"
    )
    assert "set `layer:`" in issues.problems[0].fix


def test_imro_folder(real_data: Path) -> None:
    layers, issues = load(real_data, "zoning", "imro_bestemmingsplannen")
    assert not issues.problems
    zoning, _ = layers["zoning"]
    assert len(zoning) == 84 + 13 + 4 + 84
    assert zoning["zoning_id"].is_unique
    assert set(zoning["plan_id"]) == {
        "NL.IMRO.1680.1800030105-0000",
        "NL.IMRO.0664.BPBS03-ON99",
        "NL.IMRO.0798.BPDoornboom-ON01",
        "NL.IMRO.0999.BP2012000001-0005",
    }
    goes = zoning[zoning["plan_id"] == "NL.IMRO.0664.BPBS03-ON99"]
    assert (goes["hoofdgroep"] == "kantoor").sum() == 4
    assert sum("no Enkelbestemming" in w for w in issues.warnings) == 2  # Gouda and Vries besluiten


def test_imro_besluit_alone_is_a_clear_problem(real_data: Path) -> None:
    _, issues = load(
        real_data, "zoning", "imro_bestemmingsplannen/NL.IMRO.0513.0601PBLandpark-OB01.gml"
    )
    assert len(issues.problems) == 1
    assert "no Enkelbestemming layer" in issues.problems[0].message


@pytest.mark.parametrize(
    ("rel", "n", "repaired"),
    [
        ("cbs_gemeenten_2022/gemeenten_2022_gegeneraliseerd.geojson", 345, 0),
        ("cbs_gebiedsindelingen_2024/Gemeenten2024.geojson", 342, 4),
        ("cbs_wijkenbuurten_pdok/gemeenten_2024.geojson", 342, 7),  # + GM0998 Buitenland dropped
    ],
)
def test_cbs_gemeenten_all_namings(real_data: Path, rel: str, n: int, repaired: int) -> None:
    layers, issues = load(real_data, "municipalities", rel)
    assert not issues.problems
    mun, n_repaired = layers["municipalities"]
    assert len(mun) == n and n_repaired == repaired
    assert mun.crs == schemas.CRS
    assert "GM0599" in set(mun["gemeentecode"])
    assert mun.is_valid.all()
    if "wijkenbuurten" in rel:
        assert any("GM0998 Buitenland" in w for w in issues.warnings)


def test_ns_stations_need_a_kind_and_load_with_one(real_data: Path) -> None:
    rel = "ns_treinstations_spoor/treinstations_rws_2015.geojson"
    _, issues = load(real_data, "transit_stops", rel)
    assert "kind: trein" in issues.problems[0].fix
    layers, issues = load(real_data, "transit_stops", rel, kind="trein")
    assert not issues.problems
    stops, _ = layers["transit_stops"]
    assert len(stops) == 422 and set(stops["kind"]) == {"trein"}


def test_station_csv_with_damaged_coordinates_names_rows(real_data: Path) -> None:
    _, issues = load(
        real_data, "transit_stops", "ns_treinstations_spoor/stations-nl-2014-01.csv", kind="trein"
    )
    assert len(issues.problems) == 1
    p = issues.problems[0]
    assert "23 stop(s)" in p.message and p.row is not None and str(p.row).startswith("2, 3, 6")


# --- kansenkaart check on a sources.yaml that points at each real dataset ----------------------

REAL_CHECKS = [
    # (source, relative path, extra options, expected exit code, text in the output)
    ("buildings", "bag_doesburg_0221/0221PND15092020.zip", {}, 0, "7,227"),
    ("buildings", "bag_doesburg_0221/lvbag_sample_small", {}, 0, "units"),
    ("buildings", "bag_doesburg_0221/doesburg_pand_actueel_20200915.gpkg", {}, 0, "7,227"),
    ("parcels", "brk_kadastralekaart_samples/v5/kadastralekaart_perceel.gml", {}, 0, "11"),
    ("parcels", "brk_kadastralekaart_samples/v4/dkk_perceel.gml", {}, 0, "assumed EPSG:28992"),
    (
        "parcels",
        "brk_kadastralekaart_samples/perceel_polygonen_derived.gpkg",
        {"layer": "perceel_v3"},
        0,
        "10",
    ),
    ("zoning", "imro_bestemmingsplannen", {}, 0, "185"),
    ("municipalities", "cbs_wijkenbuurten_pdok/gemeenten_2024.geojson", {}, 0, "342"),
    ("municipalities", "cbs_gebiedsindelingen_2024/Gemeenten2024.geojson", {}, 0, "342"),
    (
        "transit_stops",
        "ns_treinstations_spoor/treinstations_rws_2015.geojson",
        {"kind": "trein"},
        0,
        "422",
    ),
    (
        "transit_stops",
        "ns_treinstations_spoor/treinstations_rws_2015.geojson",
        {},
        2,
        "kind: trein",
    ),
    (
        "transit_stops",
        "ns_treinstations_spoor/stations-nl-2014-01.csv",
        {"kind": "trein"},
        2,
        "row 2, 3, 6",
    ),
    (
        "zoning",
        "imro_bestemmingsplannen/NL.IMRO.0513.0601PBLandpark-OB01.gml",
        {},
        2,
        "no Enkelbestemming",
    ),
    ("parcels", "brk_kadastralekaart_samples/v3/perceel_dkkv3_doc.gml", {}, 0, "15"),
    ("municipalities", "cbs_gemeenten_2022/gemeenten_2022_gegeneraliseerd.geojson", {}, 0, "345"),
    # files that are not what the source needs: a clear error, not a traceback
    (
        "municipalities",
        "cbs_gebiedsindelingen_2024/provincie_gegeneraliseerd2024.geojson",
        {},
        2,
        "municipality code is missing",
    ),
    (
        "municipalities",
        "cbs_gemeenten_2022/cbs_kerncijfers_gemeente_2023.json",
        {},
        2,
        "[municipalities]",
    ),
    (
        "transit_stops",
        "ns_treinstations_spoor/spoorwegen_rws_2015.geojson",
        {"kind": "trein"},
        2,
        "LineString",
    ),
]


@pytest.mark.parametrize(("key", "rel", "extra", "code", "needle"), REAL_CHECKS)
def test_check_on_real_dataset(
    inputs: Inputs, real_data: Path, key: str, rel: str, extra: dict, code: int, needle: str
) -> None:
    changes = {key: {"path": str(real_data / rel), **extra}}
    if key == "buildings":  # the test vacancy refers to the test BAG's units
        (inputs.dir / "leeg.csv").write_text(
            "verblijfsobject_id;leegstand_sinds;bron\n", encoding="utf-8"
        )
        changes["vacancy"] = {"path": "leeg.csv"}
    result = CliRunner().invoke(app, ["check", "--sources", str(inputs.write_yaml(changes))])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert needle in " ".join(result.output.split())


def test_load_sources_with_real_files_and_a_gemeente_filter(
    inputs: Inputs, real_data: Path
) -> None:
    sources = catalog.read_sources_yaml(
        inputs.write_yaml(
            {
                "municipalities": {
                    "path": str(
                        real_data / "cbs_gemeenten_2022/gemeenten_2022_gegeneraliseerd.geojson"
                    )
                }
            }
        )
    )
    with pytest.raises(InputError, match="'GM5999' is not in the municipalities file"):
        catalog.load_sources(sources, gemeenten=["GM5999"])
    # the test parcels and BAG lie elsewhere: nothing to scan in Rotterdam
    with pytest.raises(InputError, match=r"nothing to scan in GM0599 Rotterdam"):
        catalog.load_sources(sources, gemeenten=["GM0599"])


def test_reading_the_shared_folder_writes_nothing_into_it(real_data: Path) -> None:
    before = sorted(str(p) for p in REAL_DATA.resolve().rglob("*"))
    for rel in [
        "brk_kadastralekaart_samples/v5/kadastralekaart_perceel.gml",
        "brk_kadastralekaart_samples/v4/dkk_perceel.gml",
        "imro_bestemmingsplannen",
    ]:
        load(real_data, "parcels" if "brk" in rel else "zoning", rel)
    for gml in sorted((real_data / "imro_bestemmingsplannen").glob("*.gml")):
        catalog.list_layers(str(gml))
    after = sorted(str(p) for p in REAL_DATA.resolve().rglob("*"))
    assert after == before
    assert not [p for p in after if p.endswith((".gfs", ".xsd"))]
