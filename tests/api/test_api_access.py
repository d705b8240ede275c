"""The access matrix: every data endpoint × every caller who must not see the data.

Then, for allowed callers, the decoded content itself: tiles (MVT), GeoJSON pages (all cursors
followed), exports (the GeoPackage opened) and the other answers hold only their municipalities.
"""

from __future__ import annotations

import base64
import gzip
import sqlite3
import xml.etree.ElementTree as ET

import mapbox_vector_tile
import mercantile
import numpy as np
import pyogrio
import pytest
from pyproj import Transformer

from api.security import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE

PASSWORD = "correct horse battery"  # the fixture accounts' password (conftest.py)
TO_WGS = Transformer.from_crs("EPSG:28992", "EPSG:4326", always_xy=True)
LAYERS = ("tijdelijke_locaties", "kantoren", "plinten")


def _centre_lower_half(gem):
    """A point in a municipality's candidate area (lower half), as lon/lat."""
    return TO_WGS.transform(gem.x0 + gem.size / 2, gem.y0 + gem.size / 4)


def _targets(env, *, site_id: str) -> list[tuple[str, str]]:
    """Requests for GM0902's data, one per data endpoint."""
    gem2 = env.gemeenten[1]
    lon, lat = _centre_lower_half(gem2)
    t = mercantile.tile(lon, lat, 14)
    return [
        ("GET", "/api/layers?gemeente=GM0902"),
        ("GET", f"/api/tiles/tijdelijke_locaties/14/{t.x}/{t.y}.mvt?gemeente=GM0902"),
        ("GET", f"/api/tiles/gemeenten/12/{t.x // 4}/{t.y // 4}.mvt?gemeente=GM0902"),
        ("GET", "/api/sites?gemeente=GM0902"),
        ("GET", "/api/sites?layer=plinten&gemeente=GM0902&limit=5"),
        ("GET", f"/api/sites/tijdelijke_locaties/{site_id}"),
        ("GET", f"/api/why?x={lon}&y={lat}"),
        ("GET", "/api/gemeenten?gemeente=GM0902"),
        ("GET", "/api/export/GM0902.gpkg"),
        ("GET", f"/api/ogc/collections/tijdelijke_locaties/items/{site_id}"),
        ("GET", "/api/ogc/collections/gemeenten/items/GM0902?crs=EPSG:28992"),
        ("GET", "/api/ogc/collections/uitgesloten_panden/items/0902100000000003"),
    ]


def _assert_refused(r, allowed: tuple[int, ...]) -> None:
    assert r.status_code in allowed, (r.request.url, r.status_code, r.text[:200])
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}
    assert b"GM0902-" not in r.content and b"Testgemeente 2" not in r.content


def _session_cookie(env, email: str) -> tuple[str, str]:
    c = env.login(email)
    return c.cookies[SESSION_COOKIE], c.cookies[CSRF_COOKIE]


def _with_cookie(env, session: str, csrf: str | None = None):
    c = env.client()
    c.headers["Cookie"] = f"{SESSION_COOKIE}={session}" + (
        f"; {CSRF_COOKIE}={csrf}" if csrf else ""
    )
    if csrf:
        c.headers[CSRF_HEADER] = csrf
    return c


def _token(env, email: str) -> tuple[str, str]:
    c = env.login(email)
    r = c.post("/api/tokens", json={"name": "script"})
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["token"]


def _bearer(env, token: str):
    c = env.client()
    c.headers["Authorization"] = f"Bearer {token}"
    return c


def _basic(env, email: str, secret: str):
    c = env.client()
    c.headers["Authorization"] = "Basic " + base64.b64encode(f"{email}:{secret}".encode()).decode()
    return c


