"""The housing_plans (plancapaciteit) and bsd readers, end to end through sources.yaml."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from pipeline.catalog import load_sources, read_sources_yaml
from pipeline.errors import InputError

from .conftest import RD, Inputs


def _plans(**cols) -> gpd.GeoDataFrame:
    base = {
        "plan_id": ["P-1", "P-2"],
        "plannaam": ["Stationskwartier", "Polderrand"],
        "woningen": [120, 40],
        "startjaar": [2026, None],
        "status": ["Harde plancapaciteit", "in voorbereiding"],
    }
    base.update(cols)
    return gpd.GeoDataFrame(
        base,
        geometry=[box(80_100, 440_100, 80_300, 440_200), box(82_100, 440_100, 82_200, 440_200)],
        crs=RD,
    )


def test_housing_plans_and_bsd_are_read_into_canonical_layers(inputs: Inputs) -> None:
    _plans().to_file(inputs.dir / "woningbouwplannen.gpkg", layer="woningbouwplannen")
    # the BSD as GeoJSON in WGS84 (as a provincial download), read with format 'zones' (DESIGN)
    bsd = gpd.GeoDataFrame(
        {"naam": ["Testdam"]}, geometry=[box(80_000, 440_000, 81_000, 441_000)], crs=RD
    ).to_crs("EPSG:4326")
    bsd.to_file(inputs.dir / "bsd.geojson", driver="GeoJSON")
    path = inputs.write_yaml(
        {
            "housing_plans": {"path": "woningbouwplannen.gpkg", "format": "plancapaciteit"},
            "bsd": {"path": "bsd.geojson", "format": "zones"},
        }
    )
    layers, report = load_sources(read_sources_yaml(path))
    plans = layers["housing_plans"]
    assert plans["plan_id"].tolist() == ["P-1", "P-2"]
    assert plans["status"].tolist() == ["hard", "zacht"]
    assert plans["homes"].tolist() == [120, 40]
    assert plans["start_year"].iloc[0] == 2026 and plans["start_year"].isna().iloc[1]
    assert plans["plan_name"].iloc[0] == "Stationskwartier"
    assert plans.crs.to_epsg() == 28992
    assert report.counts["housing_plans"] == 2
    area = layers["bsd"].geometry.area.iloc[0]
    assert area == pytest.approx(1_000_000, rel=1e-6)  # back in RD from WGS84


def test_unknown_plan_status_and_a_fractional_year_name_the_rows(inputs: Inputs) -> None:
    _plans(status=["hard", "misschien"], startjaar=[2026.5, 2030]).to_file(
        inputs.dir / "plannen.gpkg", layer="woningbouwplannen"
    )
    path = inputs.write_yaml(
        {"housing_plans": {"path": "plannen.gpkg", "format": "plancapaciteit"}}
    )
    with pytest.raises(InputError) as err:
        load_sources(read_sources_yaml(path))
    text = str(err.value)
    assert "'misschien'" in text and "hard" in text and "zacht" in text
    assert "start year" in text and "whole number" in text


def test_the_new_sources_are_optional(inputs: Inputs) -> None:
    path = inputs.write_yaml(
        {
            "housing_plans": {"path": "absent.gpkg", "format": "plancapaciteit", "optional": True},
            "bsd": {"path": "absent_bsd.gpkg", "format": "bsd", "optional": True},
            "noise_road": {"path": "absent.tif", "format": "raster", "optional": True},
        }
    )
    sources = read_sources_yaml(path)
    assert sources.rasters == {}
    layers, report = load_sources(sources)
    assert "housing_plans" not in layers or len(layers["housing_plans"]) == 0
    assert any("absent.gpkg" in w for w in report.warnings)


def test_per_source_noise_rasters_are_listed(inputs: Inputs) -> None:
    path = inputs.write_yaml({"noise_road": {"path": "geluid_lden.tif", "format": "raster"}})
    sources = read_sources_yaml(path)
    assert sources.rasters == {"noise_road": inputs.dir / "geluid_lden.tif"}


def test_a_plan_file_without_a_status_column_is_a_problem(inputs: Inputs, tmp_path: Path) -> None:
    _plans().drop(columns=["status"]).to_file(inputs.dir / "p.gpkg", layer="woningbouwplannen")
    path = inputs.write_yaml({"housing_plans": {"path": "p.gpkg", "format": "plancapaciteit"}})
    with pytest.raises(InputError, match="plan status"):
        load_sources(read_sources_yaml(path))
