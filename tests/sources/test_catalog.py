"""load_sources on the tiny valid set: municipalities assigned, filters, LVBAG zips, GTFS."""

from __future__ import annotations

import hashlib
import shutil
import threading
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from pipeline import catalog
from pipeline.errors import InputError

from .conftest import REAL_DATA, Inputs


def test_load_sources_assigns_municipalities_and_reports(inputs: Inputs) -> None:
    sources = catalog.read_sources_yaml(inputs.write_yaml())
    layers, report = catalog.load_sources(sources)
    assert report.synthetic is True
    assert report.counts == {
        "municipalities": 2,
        "parcels": 4,
        "buildings": 2,
        "units": 3,
        "zoning": 2,
        "vacancy": 2,
        "ownership": 2,
        "transit_stops": 2,
        "exclusion_zones": 2,
        "housing_plans": 0,  # optional sources not given: empty layers
        "bsd": 0,
    }
    parcels = layers["parcels"].set_index("parcel_id")
    assert parcels["gemeentecode"].to_dict() == {
        "5260000000001": "GM0901",
        "5260000000002": "GM0901",
        "5260000000003": "GM0902",
        "5260000000004": "GM0902",
    }
    assert layers["units"].set_index("vbo_id")["gemeentecode"]["0902010000000003"] == "GM0902"
    assert layers["buildings"].set_index("pand_id")["bouwjaar"].isna()["0902100000000002"]
    assert str(layers["vacancy"]["vacant_since"].dtype).startswith("datetime64")
    assert sources.noise == inputs.path("noise")
    assert report.rasters["noise"].bounds_rd == (80_000.0, 440_000.0, 80_100.0, 440_100.0)
    info = {i.source: i for i in report.inputs}
    assert info["parcels"].size_bytes == inputs.path("parcels").stat().st_size
    assert info["zoning"].sha256 == ""  # hashed only when the run metadata needs it
    assert len(info["zoning"].as_dict()["sha256"]) == 64
    assert (
        info["parcels"].digest() == hashlib.sha256(inputs.path("parcels").read_bytes()).hexdigest()
    )


def test_gemeente_filter_limits_parcels_buildings_units_and_vacancy(inputs: Inputs) -> None:
    sources = catalog.read_sources_yaml(inputs.write_yaml())
    layers, report = catalog.load_sources(sources, gemeenten=["gm0901"])
    assert report.counts["municipalities"] == 1
    assert sorted(layers["parcels"]["parcel_id"]) == ["5260000000001", "5260000000002"]
    assert layers["buildings"]["pand_id"].tolist() == ["0901100000000001"]
    assert report.counts["units"] == 2 and report.counts["vacancy"] == 1
    assert report.counts["transit_stops"] == 2  # context layers keep a margin


def test_then_replaces_each_layer_as_it_is_read(inputs: Inputs) -> None:
    """``then`` gets every layer of every source once, on the reading threads, and its result
    is the layer (the scan makes the parcels' canonical outlines there); the cross-checks
    and the municipality assignment still hold."""
    seen: list[tuple[str, str]] = []

    def then(name: str, gdf: pd.DataFrame) -> pd.DataFrame:
        seen.append((name, threading.current_thread().name))
        return gdf.assign(touched=name) if name in ("parcels", "buildings") else gdf

    sources = catalog.read_sources_yaml(inputs.write_yaml())
    layers, report = catalog.load_sources(sources, then=then)
    names = [n for n, _ in seen]
    assert sorted(names) == sorted(set(names))  # each layer once
    assert {"parcels", "buildings", "units", "zoning", "municipalities"} <= set(names)
    assert (layers["parcels"]["touched"] == "parcels").all()
    assert (layers["buildings"]["touched"] == "buildings").all()
    assert "touched" not in layers["units"]
    assert dict(seen)["parcels"].startswith("kansenkaart-read")
    assert report.counts["parcels"] == 4 and layers["parcels"]["gemeentecode"].notna().all()


