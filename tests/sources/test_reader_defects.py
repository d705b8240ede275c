"""The reader defects found with real Dutch files (issue 10, item 1), one test each.

Every test here failed on main before the fix. Tests that need a real file from
``../shared/data/real`` are marked ``real`` and skip without it; the others build what a user
would have (an IMRO plan saved as ``.xml``, a BAG 1.0 file, a BGT file, an ogr2ogr export) in
the test's own temporary folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from pipeline import catalog
from pipeline.cli import app
from pipeline.errors import InputError

from .conftest import RD, REAL_DATA, Inputs, pand_gdf, parcels_gdf, write_imro

WEESP_ZIP = REAL_DATA / "bag_weesp_0457" / "BAGGEM0457L-15102021.zip"
CBS_2022 = REAL_DATA / "cbs_gemeenten_2022" / "gemeenten_2022_gegeneraliseerd.geojson"


def check(yaml_path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check", "--sources", str(yaml_path)])
    assert "Traceback" not in result.output
    return result.exit_code, " ".join(result.output.split())


def load(yaml_path: Path, **kw: object):  # type: ignore[no-untyped-def]
    return catalog.load_sources(catalog.read_sources_yaml(yaml_path), **kw)  # type: ignore[arg-type]


def real(path: Path) -> Path:
    if not path.exists():
        pytest.skip("real data not available")
    return path


def empty_vacancy(inputs: Inputs) -> dict[str, str]:
    (inputs.dir / "leeg.csv").write_text(
        "verblijfsobject_id;leegstand_sinds;bron\n", encoding="utf-8"
    )
    return {"path": "leeg.csv"}


# --- the BAG ------------------------------------------------------------------------------------


@pytest.mark.real
def test_weesp_municipal_extract_as_delivered_zip_in_zip_in_zip(inputs: Inputs) -> None:
    path = inputs.write_yaml(
        {
            "buildings": {"path": str(real(WEESP_ZIP))},
            "municipalities": {"path": str(real(CBS_2022))},
            "vacancy": empty_vacancy(inputs),
        }
    )
    layers, report = load(path, gemeenten=["GM0457"])
    buildings, units = layers["buildings"], layers["units"]
    # counted through GDAL on the unpacked inner zips (PROVENANCE.md): ~11,190 current panden,
    # ~12,500 current verblijfsobjecten of which those not (yet) existing are dropped
    assert len(buildings) == 11_191
    assert len(units) == 11_046
    assert set(buildings["gemeentecode"]) == {"GM0457"} == set(units["gemeentecode"])
    assert units["vbo_id"].str.fullmatch(r"\d{16}").all()
    uses = units["gebruiksdoel"].explode().value_counts()
    assert uses["kantoorfunctie"] > 400 and uses["winkelfunctie"] > 150
    # the Inactief/InOnderzoek/NietBag sub-extracts are not read as objects
    assert not any("IAPND" in w or "NBVBO" in w for w in report.warnings)


@pytest.mark.real
def test_lvbag_street_names_come_from_nummeraanduiding_and_openbare_ruimte(
    inputs: Inputs,
) -> None:
    path = inputs.write_yaml(
        {
            "buildings": {"path": str(real(WEESP_ZIP))},
            "municipalities": {"path": str(real(CBS_2022))},
            "vacancy": empty_vacancy(inputs),
        }
    )
    layers, _ = load(path, gemeenten=["GM0457"])
    units = layers["units"]
    shops = units[units["gebruiksdoel"].map(lambda v: "winkelfunctie" in v)]
    streets = shops["straatnaam"].value_counts()
    assert streets["Slijkstraat"] == 34 and streets["Nieuwstraat"] == 24
    assert units["straatnaam"].notna().all()  # every address resolves in this extract
    assert not units["straatnaam"].str.contains("onbekend").any()


@pytest.mark.real
def test_lvbag_without_addresses_leaves_the_street_unknown_and_says_so(tmp_path: Path) -> None:
    bag_dir = real(REAL_DATA / "bag_doesburg_0221")
    folder = tmp_path / "extract"
    folder.mkdir()
    shutil.copy(bag_dir / "0221PND15092020.zip", folder)
    shutil.copy(bag_dir / "lvbag_sample_small" / "0221VBO15092020-000001.xml", folder)
    loaded = catalog.load_source(catalog.SourceSpec(key="buildings", path=folder, format="bag"))
    units = loaded.layers["units"]
    assert len(units) == 2 and units["straatnaam"].isna().all()
    assert any(
        "no nummeraanduiding (NUM) or openbare ruimte (OPR)" in w for w in loaded.issues.warnings
    )
    # with the sample's NUM and OPR next to it, the street is known or said to be unknown
    for kind in ("NUM", "OPR"):
        shutil.copy(bag_dir / "lvbag_sample_small" / f"0221{kind}15092020-000001.xml", folder)
    loaded = catalog.load_source(catalog.SourceSpec(key="buildings", path=folder, format="bag"))
    units = loaded.layers["units"]
    known = units["straatnaam"].notna()
    assert not (units["straatnaam"] == "").any()
    if not known.all():
        assert any("street unknown for" in w for w in loaded.issues.warnings)


BAG_1_0_XML = """<?xml version="1.0" encoding="UTF-8"?>
<xb:BAG-Extract-Deelbestand-LVC
    xmlns:xb="http://www.kadaster.nl/schemas/bag-verstrekkingen/extract-deelbestand-lvc/v20090901"
    xmlns:bag_LVC="http://www.kadaster.nl/schemas/imbag/lvc/v20090901"
    xmlns:product_LVC="http://www.kadaster.nl/schemas/bag-verstrekkingen/extract-producten-lvc/v20090901"
    xmlns:gml="http://www.opengis.net/gml">
  <xb:antwoord><xb:producten><product_LVC:LVC-product>
    <bag_LVC:Pand>
      <bag_LVC:identificatie>0901100000000001</bag_LVC:identificatie>
      <bag_LVC:pandGeometrie><gml:Polygon srsName="urn:ogc:def:crs:EPSG::28992"><gml:exterior>
        <gml:LinearRing><gml:posList srsDimension="3">80110 440110 0 80130 440110 0 80130 440120 0
        80110 440120 0 80110 440110 0</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>
      </bag_LVC:pandGeometrie>
      <bag_LVC:bouwjaar>1975</bag_LVC:bouwjaar>
      <bag_LVC:pandstatus>Pand in gebruik</bag_LVC:pandstatus>
    </bag_LVC:Pand>
  </product_LVC:LVC-product></xb:producten></xb:antwoord>