def test_access_matrix(env):
    site_id = "TL-GM0902-00003"
    targets = _targets(env, site_id=site_id)

    # Sanity: the owner of GM0902 gets real data for these very requests.
    owner = env.login("bm2@test.nl")
    for method, url in targets:
        r = owner.request(method, url)
        assert r.status_code == 200, (url, r.text[:200])
    assert b"GM0902" in owner.get(targets[3][1]).content

    callers: dict[str, tuple[object, tuple[int, ...]]] = {}
    callers["anonymous"] = (env.client(), (401,))

    session, csrf = _session_cookie(env, "bm2@test.nl")
    env.users.disable_user("bm2@test.nl")
    callers["disabled user"] = (_with_cookie(env, session, csrf), (401,))

    # bm13 logs out; the old cookie must be dead at once.
    c = env.login("bm13@test.nl")
    old_session, old_csrf = c.cookies[SESSION_COOKIE], c.cookies[CSRF_COOKIE]
    assert c.post("/api/auth/logout").status_code == 204
    callers["logged-out session"] = (_with_cookie(env, old_session, old_csrf), (401,))

    expired_idle, csrf_idle = _session_cookie(env, "analist@test.nl")
    expired_abs, csrf_abs = _session_cookie(env, "analist@test.nl")
    abs_client = _with_cookie(env, expired_abs, csrf_abs)
    # Keep the second session busy past the absolute limit, while the first sits idle.
    step = env.settings.session_idle_minutes * 60 - 60
    total = 0.0
    while total <= env.settings.session_absolute_hours * 3600:
        env.clock.advance(step)
        total += step
        assert abs_client.get("/api/me").status_code == (
            200 if total <= env.settings.session_absolute_hours * 3600 else 401
        )
    callers["idle-expired session"] = (_with_cookie(env, expired_idle, csrf_idle), (401,))
    callers["absolute-expired session"] = (abs_client, (401,))

    good, good_csrf = _session_cookie(env, "bm1@test.nl")
    tampered = good[:-2] + ("A" if good[-2] != "A" else "B") + good[-1]
    callers["tampered cookie"] = (_with_cookie(env, tampered, good_csrf), (401,))
    callers["forged cookie"] = (_with_cookie(env, "x" * 43, "y" * 43), (401,))

    token_id, token = _token(env, "analist@test.nl")
    revoker = env.login("analist@test.nl")
    assert _bearer(env, token).get("/api/sites?limit=1").status_code == 200
    assert revoker.delete(f"/api/tokens/{token_id}").status_code == 204
    callers["revoked token"] = (_bearer(env, token), (401,))
    callers["garbage token"] = (_bearer(env, "kk_" + "z" * 43), (401,))
    # HTTP Basic (QGIS): the account password never works there, nor another account's token
    # (repeated failures are throttled: 429).
    basic_refused = (401, 429)
    callers["account password over Basic"] = (
        _basic(env, "analist@test.nl", PASSWORD),
        basic_refused,
    )
    _, analist_token = _token(env, "analist@test.nl")
    callers["someone else's token over Basic"] = (
        _basic(env, "bm1@test.nl", analist_token),
        basic_refused,
    )

    # A beleidsmaker of another municipality: refused; a single site answers 404 (not confirmed).
    callers["other municipality's beleidsmaker"] = (env.login("bm1@test.nl"), (403, 404))
    callers["beheerder (no data access)"] = (env.login("beheer@test.nl"), (403,))

    for name, (client, allowed) in callers.items():
        for method, url in targets:
            r = client.request(method, url)  # type: ignore[attr-defined]
            try:
                _assert_refused(r, allowed)
            except AssertionError as exc:
                raise AssertionError(f"{name}: {method} {url}: {exc}") from None
        me_status = client.get("/api/me").status_code  # type: ignore[attr-defined]
        expected = 200 if name.startswith(("beheerder", "other")) else 401
        assert me_status == expected or (allowed == basic_refused and me_status == 429), name


def test_single_site_outside_scope_is_indistinguishable_from_missing(env):
    c = env.login("bm1@test.nl")
    outside = c.get("/api/sites/tijdelijke_locaties/TL-GM0902-00003")
    missing = c.get("/api/sites/tijdelijke_locaties/TL-GM0901-99999")
    assert outside.status_code == missing.status_code == 404
    assert outside.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    assert c.get("/api/sites/tijdelijke_locaties/TL-GM0901-00003").status_code == 200


def _tiles_covering(env, z: int):
    west, south = TO_WGS.transform(env.gemeenten[0].x0, env.gemeenten[0].y0)
    east, north = TO_WGS.transform(
        env.gemeenten[-1].x0 + env.gemeenten[-1].size, env.gemeenten[-1].y0 + env.gemeenten[-1].size
    )
    return list(mercantile.tiles(west, south, east, north, [z]))


def _decode(r) -> dict:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert r.headers["content-encoding"] == "gzip"
    # httpx already gunzipped the body for us; the raw stream must be gzip.
    raw = r.content
    return mapbox_vector_tile.decode(raw)


