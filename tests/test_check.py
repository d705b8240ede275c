"""``kansenkaart check``: a valid set passes; every kind of bad input gives exit code 2 and one
message naming the file, layer, column or row and the fix — never a traceback."""

from __future__ import annotations

import hashlib
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point, Polygon, box
from sources.conftest import RD, Inputs, pand_gdf, parcels_gdf, vbo_gdf, write_inputs, write_noise
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()


@pytest.fixture
def inputs(tmp_path: Path) -> Inputs:
    return write_inputs(tmp_path / "raw")


def check(yaml_path: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["check", "--sources", str(yaml_path)])
    return result.exit_code, result.output


def assert_bad(yaml_path: Path, *needles: str) -> str:
    code, out = check(yaml_path)
    assert code == 2, out
    assert "Traceback" not in out
    flat = " ".join(out.split())
    for needle in needles:
        assert needle in flat, f"{needle!r} not in:\n{out}"
    return flat


def test_valid_inputs_pass_and_print_counts(inputs: Inputs) -> None:
    code, out = check(inputs.write_yaml())
    assert code == 0, out
    assert "(synthetic)" in out
    for layer, n in [("parcels", 4), ("buildings", 2), ("units", 3), ("zoning", 2), ("vacancy", 2)]:
        assert any(
            line.split("│")[1].strip() == layer and f" {n} " in line
            for line in out.splitlines()
            if "│" in line
        ), out
    assert "ok:" in out


# --- sources.yaml ------------------------------------------------------------------------------


def test_sources_yaml_not_found(tmp_path: Path) -> None:
    assert_bad(tmp_path / "nope.yaml", "nope.yaml", "sources.yaml not found", "fix:")


def test_sources_yaml_typo_in_source_name(inputs: Inputs) -> None:
    path = inputs.write_yaml(
        {"parcels": None, "parcles": {"path": "kadastralekaart.gpkg", "format": "brk"}}
    )
    assert_bad(path, "unknown source 'parcles'", "did you mean 'parcels'", "sources.yaml")


def test_sources_yaml_typo_in_option(inputs: Inputs) -> None:
    path = inputs.write_yaml()
    path.write_text(path.read_text().replace("path: leegstand.csv", "pth: leegstand.csv"))
    assert_bad(path, "[vacancy]", "unknown option 'pth'", "did you mean 'path'")


def test_unknown_format_name(inputs: Inputs) -> None:
    path = inputs.write_yaml({"buildings": {"format": "bga"}})
    assert_bad(path, "[buildings]", "unknown format 'bga'", "did you mean 'bag'")


def test_format_that_does_not_fit_the_source(inputs: Inputs) -> None:
    assert_bad(
        inputs.write_yaml({"buildings": {"format": "brk"}}),
        "format 'brk' cannot be used for 'buildings'",
    )


def test_missing_required_source(inputs: Inputs) -> None:
    assert_bad(inputs.write_yaml({"zoning": None}), "required source 'zoning' is missing")


# --- files ---------------------------------------------------------------------------------------


def test_missing_file_is_named_with_a_suggestion(inputs: Inputs) -> None:
    path = inputs.write_yaml({"parcels": {"path": "kadastralekaart.gpk"}})
    assert_bad(
        path,
        "[parcels]",
        "kadastralekaart.gpk",
        "file not found",
        "did you mean 'kadastralekaart.gpkg'",
    )


def test_missing_optional_file_is_only_a_warning(inputs: Inputs) -> None:
    code, out = check(inputs.write_yaml({"noise": {"path": "geen.tif", "optional": True}}))
    assert code == 0, out
    assert "geen.tif not found; skipped" in " ".join(out.split())