</xb:BAG-Extract-Deelbestand-LVC>
"""

BGT_PAND_GML = """<?xml version="1.0" encoding="UTF-8"?>
<CityModel xmlns="http://www.opengis.net/citygml/2.0"
    xmlns:imgeo="http://www.geostandaarden.nl/imgeo/2.1" xmlns:gml="http://www.opengis.net/gml">
  <cityObjectMember>
    <imgeo:Pand gml:id="b1">
      <imgeo:identificatie><imgeo:NEN3610ID><imgeo:namespace>NL.IMGeo</imgeo:namespace>
        <imgeo:lokaalID>G0901.abc</imgeo:lokaalID></imgeo:NEN3610ID></imgeo:identificatie>
      <imgeo:bgt-status codeSpace="x">bestaand</imgeo:bgt-status>
      <imgeo:geometrie2dGrondvlak><gml:Polygon srsName="urn:ogc:def:crs:EPSG::28992">
        <gml:exterior><gml:LinearRing><gml:posList>80110 440110 80130 440110 80130 440120
        80110 440120 80110 440110</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>
      </imgeo:geometrie2dGrondvlak>
    </imgeo:Pand>
  </cityObjectMember>
</CityModel>
"""


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("9999PND08102020-000001.xml", BAG_1_0_XML, "is a BAG 1.0 extract"),
        ("bgt_pand.gml", BGT_PAND_GML, "is a BGT file"),
    ],
)
def test_unsupported_bag_formats_are_named_and_nothing_is_written_next_to_them(
    inputs: Inputs, tmp_path: Path, name: str, text: str, needle: str
) -> None:
    folder = tmp_path / "download"
    folder.mkdir()
    (folder / name).write_text(text, encoding="utf-8")
    code, out = check(inputs.write_yaml({"buildings": {"path": str(folder / name)}}))
    assert code == 2
    assert needle in out and "[buildings]" in out and "bag-light.gpkg" in out
    assert sorted(p.name for p in folder.iterdir()) == [name]  # no .gfs, no .xsd


def test_a_bag_without_current_panden_is_a_problem(inputs: Inputs) -> None:
    pand = pand_gdf()
    pand["status"] = ["Pand gesloopt", "Niet gerealiseerd pand", "Pand gesloopt"]
    pand.to_file(inputs.path("buildings"), layer="pand")
    code, out = check(inputs.write_yaml())
    assert code == 2
    assert "none of the 3 pand record(s) is a current, existing object" in out
    assert "layer 'pand'" in out


# --- coverage: parcels, BAG and zones -------------------------------------------------------------


def test_a_municipality_the_parcels_do_not_cover_is_warned_about(inputs: Inputs) -> None:
    parcels = parcels_gdf()
    parcels.iloc[:2].to_file(inputs.path("parcels"), layer="perceel")  # GM0901 only
    _, report = load(inputs.write_yaml())
    (warning,) = [w for w in report.warnings if "have no parcels" in w or "has no parcels" in w]
    assert "1 of 2 municipalities has no parcels: GM0902 Proefwijk" in warning
    assert "no tijdelijke locaties are scanned there" in warning
    _, report = load(inputs.write_yaml(), gemeenten=["GM0902"])
    assert any("GM0902 Proefwijk" in w and "no parcels" in w for w in report.warnings)


def test_a_selection_that_no_source_covers_is_a_problem(inputs: Inputs) -> None:
    mun = gpd.read_file(inputs.path("municipalities"))
    extra = gpd.GeoDataFrame(
        {"statcode": ["GM0903"], "statnaam": ["Leegland"], "rubriek": ["gemeente"]},
        geometry=[box(90_000, 440_000, 92_000, 442_000)],
        crs=RD,
    ).to_crs(mun.crs)
    pd.concat([mun, extra]).to_file(inputs.path("municipalities"), driver="GeoJSON")
    with pytest.raises(InputError, match="nothing to scan in GM0903 Leegland") as exc:
        load(inputs.write_yaml(), gemeenten=["GM0903"])
    assert "kansenkaart fetch --gemeente GM0903" in str(exc.value)


def test_a_zones_file_without_zones_is_a_problem(inputs: Inputs) -> None:
    zones = gpd.read_file(inputs.path("exclusion_zones"))
    zones.iloc[:0].to_file(inputs.path("exclusion_zones"), layer="zones")
    code, out = check(inputs.write_yaml())
    assert code == 2
    assert "[exclusion_zones]" in out and "has no features" in out
    assert "Natura 2000" in out and "remove `exclusion_zones`" in out


# --- vacancy against the BAG --------------------------------------------------------------------


def write_vacancy(inputs: Inputs, *ids: str) -> None:
    rows = "".join(f"{i};2020-01-01;gemeente\n" for i in ids)
    inputs.path("vacancy").write_text(
        "verblijfsobject_id;leegstand_sinds;bron\n" + rows, encoding="utf-8"
    )


def test_a_stale_vacancy_id_is_a_counted_warning_not_a_blocker(inputs: Inputs) -> None:
    write_vacancy(inputs, "0901010000000001", "0902010000000003", "0901010000000099")
    layers, report = load(inputs.write_yaml())
    assert sorted(layers["vacancy"]["vbo_id"]) == ["0901010000000001", "0902010000000003"]
    (warning,) = [w for w in report.warnings if w.startswith("[vacancy]")]
    assert "1 of 3 verblijfsobject id(s) are not current units" in warning
    assert "0901010000000099" in warning and "row 4" in warning


def test_scan_gemeente_applies_the_vacancy_cross_check(inputs: Inputs) -> None:
    write_vacancy(inputs, "0901010000000001", "0902010000000003", "0901010000000099")
    layers, report = load(inputs.write_yaml(), gemeenten=["GM0901"])
    assert list(layers["vacancy"]["vbo_id"]) == ["0901010000000001"]
    (warning,) = [w for w in report.warnings if w.startswith("[vacancy]")]
    # the GM0902 row lies outside the selection; the stale GM0901 id is counted
    assert "1 of 2 verblijfsobject id(s) are not current units" in warning
    assert "0901010000000099" in warning


def test_a_vacancy_file_of_another_bag_is_still_a_problem(inputs: Inputs) -> None:
    write_vacancy(inputs, "0999010000000077", "0999010000000078")
    code, out = check(inputs.write_yaml())
    assert code == 2
    assert "none of the 2 verblijfsobject id(s) is a current unit" in out and "row 2, 3" in out


# --- GML: .xml files, IMRO2006, flattened exports ---------------------------------------------------


def test_a_gml_saved_as_xml_is_read_without_writing_a_gfs_next_to_it(
    inputs: Inputs, tmp_path: Path
) -> None:
    folder = tmp_path / "plannen"
    folder.mkdir()
    write_imro(folder / "NL.IMRO.0901.TEST-0001.xml")
    layers, _ = load(inputs.write_yaml({"zoning": {"path": str(folder)}}))
    assert sorted(layers["zoning"]["hoofdgroep"]) == ["groen", "wonen"]
    single = inputs.write_yaml({"zoning": {"path": str(folder / "NL.IMRO.0901.TEST-0001.xml")}})
    assert len(load(single)[0]["zoning"]) == 2
    assert sorted(p.name for p in folder.iterdir()) == ["NL.IMRO.0901.TEST-0001.xml"]


IMRO2006_GML = """<?xml version="1.0" encoding="UTF-8"?>
<imro:FeatureCollectionIMRO xmlns:imro="http://www.geonovum.nl/imro/2006/1"
    xmlns:gml="http://www.opengis.net/gml">
  <imro:featureMember>
    <imro:Enkelbestemming gml:id="NL.IMRO.0901.OUD.1">
      <imro:identificatie>NL.IMRO.0901.OUD.1</imro:identificatie>
      <imro:naam>Wonen</imro:naam>
      <imro:bestemmingshoofdgroep>wonen</imro:bestemmingshoofdgroep>
      <imro:geometrie><gml:Polygon srsName="urn:ogc:def:crs:EPSG::28992"><gml:exterior>
        <gml:LinearRing><gml:posList>80000 440000 80500 440000 80500 441000 80000 441000
        80000 440000</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon></imro:geometrie>
      <imro:labelpunt><gml:Point srsName="urn:ogc:def:crs:EPSG::28992">
        <gml:pos>80250 440500</gml:pos></gml:Point></imro:labelpunt>
    </imro:Enkelbestemming>
  </imro:featureMember>