@pytest.mark.parametrize(
    ("email", "codes"), [("bm1@test.nl", {"GM0901"}), ("bm13@test.nl", {"GM0901", "GM0903"})]
)
def test_tiles_hold_only_the_callers_municipalities(env, email, codes):
    c = env.login(email)
    truth = pyogrio.read_dataframe(
        env.result,
        layer="tijdelijke_locaties",
        columns=["site_id", "gemeentecode"],
        read_geometry=False,
    )
    for layer in LAYERS:
        expected = set(
            pyogrio.read_dataframe(
                env.result, layer=layer, columns=["site_id", "gemeentecode"], read_geometry=False
            ).query("gemeentecode in @codes")["site_id"]
        )
        for z in (12, 14):
            seen_codes, seen_ids = set(), set()
            for t in _tiles_covering(env, z):
                data = _decode(c.get(f"/api/tiles/{layer}/{z}/{t.x}/{t.y}.mvt"))
                for f in data.get(layer, {}).get("features", []):
                    seen_codes.add(f["properties"]["gemeentecode"])
                    seen_ids.add(f["properties"]["site_id"])
            assert seen_codes == codes, (layer, z)
            assert seen_ids == expected, (layer, z)
    assert len(truth) == 90
    seen = set()
    for t in _tiles_covering(env, 10):
        data = _decode(c.get(f"/api/tiles/gemeenten/10/{t.x}/{t.y}.mvt"))
        seen |= {
            f["properties"]["gemeentecode"] for f in data.get("gemeenten", {}).get("features", [])
        }
    assert seen == codes


def test_raw_tile_body_is_gzip(env):
    c = env.login("bm1@test.nl")
    lon, lat = _centre_lower_half(env.gemeenten[0])
    t = mercantile.tile(lon, lat, 14)
    with c.stream("GET", f"/api/tiles/kantoren/14/{t.x}/{t.y}.mvt") as r:
        raw = b"".join(r.iter_raw())
    decoded = mapbox_vector_tile.decode(gzip.decompress(raw))
    assert {f["properties"]["gemeentecode"] for f in decoded["kantoren"]["features"]} <= {"GM0901"}