def test_truncated_geopackage(inputs: Inputs) -> None:
    bag = inputs.path("buildings")
    data = bag.read_bytes()
    bag.write_bytes(data[: len(data) // 3])
    assert_bad(inputs.write_yaml(), "[buildings]", "bag.gpkg", "cannot be read", "truncated")


def test_empty_layer(inputs: Inputs) -> None:
    parcels_gdf().iloc[:0].to_file(inputs.path("parcels"), layer="perceel")
    assert_bad(inputs.write_yaml(), "[parcels]", "layer 'perceel'", "has no features")


def test_layer_name_typo(inputs: Inputs) -> None:
    path = inputs.write_yaml({"parcels": {"layer": "percel"}})
    assert_bad(path, "layer 'percel' not found", "did you mean 'perceel'")


def test_missing_required_column(inputs: Inputs) -> None:
    gdf = gpd.read_file(inputs.path("municipalities")).drop(columns=["statnaam"])
    gdf.to_file(inputs.path("municipalities"), driver="GeoJSON")
    assert_bad(
        inputs.write_yaml(),
        "[municipalities]",
        "gemeenten.geojson",
        "column 'statnaam'",
        "municipality name is missing",
    )


def test_wrong_column_type(inputs: Inputs) -> None:
    pand = pand_gdf()
    pand["bouwjaar"] = ["1975", "onbekend", "1930"]
    pand.to_file(inputs.path("buildings"), layer="pand")
    vbo_gdf().to_file(inputs.path("buildings"), layer="verblijfsobject")
    assert_bad(
        inputs.write_yaml(),
        "[buildings]",
        "layer 'pand'",
        "column 'bouwjaar'",
        "row 2",
        "'onbekend'",
        "whole numbers",
    )


def test_no_crs(inputs: Inputs) -> None:
    gdf = gpd.read_file(inputs.path("ownership"))
    gdf.set_crs(None, allow_override=True).to_file(
        inputs.dir / "eigendom_zonder_crs.gpkg", layer="eigendom"
    )
    path = inputs.write_yaml({"ownership": {"path": "eigendom_zonder_crs.gpkg"}})
    assert_bad(
        path, "[ownership]", "eigendom_zonder_crs.gpkg", "declares no CRS", "crs: EPSG:28992"
    )


def test_no_crs_with_crs_in_sources_yaml_loads(inputs: Inputs) -> None:
    gdf = gpd.read_file(inputs.path("ownership"))
    gdf.set_crs(None, allow_override=True).to_file(
        inputs.dir / "eigendom_zonder_crs.gpkg", layer="eigendom"
    )
    path = inputs.write_yaml(
        {"ownership": {"path": "eigendom_zonder_crs.gpkg", "crs": "EPSG:28992"}}
    )
    code, out = check(path)
    assert code == 0, out


def test_crs_far_from_the_netherlands(inputs: Inputs) -> None:
    # RD coordinates mislabelled as Web Mercator end up near the equator
    gdf = gpd.read_file(inputs.path("ownership"))
    gdf.set_crs("EPSG:3857", allow_override=True).to_file(
        inputs.path("ownership"), layer="eigendom"
    )
    assert_bad(
        inputs.write_yaml(),
        "[ownership]",
        "eigendom.gpkg",
        "far outside the Netherlands",
        "row 1",
        "CRS",
    )


def test_invalid_geometries_are_repaired_and_counted(inputs: Inputs) -> None:
    parcels = parcels_gdf()
    bowtie = Polygon([(80_400, 440_400), (80_500, 440_500), (80_500, 440_400), (80_400, 440_500)])
    parcels.loc[1, "geometry"] = bowtie
    parcels.to_file(inputs.path("parcels"), layer="perceel")
    code, out = check(inputs.write_yaml())
    assert code == 0, out
    row = next(line for line in out.splitlines() if "│ parcels" in line)
    cells = [c.strip() for c in row.split("│")]
    assert cells[3] == "4" and cells[4] == "1", row  # 4 features kept, 1 repaired
    assert "1 invalid geometry in parcels repaired" in " ".join(out.split())


def test_mixed_geometry_types(inputs: Inputs) -> None:
    gpd.GeoDataFrame(
        {"eigenaar_klasse": ["gemeente", "rijk"], "eigenaar_naam": ["Testdam", "Staat"]},
        geometry=[box(80_090, 440_090, 80_210, 440_160), Point(80_500, 440_500)],
        crs=RD,
    ).to_file(inputs.path("ownership"), layer="eigendom")
    assert_bad(
        inputs.write_yaml(), "[ownership]", "mixed or wrong geometry types", "1 Point", "row 2"
    )


def test_duplicate_ids(inputs: Inputs) -> None:
    parcels = parcels_gdf()
    parcels.loc[3, "identificatie"] = parcels.loc[2, "identificatie"]
    parcels.to_file(inputs.path("parcels"), layer="perceel")
    assert_bad(
        inputs.write_yaml(),
        "[parcels]",
        "column 'parcel_id'",
        "row 3, 4",
        "duplicate id(s): 5260000000003",
    )


def test_unknown_code_list_value(inputs: Inputs) -> None:
    vbo = vbo_gdf()
    vbo.loc[2, "gebruiksdoel"] = "kantoorfunktie"
    pand_gdf().to_file(inputs.path("buildings"), layer="pand")
    vbo.to_file(inputs.path("buildings"), layer="verblijfsobject")
    assert_bad(
        inputs.write_yaml(),
        "[buildings]",
        "column 'gebruiksdoel'",
        "'kantoorfunktie'",
        "row 3",
        "use one of",
    )


def test_unknown_owner_class(inputs: Inputs) -> None:
    gdf = gpd.read_file(inputs.path("ownership"))
    gdf.loc[1, "eigenaar_klasse"] = "waterschap"
    gdf.to_file(inputs.path("ownership"), layer="eigendom")
    assert_bad(inputs.write_yaml(), "[ownership]", "column 'owner_class'", "'waterschap'", "row 2")


def test_imro_unknown_hoofdgroep(inputs: Inputs) -> None:
    from sources.conftest import write_imro

    write_imro(inputs.path("zoning") / "NL.IMRO.0901.TEST-0001.gml", group2="woonwijk")
    assert_bad(inputs.write_yaml(), "[zoning]", "column 'hoofdgroep'", "'woonwijk'")


def test_imro_besluit_without_enkelbestemming(inputs: Inputs) -> None:
    plan = inputs.path("zoning") / "NL.IMRO.0901.TEST-0001.gml"
    plan.write_text(plan.read_text().replace("Enkelbestemming", "Besluitvlak_X"))
    assert_bad(
        inputs.write_yaml(),
        "[zoning]",
        "NL.IMRO.0901.TEST-0001.gml",
        "no Enkelbestemming layer",
        "besluit",
    )


def test_stops_without_kind(inputs: Inputs) -> None:
    gdf = gpd.read_file(inputs.path("transit_stops")).drop(columns=["kind"])
    gdf.to_file(inputs.path("transit_stops"), layer="haltes")
    assert_bad(inputs.write_yaml(), "[transit_stops]", "column 'kind'", "kind: trein")


# --- vacancy CSV ---------------------------------------------------------------------------------


def test_non_utf8_csv(inputs: Inputs) -> None:
    inputs.path("vacancy").write_bytes(
        "verblijfsobject_id;leegstand_sinds;bron\n0901010000000001;2021-03-01;café De Hoek\n".encode(
            "cp1252"
        )
    )
    assert_bad(
        inputs.write_yaml(),
        "[vacancy]",
        "leegstand.csv",
        "not UTF-8",
        "row 2",
        "re-save the file as UTF-8",
    )


def test_csv_unknown_verblijfsobject_ids(inputs: Inputs) -> None:
    inputs.path("vacancy").write_text(
        "# synthetic\nverblijfsobject_id,leegstand_sinds,bron\n"
        "0901010000000001,2021-03-01,x\n0999010000000077,2020-01-01,x\n0999010000000078,2020-01-01,x\n",
        encoding="utf-8",
    )
    # stale ids (units withdrawn since the register was made) are a counted warning
    code, out = check(inputs.write_yaml())
    assert code == 0, out
    flat = " ".join(out.split())
    for needle in (
        "[vacancy] 2 of 3 verblijfsobject id(s) are not current units",
        "0999010000000077, 0999010000000078",
        "row 4, 5",
    ):
        assert needle in flat, flat


def test_csv_bad_dates_name_their_lines(inputs: Inputs) -> None:
    inputs.path("vacancy").write_text(
        "# synthetic\nverblijfsobject_id;leegstand_sinds;bron\n"
        "0901010000000001;2021-13-45;x\n0902010000000003;sinds vorig jaar;x\n",
        encoding="utf-8",
    )
    assert_bad(
        inputs.write_yaml(), "[vacancy]", "column 'leegstand_sinds'", "row 3, 4", "YYYY-MM-DD"
    )


def test_csv_missing_column(inputs: Inputs) -> None:
    inputs.path("vacancy").write_text(
        "verblijfsobject_id;bron\n0901010000000001;x\n", encoding="utf-8"
    )
    assert_bad(inputs.write_yaml(), "[vacancy]", "column 'leegstand_sinds'", "missing")


# --- rasters -------------------------------------------------------------------------------------


def test_raster_without_crs(inputs: Inputs) -> None:
    write_noise(inputs.path("noise"), crs=None)
    assert_bad(
        inputs.write_yaml(), "[noise]", "geluid_lden.tif", "raster has no CRS", "gdal_edit.py"
    )


# --- collection and immutability -----------------------------------------------------------------


def test_every_problem_is_collected_into_one_error(inputs: Inputs) -> None:
    write_noise(inputs.path("noise"), crs=None)
    inputs.path("vacancy").write_bytes(
        "verblijfsobject_id;leegstand_sinds\n1;é\n".encode("latin-1")
    )
    path = inputs.write_yaml({"parcels": {"path": "weg.gpkg"}})
    flat = assert_bad(path, "[noise]", "[vacancy]", "[parcels]")
    assert "3 problem(s) in the inputs" in flat


def _tree_hash(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_check_never_writes_into_the_input_folder(inputs: Inputs) -> None:
    path = inputs.write_yaml()
    before = _tree_hash(inputs.dir)
    code, out = check(path)
    assert code == 0, out
    # a failing run must not write either
    write_noise(inputs.path("noise"), crs=None)
    before_bad = _tree_hash(inputs.dir)
    code, _ = check(path)
    assert code == 2
    assert _tree_hash(inputs.dir) == before_bad
    assert set(before) == set(before_bad)  # no .gfs or other sidecar appeared
    assert not list(inputs.dir.rglob("*.gfs"))


@pytest.mark.slow
def test_generated_sample_checks_clean_and_gets_no_sidecar_files(tmp_path: Path) -> None:
    """The generator's GeoPackages carry dataset metadata, which makes plain GDAL reads write
    ``.aux.xml`` files next to them; the readers must not (GDAL_PAM_ENABLED=NO)."""
    from pipeline.sample import generate_sample

    yaml_path = generate_sample(tmp_path / "sample", preset="tiny", seed=3, progress=None)
    before = _tree_hash(yaml_path.parent)
    code, out = check(yaml_path)
    assert code == 0, out
    assert "(synthetic)" in out
    assert _tree_hash(yaml_path.parent) == before
