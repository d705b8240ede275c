"""GDAL's OGC API Features driver (``ogr2ogr OAPIF:…``, the GDAL 3.6 of Debian 12) as a second,
independent client: HTTP Basic with the e-mail and API token, paging by ``next`` links, every
feature of the beleidsmaker's municipality and none of another's, without a warning."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pyogrio
import pytest
from needs import need

from .conftest import Service

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("qgis")]


@pytest.mark.parametrize(
    "collection", ["tijdelijke_locaties", "plinten", "gemeenten", "uitgesloten_panden"]
)
def test_gdal_copies_every_own_feature_through_the_ogc_api(
    service: Service, tmp_path: Path, collection: str, record_property
):
    ogr2ogr = shutil.which("ogr2ogr")
    if ogr2ogr is None:
        need("ogr2ogr (Debian package gdal-bin) is not installed")
    version = subprocess.run([ogr2ogr, "--version"], capture_output=True, text=True).stdout
    record_property("ran_with", f"{version.strip()} (ogr2ogr, OAPIF driver)")
    out = tmp_path / f"{collection}.geojson"
    seen_before = len(service.recorder.seen)
    env = {
        **os.environ,
        "GDAL_HTTP_AUTH": "BASIC",
        "GDAL_HTTP_USERPWD": f"{service.emails['own']}:{service.tokens['own']}",
        "CPL_DEBUG": "OFF",
    }
    run = subprocess.run(
        [
            ogr2ogr,
            "-f",
            "GeoJSON",
            str(out),
            f"OAPIF:{service.base}/api/ogc",
            collection,
            "-oo",
            "PAGE_SIZE=50",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "Warning" not in run.stderr and "ERROR" not in run.stderr, run.stderr
    features = json.loads(out.read_text())["features"]
    key = {"gemeenten": "gemeentecode", "uitgesloten_panden": "pand_id"}.get(collection, "site_id")
    truth = pyogrio.read_dataframe(service.result, layer=collection, read_geometry=False)
    own = truth.loc[truth["gemeentecode"] == service.own, key]
    got = [f["properties"][key] for f in features]
    assert sorted(got) == sorted(own)
    assert {f["properties"]["gemeentecode"] for f in features} == {service.own}
    seen = service.recorder.seen[seen_before:]
    assert {s.auth_scheme for s in seen} == {"basic"}
    if len(own) > 50:
        assert any("cursor=" in s.query for s in seen)  # it followed the next links
