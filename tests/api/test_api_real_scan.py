"""The api on a real scan: ``kansenkaart sample --preset tiny`` + ``kansenkaart scan`` (the real
pipeline, two municipalities, ~10 s), served to a beleidsmaker of one of them."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import mapbox_vector_tile
import mercantile
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient
from live_service import scan_tiny_sample
from needs import need
from pyproj import Transformer

from api.main import create_app
from api.settings import Settings

PASSWORD = "a real scan password"
LAYERS = ("tijdelijke_locaties", "kantoren", "plinten")


@pytest.fixture(scope="module")
def real_result(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scan_tiny_sample(tmp_path_factory.mktemp("real-scan"))


def _app(result: Path, tmp_path: Path, backend: str, request: pytest.FixtureRequest):
    """The api on ``result`` (published to PostGIS for that backend) with a fresh user database
    (cheap password hashing)."""
    source = str(result)
    if backend == "postgis":
        from api.publish import publish_result

        source = request.getfixturevalue("pg_cluster").create_database()
        publish_result(result, source)
    settings = Settings(
        result=source,
        database=str(tmp_path / "u.sqlite"),
        secret_key="s" * 40,
        static_dir=tmp_path / "none",
        argon2_time_cost=1,
        argon2_memory_kib=64,
    )
    return create_app(settings)


@pytest.mark.slow
def test_real_scan_is_served_within_scope(real_result, tmp_path, backend, request):
    codes = sorted(
        pyogrio.read_dataframe(real_result, layer="gemeenten", read_geometry=False)["gemeentecode"]
    )
    assert len(codes) >= 2
    own = codes[0]
    app = _app(real_result, tmp_path, backend, request)
    app.state.users.add_user("bm@test.nl", PASSWORD, role="beleidsmaker", gemeenten=[own])
    with TestClient(app, base_url="http://localhost") as c:
        me = c.post("/api/auth/login", json={"email": "bm@test.nl", "password": PASSWORD}).json()[
            "user"
        ]
        assert (
            [g["code"] for g in me["gemeenten"]] == [own]
            and me["synthetic"] is True
            and me["run"]["run_id"]
        )

        truth = {
            lyr: pyogrio.read_dataframe(real_result, layer=lyr, read_geometry=False, use_arrow=True)
            for lyr in LAYERS
        }
        own_ids = {lyr: set(df.loc[df.gemeentecode == own, "site_id"]) for lyr, df in truth.items()}
        assert own_ids["tijdelijke_locaties"], (
            "the tiny scan should find temporary sites in the first municipality"
        )

        # GeoJSON pages, all cursors followed
        seen: dict[str, set[str]] = {lyr: set() for lyr in LAYERS}
        cursor = None
        while True:
            body = c.get(
                "/api/sites", params={"limit": 500, **({"cursor": cursor} if cursor else {})}
            ).json()
            for f in body["features"]:
                assert f["properties"]["gemeentecode"] == own
                seen[_layer_of(f["id"])].add(f["id"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == own_ids

        # tiles over the whole scanned area at z13 hold exactly the own temporary sites
        w, s, e, n = _bounds_wgs(real_result)
        tile_ids = set()
        for t in mercantile.tiles(w, s, e, n, [13]):
            r = c.get(f"/api/tiles/tijdelijke_locaties/13/{t.x}/{t.y}.mvt")
            assert r.status_code == 200 and len(r.content) < 500_000
            for f in (
                mapbox_vector_tile.decode(r.content)
                .get("tijdelijke_locaties", {})
                .get("features", [])
            ):
                assert f["properties"]["gemeentecode"] == own
                tile_ids.add(f["properties"]["site_id"])
        assert tile_ids == own_ids["tijdelijke_locaties"]

        # one site, explained
        site_id = sorted(own_ids["tijdelijke_locaties"])[0]
        site = c.get(f"/api/sites/tijdelijke_locaties/{site_id}").json()
        assert site["properties"]["explanation"]["criteria"] and site["sources"]

        # why-not on an excluded parcel of the own municipality
        parcels = pyogrio.read_dataframe(
            real_result,
            layer="uitgesloten_percelen",
            where=f"gemeentecode = '{own}'",
            max_features=50,
        )
        pt = shapely.point_on_surface(parcels.geometry.iloc[0])
        lon, lat = Transformer.from_crs("EPSG:28992", "EPSG:4326", always_xy=True).transform(
            pt.x, pt.y
        )
        why = c.get("/api/why", params={"x": lon, "y": lat}).json()
        assert why["gemeentecode"] == own and why["summary"]
        picked = parcels.iloc[0]
        assert why["parcel"] is not None, "the excluded parcel under the point is not answered"
        assert why["parcel"]["parcel_id"] == picked["parcel_id"]
        assert why["parcel"]["reason_codes"] == [
            c.strip() for c in str(picked["reason_codes"]).split(",") if c.strip()
        ]
        assert why["parcel"]["reasons"]

        # a point in the other municipality is refused
        other = pyogrio.read_dataframe(
            real_result, layer="gemeenten", where=f"gemeentecode = '{codes[1]}'"
        )
        opt = shapely.point_on_surface(other.geometry.iloc[0])
        lon, lat = Transformer.from_crs(other.crs, "EPSG:4326", always_xy=True).transform(
            opt.x, opt.y
        )
        assert c.get("/api/why", params={"x": lon, "y": lat}).status_code == 403

        # export of the own municipality
        r = c.get(f"/api/export/{own}.gpkg?uitgesloten=true")
        assert r.status_code == 200
        path = tmp_path / "export.gpkg"
        path.write_bytes(r.content)
        for lyr in (*LAYERS, "gemeenten", "uitgesloten_percelen", "uitgesloten_panden"):
            df = pyogrio.read_dataframe(path, layer=lyr, read_geometry=False)
            assert set(df["gemeentecode"]) <= {own}, lyr
        assert c.get(f"/api/export/{codes[1]}.gpkg").status_code == 403


def _layer_of(site_id: str) -> str:
    return {"TL": "tijdelijke_locaties", "KT": "kantoren", "PL": "plinten"}[
        site_id.split("-", 1)[0]
    ]


def _bounds_wgs(result: Path) -> tuple[float, float, float, float]:
    gdf = pyogrio.read_dataframe(result, layer="gemeenten").to_crs("EPSG:4326")
    return tuple(float(v) for v in gdf.total_bounds)  # type: ignore[return-value]


def _gdal_problems(path: Path) -> list[str]:
    """What the system's GDAL (``ogrinfo``, as QGIS and other tools use it) says reading every
    feature of every layer of ``path``: warnings and errors, or nothing."""
    ogrinfo = shutil.which("ogrinfo")
    if ogrinfo is None:
        need("ogrinfo (Debian package gdal-bin) is not installed")
    run = subprocess.run(
        [ogrinfo, "-ro", "-al", "-q", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CPL_DEBUG": "OFF"},
    )
    assert run.returncode == 0, run.stderr
    lines = (run.stderr + "\n" + run.stdout).splitlines()
    return [line for line in lines if re.match(r"^(Warning|ERROR)\b", line)]


def test_result_and_export_open_without_a_gdal_warning(
    real_result, tmp_path, backend, request, record_property
):
    """GeoPackage 1.3 and DATETIME values in the standard's form: GDAL (3.6 on Debian 12) reads
    the result and a full export without a single warning."""
    assert _gdal_problems(real_result) == []
    version = subprocess.run(["ogrinfo", "--version"], capture_output=True, text=True).stdout
    record_property("ran_with", f"{version.strip()} (ogrinfo, GeoPackage driver)")
    with sqlite3.connect(real_result) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 10300
        times = [r[0] for r in con.execute("SELECT update_time FROM layer_styles")]
    assert times and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t) for t in times)

    code = sorted(
        pyogrio.read_dataframe(real_result, layer="gemeenten", read_geometry=False)["gemeentecode"]
    )[0]
    app = _app(real_result, tmp_path, backend, request)
    app.state.users.add_user("analist@test.nl", PASSWORD, role="analist", gemeenten=[])
    with TestClient(app, base_url="http://localhost") as c:
        c.post("/api/auth/login", json={"email": "analist@test.nl", "password": PASSWORD})
        r = c.get(f"/api/export/{code}.gpkg?uitgesloten=true")
        assert r.status_code == 200, r.text
    export = tmp_path / "export.gpkg"
    export.write_bytes(r.content)
    assert _gdal_problems(export) == []