</imro:FeatureCollectionIMRO>
"""


def test_an_imro2006_plan_is_named_unsupported_and_does_not_fail_a_folder(
    inputs: Inputs, tmp_path: Path
) -> None:
    folder = tmp_path / "plannen"
    folder.mkdir()
    old = folder / "NL.IMRO.0901.OUD-0001.gml"
    old.write_text(IMRO2006_GML, encoding="utf-8")
    code, out = check(inputs.write_yaml({"zoning": {"path": str(old)}}))
    assert code == 2
    assert "is an IMRO2006 plan" in out and "not supported" in out
    assert "Point" not in out and "geometr" not in out  # not a misleading geometry message
    write_imro(folder / "NL.IMRO.0901.TEST-0001.gml")
    layers, report = load(inputs.write_yaml({"zoning": {"path": str(folder)}}))
    assert len(layers["zoning"]) == 2
    assert any("IMRO2006" in w and w.endswith("skipped") for w in report.warnings)
    assert sorted(p.name for p in folder.iterdir()) == [
        "NL.IMRO.0901.OUD-0001.gml",
        "NL.IMRO.0901.TEST-0001.gml",
    ]


def test_a_flattened_ogr_export_of_perceel_gml_is_read(inputs: Inputs, tmp_path: Path) -> None:
    flat = tmp_path / "percelen.gml"
    pyogrio.write_dataframe(parcels_gdf(), flat, driver="GML", layer="perceel")
    layers, _ = load(inputs.write_yaml({"parcels": {"path": str(flat)}}))
    parcels = layers["parcels"].set_index("parcel_id")
    assert sorted(parcels.index) == [
        "5260000000001",
        "5260000000002",
        "5260000000003",
        "5260000000004",
    ]
    assert set(parcels.geom_type) == {"Polygon"}
    assert parcels.loc["5260000000001", "area_m2"] == pytest.approx(5_000)
    assert parcels["gemeentecode"].notna().all()


@pytest.mark.real
def test_a_flattened_ogr_export_of_the_real_perceel_gml_is_read(
    inputs: Inputs, tmp_path: Path
) -> None:
    derived = real(REAL_DATA / "brk_kadastralekaart_samples" / "perceel_polygonen_derived.gpkg")
    flat = tmp_path / "kadastralekaart_perceel_flat.gml"
    gdf = pyogrio.read_dataframe(derived, layer="perceel_v5")
    pyogrio.write_dataframe(gdf, flat, driver="GML", layer="perceel")
    loaded = catalog.load_source(catalog.SourceSpec(key="parcels", path=flat, format="brk"))
    assert not loaded.issues.problems, loaded.issues.problems
    parcels = loaded.layers["parcels"]
    assert len(parcels) == 11 and set(parcels.geom_type) == {"Polygon"}
    assert parcels["parcel_id"].str.fullmatch(r"\d+").all()
    assert parcels["kadastrale_grootte_m2"].notna().all()
    assert set(parcels["akr_code"]) == {"OTL02"}


@pytest.mark.real
def test_an_export_that_kept_the_label_points_says_so(tmp_path: Path) -> None:
    src = real(REAL_DATA / "brk_kadastralekaart_samples" / "v5" / "kadastralekaart_perceel.gml")
    points = pyogrio.read_dataframe(src, WRITE_GFS="NO")  # GDAL picks the label point
    flat = tmp_path / "perceel_export.gml"
    pyogrio.write_dataframe(points, flat, driver="GML", layer="perceel")
    loaded = catalog.load_source(catalog.SourceSpec(key="parcels", path=flat, format="brk"))
    (problem,) = loaded.issues.problems
    assert "holds points, not parcel polygons" in problem.message
    assert "begrenzingPerceel" in problem.fix
