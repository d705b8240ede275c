"""Security headers, CORS, JSON errors, reloading the result, tile caching and the tile encoder."""

from __future__ import annotations

import os

import mapbox_vector_tile
import mercantile
import numpy as np
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from synthetic_result import write_result

from api import tiles as mvt
from api.main import create_app

TO_WGS = Transformer.from_crs("EPSG:28992", "EPSG:4326", always_xy=True)


def _tile_in(gem, z):
    lon, lat = TO_WGS.transform(gem.x0 + gem.size / 2, gem.y0 + gem.size / 4)
    return mercantile.tile(lon, lat, z)


# -- headers ------------------------------------------------------------------------------------
def test_security_headers_everywhere(make_env, tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html><title>kaart</title>")
    env = make_env(static_dir=static)
    c = env.client()
    for path, status in (("/", 200), ("/healthz", 200), ("/api/me", 401), ("/api/nope", 404)):
        r = c.get(path)
        assert r.status_code == status, path
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert (
            "worker-src blob:" in csp
            and "img-src 'self' data: blob: https://service.pdok.nl" in csp
        )
        assert "connect-src 'self' https://service.pdok.nl" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
    assert "kaart" in c.get("/").text
    assert c.get("/api/me").headers["cache-control"] == "no-store"
    assert c.get("/api/config").json()["basemap_url"].startswith("https://service.pdok.nl/")


def test_cors_closed_by_default_and_open_only_to_configured_origins(make_env):
    closed = make_env().client()
    pre = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    r = closed.options("/api/me", headers=pre)
    assert "access-control-allow-origin" not in r.headers
    assert (
        "access-control-allow-origin"
        not in closed.get("/api/me", headers={"Origin": "https://evil.example"}).headers
    )
    opened = make_env(cors_origins="https://gis.zuid-holland.nl").client()
    r = opened.options(
        "/api/me",
        headers={"Origin": "https://gis.zuid-holland.nl", "Access-Control-Request-Method": "GET"},
    )
    assert r.headers["access-control-allow-origin"] == "https://gis.zuid-holland.nl"
    r = opened.options("/api/me", headers=pre)
    assert r.headers.get("access-control-allow-origin") != "https://evil.example"


def test_errors_are_json_without_internals(env):
    c = env.login("analist@test.nl")
    r = c.get("/api/tiles/kantoren/3/9/0.mvt")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = c.get("/api/sites?bbox=1,2,3")
    assert r.status_code == 422 and "bbox" in r.json()["error"]["message"]
    r = c.get("/api/sites?cursor=bogus")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = c.get("/api/tiles/nope/1/0/0.mvt")
    assert r.status_code == 422
    r = c.delete("/api/me")
    assert r.status_code == 405 and set(r.json()) == {"error"}
    r = c.post(
        "/api/auth/login",
        content=b"{" + b" " * 200_000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"


class _BrokenStore:
    tile_threads = 1

    def version(self) -> str:
        return "x"

    def loaded_version(self) -> str | None:
        return None

    def available(self) -> bool:
        return True

    def gemeente_names(self) -> dict[str, str]:
        return {}

    def run_info(self):
        return None

    def tile(self, *args, **kwargs):
        raise RuntimeError("secret internal detail /etc/passwd")


def test_internal_errors_hide_the_stack_trace(make_env):
    env = make_env()
    app = create_app(env.settings, clock=env.clock, data=_BrokenStore())  # type: ignore[arg-type]
    app.state.users.add_user("x@test.nl", "a long password", role="analist", gemeenten=[])
    with TestClient(app, base_url="http://localhost", raise_server_exceptions=False) as c:
        c.post("/api/auth/login", json={"email": "x@test.nl", "password": "a long password"})
        r = c.get("/api/tiles/kantoren/14/8388/5415.mvt")
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal_error", "message": "Interne fout."}}
    assert "Traceback" not in r.text and "passwd" not in r.text


# -- settings -----------------------------------------------------------------------------------
def test_secret_key_required_outside_dev(monkeypatch):
    from pydantic import ValidationError

    from api.settings import Settings

    monkeypatch.delenv("KANSENKAART_SECRET_KEY", raising=False)
    monkeypatch.delenv("KANSENKAART_DEV", raising=False)
    with pytest.raises(ValidationError, match="KANSENKAART_SECRET_KEY is required"):
        Settings()
    with pytest.raises(ValidationError, match="too short"):
        Settings(secret_key="short")
    monkeypatch.setenv("KANSENKAART_DEV", "1")
    assert len(Settings().secret) >= 32
    monkeypatch.setenv("KANSENKAART_CORS_ORIGINS", "https://a.nl, https://b.nl/")
    assert Settings().cors_origins == ["https://a.nl", "https://b.nl"]


def test_an_unreachable_database_is_refused_clearly(make_env, tmp_path):
    from api.store.users import UserStoreError

    url = f"postgresql://kk:s3cret@/kansenkaart?host={tmp_path}&port=1"
    with pytest.raises(UserStoreError, match="cannot open the database") as info:
        make_env(database=url)
    assert "s3cret" not in str(info.value) and "kk:***@" in str(info.value)


# -- reload -------------------------------------------------------------------------------------
def test_result_is_reloaded_when_the_file_is_replaced(make_env, tmp_path):
    env = make_env(copy_result=True)
    c = env.login("analist@test.nl")
    before = c.get("/api/sites?layer=plinten&limit=10000").json()
    assert before["numberReturned"] == 90
    t = _tile_in(env.gemeenten[0], 14)
    tile_url = f"/api/tiles/plinten/14/{t.x}/{t.y}.mvt"
    etag_before = c.get(tile_url).headers["etag"]
    assert c.get("/api/me").json()["run"]["run_id"] == "test-1"
    export_before = c.get("/api/export/GM0901.gpkg").content
    assert c.get("/api/export/GM0901.gpkg").content == export_before  # served from the export cache
    # a new scan writes a temp file and renames it over the old one (and, on PostGIS, publishes it)
    write_result(env.result, n_gemeenten=3, per_layer=12, grid=6, seed=7)
    env.publish()
    after = c.get("/api/sites?layer=plinten&limit=10000").json()
    assert after["numberReturned"] == 36
    assert c.get("/api/me").json()["run"]["run_id"] == "test-7"
    assert c.get(tile_url).headers["etag"] != etag_before
    export_after = tmp_path / "after.gpkg"
    export_after.write_bytes(c.get("/api/export/GM0901.gpkg").content)
    assert len(pyogrio.read_dataframe(export_after, layer="plinten", read_geometry=False)) == 12


def test_missing_result_answers_503_until_it_appears(make_env):
    env = make_env(empty_result=True)
    c = env.login("analist@test.nl")
    assert c.get("/healthz").json()["result"] == "missing"
    r = c.get("/api/sites")
    assert r.status_code == 503 and r.json()["error"]["code"] == "result_unavailable"
    assert c.get("/api/me").json()["gemeenten"] == []
    write_result(env.result, n_gemeenten=2, per_layer=5, grid=4, seed=3)
    env.publish()
    assert c.get("/api/sites").json()["numberReturned"] == 30
    assert c.get("/healthz").json()["result"] == "loaded"


def test_a_broken_replacement_keeps_the_previous_result(make_env):
    env = make_env(copy_result=True)
    c = env.login("analist@test.nl")
    assert c.get("/api/sites?limit=1").status_code == 200
    tmp = env.result.with_name("broken.gpkg")
    tmp.write_bytes(b"this is not a geopackage")
    os.replace(tmp, env.result)
    if env.backend == "postgis":
        from api.publish import PublishError

        with pytest.raises(PublishError, match="not a readable GeoPackage"):
            env.publish()
    r = c.get("/api/sites?limit=1")
    assert r.status_code == 200 and r.json()["numberReturned"] == 1


# -- tiles --------------------------------------------------------------------------------------
def test_tile_etag_304_and_private_caching(env):
    bm1 = env.login("bm1@test.nl")
    analist = env.login("analist@test.nl")
    t = _tile_in(env.gemeenten[0], 13)
    url = f"/api/tiles/tijdelijke_locaties/13/{t.x}/{t.y}.mvt"
    r = bm1.get(url)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "private, no-cache"
    etag = r.headers["etag"]
    r2 = bm1.get(url, headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.content == b""
    # another scope must not revalidate against bm1's tile
    assert analist.get(url, headers={"If-None-Match": etag}).status_code == 200
    assert analist.get(url).headers["etag"] != etag
    # filters change the tile too
    assert bm1.get(url + "?min_score=90").headers["etag"] != etag


def test_cached_tile_is_not_served_to_another_scope(env):
    t = _tile_in(env.gemeenten[1], 12)
    url = f"/api/tiles/kantoren/12/{t.x}/{t.y}.mvt"
    first = env.login("bm2@test.nl").get(url)
    assert {
        f["properties"]["gemeentecode"]
        for f in mapbox_vector_tile.decode(first.content)["kantoren"]["features"]
    } == {"GM0902"}
    second = env.login("bm1@test.nl").get(url)
    feats = mapbox_vector_tile.decode(second.content).get("kantoren", {}).get("features", [])
    assert all(f["properties"]["gemeentecode"] == "GM0901" for f in feats)
    assert env.app.state.tile_cache.hits == 0


def test_low_zoom_attributes_and_size_cap(make_env):
    env = make_env(tile_max_bytes=1000)
    c = env.login("analist@test.nl")
    t = _tile_in(env.gemeenten[1], 10)
    r = c.get(f"/api/tiles/tijdelijke_locaties/10/{t.x}/{t.y}.mvt")
    assert len(r.content) <= 1000
    feats = mapbox_vector_tile.decode(r.content)["tijdelijke_locaties"]["features"]
    assert 1 <= len(feats) < 90
    assert set(feats[0]["properties"]) == {
        "site_id",
        "gemeentecode",
        "score",
        "tier",
        "capacity_units",
        "owner_class",
    }
    # the best-scoring sites are kept
    scores = sorted((f["properties"]["score"] for f in feats), reverse=True)
    full = (
        make_env()
        .login("analist@test.nl")
        .get("/api/sites?layer=tijdelijke_locaties&limit=10000")
        .json()
    )
    best = sorted((f["properties"]["score"] for f in full["features"]), reverse=True)[: len(scores)]
    assert scores == best
    hi = c.get(
        f"/api/tiles/plinten/14/{_tile_in(env.gemeenten[1], 14).x}/{_tile_in(env.gemeenten[1], 14).y}.mvt"
    )
    props = mapbox_vector_tile.decode(hi.content)["plinten"]["features"][0]["properties"]
    assert {"label", "rank"} <= set(props)


def test_polygons_whose_rings_collapse_on_the_grid_are_prepared():
    """A hole (or a whole polygon) smaller than a tile unit collapses to fewer than three points
    when snapped; the tile still renders (it answered 500 on 4 tiles of the irregular province)."""
    bounds = (0.0, 0.0, 4096.0, 4096.0)  # one tile unit = one map unit (y flipped)
    outer = [(100, 100), (1000, 100), (1000, 1000), (100, 1000)]
    tiny = [(500, 500), (500.3, 500.1), (500.1, 500.4)]
    polys = np.array(
        [shapely.Polygon(outer, [tiny]), shapely.Polygon(tiny), shapely.box(2000, 2000, 2100, 2050)]
    )
    geoms, kept = mvt.prepare_polygons(polys, bounds, simplify=0.0)
    assert kept.tolist() == [0, 1, 2]
    assert shapely.is_valid(geoms).all()
    assert shapely.equals(geoms[0], shapely.box(100, 3096, 1000, 3996))  # the hole is gone
    assert shapely.equals(geoms[1], shapely.box(498, 3594, 502, 3598))  # a visible 4×4 square
    assert shapely.equals(geoms[2], shapely.box(2000, 2046, 2100, 2096))
    decoded = mapbox_vector_tile.decode(
        mvt.encode_tile(
            [mvt.encode_layer("x", geoms, {"i": np.arange(3)}, geom_type=mvt.GEOM_POLYGON)]
        ),
        default_options={"y_coord_down": True},
    )
    assert [f["properties"]["i"] for f in decoded["x"]["features"]] == [0, 1, 2]


def test_varints_match_the_byte_by_byte_encoding():
    rng = np.random.default_rng(5)
    edges = [0, 1, 127, 128, 16383, 16384, 2**21 - 1, 2**21, 2**63 - 1, 2**63, 2**64 - 1]
    for values in (
        np.array(edges, dtype=np.uint64),
        rng.integers(0, 2**63, 500, dtype=np.uint64),
        rng.integers(0, 128, 50).astype(np.uint64),  # the one-byte shortcut
    ):
        data, nbytes = mvt._varints(values)
        expected = [mvt._varint_slow(int(v)) for v in values]
        assert data.tobytes() == b"".join(expected)
        assert nbytes.tolist() == [len(e) for e in expected]


@pytest.mark.parametrize("n", [200, 300])  # below and above tiles._SMALL_LAYER
def test_encoder_matches_mapbox_vector_tile(n):
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 4096, (n, 2))
    polys = shapely.buffer(shapely.points(xy), rng.uniform(3, 80, n), quad_segs=3)
    polys[0] = shapely.Polygon(
        [(10, 10), (300, 10), (300, 300), (10, 300)], [[(50, 50), (90, 50), (90, 90), (50, 90)]]
    )
    polys[1] = shapely.MultiPolygon(
        [shapely.box(400, 400, 500, 500), shapely.box(600, 600, 700, 650)]
    )
    polys = shapely.orient_polygons(shapely.set_precision(polys, 1.0), exterior_cw=False)
    props = {
        "site_id": np.array([f"S{i}" for i in range(n)], dtype=object),
        "score": np.round(rng.uniform(0, 100, n), 1).astype(object),
        "n": np.arange(n).astype(object),
    }
    props["score"][7] = None
    ours = mapbox_vector_tile.decode(
        mvt.encode_tile([mvt.encode_layer("x", polys, props, geom_type=mvt.GEOM_POLYGON)]),
        default_options={"y_coord_down": True},
    )
    feats = [
        {"geometry": g, "properties": {k: v[i] for k, v in props.items() if v[i] is not None}}
        for i, g in enumerate(polys)
    ]
    ref = mapbox_vector_tile.decode(
        mapbox_vector_tile.encode(
            [{"name": "x", "features": feats}], default_options={"y_coord_down": True}
        ),
        default_options={"y_coord_down": True},
    )
    assert [f["geometry"] for f in ours["x"]["features"]] == [
        f["geometry"] for f in ref["x"]["features"]
    ]
    assert [f["properties"] for f in ours["x"]["features"]] == [
        f["properties"] for f in ref["x"]["features"]
    ]
    pts = shapely.set_precision(shapely.points(xy), 1.0)
    decoded = mapbox_vector_tile.decode(
        mvt.encode_tile(
            [
                mvt.encode_layer(
                    "p", pts, {"i": np.arange(n).astype(object)}, geom_type=mvt.GEOM_POINT
                )
            ]
        ),
        default_options={"y_coord_down": True},
    )
    assert [f["geometry"]["coordinates"] for f in decoded["p"]["features"]] == np.rint(xy).astype(
        int
    ).tolist()