def test_unknown_gemeente_is_a_problem(inputs: Inputs) -> None:
    sources = catalog.read_sources_yaml(inputs.write_yaml())
    with pytest.raises(InputError, match="'GM0903' is not in the municipalities file"):
        catalog.load_sources(sources, gemeenten=["GM0903"])


def test_paths_are_relative_to_the_yaml_and_optional_sources_may_be_left_out(
    inputs: Inputs,
) -> None:
    sources = catalog.read_sources_yaml(inputs.write_yaml({"noise": None, "exclusion_zones": None}))
    assert sources["parcels"].path == inputs.path("parcels").resolve()
    assert sources.noise is None
    layers, report = catalog.load_sources(sources)
    assert report.counts["exclusion_zones"] == 0 and "kind" in layers["exclusion_zones"].columns


@pytest.mark.real
def test_lvbag_nested_zip_and_folder_of_zips(tmp_path: Path) -> None:
    """Kadaster's national extract is a zip of zips: read through /vsizip/, nothing unpacked."""
    if not REAL_DATA.is_dir():
        pytest.skip("real data not available")
    bag_dir = REAL_DATA / "bag_doesburg_0221"
    vbo_zip = tmp_path / "0221VBO15092020.zip"
    with zipfile.ZipFile(vbo_zip, "w") as zf:
        zf.write(
            bag_dir / "lvbag_sample_small" / "0221VBO15092020-000001.xml",
            "0221VBO15092020-000001.xml",
        )
    outer = tmp_path / "lvbag-extract-nl.zip"
    with zipfile.ZipFile(outer, "w") as zf:
        zf.write(bag_dir / "0221PND15092020.zip", "0221PND15092020.zip")
        zf.write(vbo_zip, vbo_zip.name)
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(bag_dir / "0221PND15092020.zip", folder)
    shutil.copy(vbo_zip, folder)
    for path in (outer, folder):
        spec = catalog.SourceSpec(key="buildings", path=path, format="bag")
        loaded = catalog.load_source(spec)
        assert not loaded.issues.problems, loaded.issues.problems
        assert len(loaded.layers["buildings"]) == 7227
        assert len(loaded.layers["units"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["0221VBO15092020.zip", "lvbag-extract-nl.zip", "folder"]
    )


def test_gtfs_zip(inputs: Inputs) -> None:
    feed = inputs.dir / "gtfs.zip"
    with zipfile.ZipFile(feed, "w") as zf:
        zf.writestr(
            "stops.txt",
            "stop_id,stop_name,stop_lat,stop_lon,location_type\n"
            "1,Testdam Centraal,51.9500,4.4000,0\n2,Kerkstraat,51.9510,4.4010,0\n",
        )
        zf.writestr("routes.txt", "route_id,route_type\nR1,2\nR2,3\n")
        zf.writestr("trips.txt", "trip_id,route_id\nT1,R1\nT2,R2\n")
        zf.writestr("stop_times.txt", "trip_id,stop_id,stop_sequence\nT1,1,1\nT2,2,1\n")
    sources = catalog.read_sources_yaml(inputs.write_yaml({"transit_stops": {"path": "gtfs.zip"}}))
    layers, _ = catalog.load_sources(sources)
    assert dict(
        zip(layers["transit_stops"]["stop_id"], layers["transit_stops"]["kind"], strict=True)
    ) == {
        "1": "trein",
        "2": "bus",
    }


def test_only_limits_the_sources_that_are_read(tmp_path: Path) -> None:
    from pipeline.catalog import load_sources, read_sources_yaml
    from pipeline.sample import generate_sample

    sources = read_sources_yaml(generate_sample(tmp_path / "s", preset="tiny", seed=3))
    layers, report = load_sources(sources.only("municipalities"))
    assert len(layers["municipalities"]) == 2
    assert len(layers["parcels"]) == 0
    assert [i.source for i in report.inputs] == ["municipalities"]