@pytest.mark.parametrize(
    ("email", "codes"),
    [
        ("bm1@test.nl", {"GM0901"}),
        ("bm13@test.nl", {"GM0901", "GM0903"}),
        ("analist@test.nl", {"GM0901", "GM0902", "GM0903"}),
    ],
)
def test_geojson_pages_hold_only_the_callers_municipalities(env, email, codes):
    c = env.login(email)
    ids: list[str] = []
    seen_codes: set[str] = set()
    url = "/api/sites?limit=7"
    cursor = None
    pages = 0
    while True:
        r = c.get(url + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/geo+json"
        body = r.json()
        assert body["numberReturned"] == len(body["features"]) <= 7
        for f in body["features"]:
            ids.append(f["id"])
            seen_codes.add(f["properties"]["gemeentecode"])
            lon, lat = (
                f["geometry"]["coordinates"][0][0][0]
                if f["geometry"]["type"] == "MultiPolygon"
                else f["geometry"]["coordinates"]
            )
            assert 4.0 < lon < 5.0 and 51.5 < lat < 52.5  # WGS84
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(ids) == len(set(ids)) == 90 * len(codes)
    assert seen_codes == codes
    assert pages == -(-len(ids) // 7)


def test_geojson_filters_and_bbox(env):
    c = env.login("analist@test.nl")
    body = c.get("/api/sites?layer=kantoren&min_score=80&gemeente=GM0902&limit=10000").json()
    truth = pyogrio.read_dataframe(env.result, layer="kantoren", read_geometry=False)
    expected = set(truth[(truth.score >= 80) & (truth.gemeentecode == "GM0902")]["site_id"])
    assert {f["id"] for f in body["features"]} == expected and expected
    gem = env.gemeenten[2]
    w, s = TO_WGS.transform(gem.x0, gem.y0)
    e, n = TO_WGS.transform(gem.x0 + gem.size, gem.y0 + gem.size)
    body = c.get(f"/api/sites?layer=plinten&bbox={w},{s},{e},{n}").json()
    assert {f["properties"]["gemeentecode"] for f in body["features"]} == {"GM0903"}
    assert body["numberReturned"] == 30


def test_default_export_has_the_styled_layers_only(env, tmp_path):
    r = env.login("bm1@test.nl").get("/api/export/GM0901.gpkg")
    assert r.status_code == 200
    assert "kansenkaart_GM0901.gpkg" in r.headers["content-disposition"]
    path = tmp_path / "small.gpkg"
    path.write_bytes(r.content)
    layers = {str(n) for n, _ in pyogrio.list_layers(path)}
    assert layers == {
        "tijdelijke_locaties",
        "kantoren",
        "plinten",
        "gemeenten",
        "run_metadata",
        "layer_styles",
    }
    for layer in ("tijdelijke_locaties", "kantoren", "plinten", "gemeenten"):
        assert set(
            pyogrio.read_dataframe(path, layer=layer, read_geometry=False)["gemeentecode"]
        ) == {"GM0901"}
    # The overview's style is fitted to this municipality alone: one class, its own value (the
    # result's classes would tell the other municipalities' capacities).
    own = pyogrio.read_dataframe(path, layer="gemeenten", read_geometry=False)["capacity_ab"]
    styles = pyogrio.read_dataframe(path, layer="layer_styles").set_index("f_table_name")
    ranges = [
        (float(r.get("lower")), float(r.get("upper")))
        for r in ET.fromstring(styles.loc["gemeenten", "styleQML"]).iter("range")
    ]
    assert ranges == [(float(own.iloc[0]), float(own.iloc[0]))]


def test_export_holds_only_the_municipality_and_is_audited(env, tmp_path):
    c = env.login("bm1@test.nl")
    r = c.get("/api/export/GM0901.gpkg?uitgesloten=true")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/geopackage+sqlite3"
    assert "attachment" in r.headers["content-disposition"]
    path = tmp_path / "export.gpkg"
    path.write_bytes(r.content)
    layers = {str(n) for n, _ in pyogrio.list_layers(path)}
    assert {
        "tijdelijke_locaties",
        "kantoren",
        "plinten",
        "gemeenten",
        "uitgesloten_percelen",
        "uitgesloten_panden",
        "run_metadata",
        "layer_styles",
    } <= layers
    for layer in (
        "tijdelijke_locaties",
        "kantoren",
        "plinten",
        "gemeenten",
        "uitgesloten_percelen",
        "uitgesloten_panden",
    ):
        df = pyogrio.read_dataframe(path, layer=layer)
        full = pyogrio.read_dataframe(env.result, layer=layer, read_geometry=False)
        assert set(df["gemeentecode"]) == {"GM0901"}, layer
        assert len(df) == int((full["gemeentecode"] == "GM0901").sum()), layer
        assert df.crs.to_epsg() == 28992
        # the spatial index came along and answers bbox queries
        minx, miny, maxx, maxy = df.total_bounds
        part = pyogrio.read_dataframe(path, layer=layer, bbox=(minx, miny, (minx + maxx) / 2, maxy))
        assert 0 < len(part) <= len(df)
    con = sqlite3.connect(path)
    rtrees = [
        r[0]
        for r in con.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE 'rtree_%' AND sql LIKE 'CREATE VIRTUAL%'"
        )
    ]
    assert len(rtrees) == 6
    assert all(con.execute(f"SELECT rtreecheck('{t}')").fetchone()[0] == "ok" for t in rtrees)
    con.close()
    meta = pyogrio.read_dataframe(path, layer="run_metadata")
    values = dict(zip(meta["key"], meta["value"], strict=True))
    assert values["gemeenten"] == '["GM0901"]'
    assert '"tijdelijke_locaties": 30' in values["feature_counts"]
    styles = pyogrio.read_dataframe(path, layer="layer_styles")
    assert set(styles["f_table_name"]) == {
        "tijdelijke_locaties",
        "kantoren",
        "plinten",
        "gemeenten",
    }
    entries = env.users.audit_entries()
    exp = [e for e in entries if e.action == "export"]
    assert (
        exp[0].user_email == "bm1@test.nl"
        and exp[0].outcome == "success"
        and exp[0].detail["gemeentecode"] == "GM0901"
    )
    assert exp[0].address


def test_analist_exports_any_municipality(env, tmp_path):
    r = env.login("analist@test.nl").get("/api/export/GM0903.gpkg")
    assert r.status_code == 200
    path = tmp_path / "e.gpkg"
    path.write_bytes(r.content)
    assert set(pyogrio.read_dataframe(path, layer="plinten")["gemeentecode"]) == {"GM0903"}
    assert env.login("analist@test.nl").get("/api/export/GM0999.gpkg").status_code == 404


def test_why_and_gemeenten_are_scoped(env):
    c = env.login("bm1@test.nl")
    gems = c.get("/api/gemeenten").json()
    assert [f["properties"]["gemeentecode"] for f in gems["features"]] == ["GM0901"]
    gem = env.gemeenten[0]
    lon, lat = TO_WGS.transform(gem.x0 + 10, gem.y0 + gem.size - 10)  # an excluded parcel
    body = c.get(f"/api/why?x={lon}&y={lat}").json()
    assert body["gemeentecode"] == "GM0901"
    assert body["parcel"]["reason_codes"] and body["parcel"]["reasons"]
    assert body["candidates"] == []
    assert body["summary"].startswith("Geen kans")
    # the RD variant of the same point gives the same parcel
    rd = c.get(f"/api/why?x={gem.x0 + 10}&y={gem.y0 + gem.size - 10}&crs=EPSG:28992").json()
    assert rd["parcel"]["parcel_id"] == body["parcel"]["parcel_id"]


def test_why_on_a_candidate(env):
    c = env.login("bm1@test.nl")
    site = c.get("/api/sites?layer=tijdelijke_locaties&limit=1").json()["features"][0]
    ring = np.array(site["geometry"]["coordinates"][0][0])
    lon, lat = ring[:-1].mean(axis=0)
    body = c.get(f"/api/why?x={lon}&y={lat}").json()
    assert site["id"] in {cand["site_id"] for cand in body["candidates"]}
    assert body["summary"].startswith("Hier ligt een kans")


def test_single_site_has_parsed_explanation_and_sources(env):
    c = env.login("bm1@test.nl")
    body = c.get("/api/sites/kantoren/KT-GM0901-00002").json()
    assert body["type"] == "Feature" and body["id"] == "KT-GM0901-00002"
    props = body["properties"]
    assert props["gemeentecode"] == "GM0901"
    assert [c["id"] for c in props["explanation"]["criteria"]] == ["eigendom", "bereikbaarheid"]
    assert {
        "pand_id",
        "bouwjaar",
        "office_floor_m2",
        "vacant_share",
        "vacant_years",
        "c_eigendom_raw",
    } <= set(props)
    assert body["sources"][0]["source"] == "parcels"


def test_layers_tilejson(env):
    c = env.login("bm1@test.nl")
    body = c.get("/api/layers?min_score=50&gemeente=GM0901").json()
    ids = [lyr["id"] for lyr in body["layers"]]
    assert ids == ["tijdelijke_locaties", "kantoren", "plinten", "gemeenten"]
    first = body["layers"][0]
    assert first["tilejson"] == "3.0.0"
    assert first["tiles"] == [
        "/api/tiles/tijdelijke_locaties/{z}/{x}/{y}.mvt?min_score=50.0&gemeente=GM0901"
    ]
    assert first["vector_layers"][0]["id"] == "tijdelijke_locaties"
    w, s, e, _n = first["bounds"]
    gem = env.gemeenten[0]
    assert (w, s) == pytest.approx(TO_WGS.transform(gem.x0, gem.y0), abs=1e-3)
    assert e < TO_WGS.transform(gem.x0 + gem.size + 100, gem.y0)[0]  # only GM0901's extent


def test_tile_filters(env):
    c = env.login("analist@test.nl")
    truth = pyogrio.read_dataframe(env.result, layer="kantoren", read_geometry=False)
    expected = set(
        truth[(truth.score >= 60) & (truth.owner_class.isin(["gemeente", "rijk"]))]["site_id"]
    )
    seen = set()
    for t in _tiles_covering(env, 12):
        data = _decode(
            c.get(
                f"/api/tiles/kantoren/12/{t.x}/{t.y}.mvt?min_score=60&owner_class=gemeente&owner_class=rijk"
            )
        )
        seen |= {f["properties"]["site_id"] for f in data.get("kantoren", {}).get("features", [])}
    assert seen == expected and expected


def test_export_keeps_rows_without_geometry(make_env, tmp_path):
    import geopandas as gpd

    env = make_env(copy_result=True)
    extra = gpd.GeoDataFrame(
        {
            "parcel_id": ["NOGEOM-1", "NOGEOM-2"],
            "gemeentecode": ["GM0901", "GM0902"],
            "reason_codes": ["bebouwd", "bebouwd"],
            "reasons": ["x", "x"],
        },
        geometry=[None, None],
        crs="EPSG:28992",
    )
    pyogrio.write_dataframe(extra, env.result, layer="uitgesloten_percelen", append=True)
    env.publish()
    r = env.login("analist@test.nl").get("/api/export/GM0901.gpkg?uitgesloten=true")
    path = tmp_path / "e.gpkg"
    path.write_bytes(r.content)
    ids = set(
        pyogrio.read_dataframe(path, layer="uitgesloten_percelen", read_geometry=False)["parcel_id"]
    )
    assert "NOGEOM-1" in ids and "NOGEOM-2" not in ids
