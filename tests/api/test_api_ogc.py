"""OGC API Features under /api/ogc: the documents a client reads, paging by ``next`` links, CRS
(Part 2), bad parameters, and the scope of every feature (decoded, all pages followed)."""

from __future__ import annotations

import base64
import json
import math
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Transformer

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
RD = "http://www.opengis.net/def/crs/EPSG/0/28992"
COLLECTIONS = [
    "tijdelijke_locaties",
    "kantoren",
    "plinten",
    "gemeenten",
    "uitgesloten_percelen",
    "uitgesloten_panden",
]
IDS = {
    "gemeenten": "gemeentecode",
    "uitgesloten_percelen": "parcel_id",
    "uitgesloten_panden": "pand_id",
}
TO_WGS = Transformer.from_crs("EPSG:28992", "EPSG:4326", always_xy=True)


def _path(url: str) -> str:
    """A link as the test client requests it (path and query of an absolute URL)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _all_items(c, url: str) -> tuple[list[dict], list[dict]]:
    """Every feature of an items URL, following ``next`` links; also the pages' bodies."""
    features, pages = [], []
    while url:
        r = c.get(url)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/geo+json")
        body = r.json()
        assert body["numberReturned"] == len(body["features"])
        pages.append(body)
        features += body["features"]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        assert len(nxt) <= 1
        url = _path(nxt[0]) if nxt else ""
    return features, pages


def _truth(env, layer: str) -> dict[str, set[str]]:
    """Feature ids per municipality, read from the GeoPackage itself."""
    df = pyogrio.read_dataframe(env.result, layer=layer, read_geometry=False)
    key = IDS.get(layer, "site_id")
    out: dict[str, set[str]] = {}
    for code, fid in zip(df["gemeentecode"], df[key], strict=True):
        out.setdefault(code, set()).add(fid)
    return out


def test_landing_conformance_and_api_definition_tell_a_client_where_to_go(env):
    c = env.login("bm1@test.nl")
    for path in ("/api/ogc", "/api/ogc/"):
        landing = c.get(path)
        assert landing.status_code == 200 and landing.headers["content-type"] == "application/json"
    links = {link["rel"]: link for link in landing.json()["links"]}
    assert links["data"]["href"] == "http://localhost/api/ogc/collections"  # absolute
    assert links["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    conf = c.get(_path(links["conformance"]["href"])).json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conf
    api = c.get(_path(links["service-desc"]["href"]))
    assert api.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    limit = api.json()["components"]["parameters"]["limit"]["schema"]
    assert (limit["default"], limit["maximum"]) == (1000, 10_000)  # QGIS pages with these
    assert api.json()["openapi"].startswith("3.0")


def test_collections_and_their_extent_are_those_of_the_callers_municipalities(env):
    bm1, analist = env.login("bm1@test.nl"), env.login("analist@test.nl")
    docs = bm1.get("/api/ogc/collections").json()["collections"]
    assert [d["id"] for d in docs] == COLLECTIONS
    gem1 = env.gemeenten[0]
    corners = shapely.get_coordinates(gem1.box())
    lons, lats = TO_WGS.transform(corners[:, 0], corners[:, 1])
    w, s, e, n = min(lons), min(lats), max(lons), max(lats)
    for doc in docs:
        assert doc["crs"] == [CRS84, RD] and doc["storageCrs"] == RD
        assert np.allclose(doc["extent"]["spatial"]["bbox"][0], [w, s, e, n], atol=1e-5)
        items = next(link for link in doc["links"] if link["rel"] == "items")
        assert items["type"] == "application/geo+json"
        assert items["href"] == f"http://localhost/api/ogc/collections/{doc['id']}/items"
    wide = analist.get("/api/ogc/collections/plinten").json()["extent"]["spatial"]["bbox"][0]
    assert wide[2] > e + 0.01  # the analist's extent covers all three municipalities
    assert bm1.get("/api/ogc/collections/onbekend").status_code == 404
    assert bm1.get("/api/ogc/collections/onbekend/items").status_code == 404


@pytest.mark.parametrize("email", ["bm1@test.nl", "bm13@test.nl", "analist@test.nl"])
def test_every_page_holds_exactly_the_callers_features(env, email):
    c = env.login(email)
    user = env.users.get_user(email)
    for layer in COLLECTIONS:
        truth = _truth(env, layer)
        visible = {
            fid
            for code, ids in truth.items()
            if user.role == "analist" or code in user.gemeenten
            for fid in ids
        }
        features, pages = _all_items(c, f"/api/ogc/collections/{layer}/items?limit=7")
        ids = [f["id"] for f in features]
        assert set(ids) == visible and len(ids) == len(visible), layer  # none twice, none lost
        if layer in IDS and layer != "gemeenten":  # the excluded layers: in a stable order
            again, _ = _all_items(c, f"/api/ogc/collections/{layer}/items?limit=7")
            assert [f["id"] for f in again] == ids
        else:
            assert ids == sorted(ids)
        assert {p["numberMatched"] for p in pages} == {len(visible)}
        assert len(pages) == max(1, math.ceil(len(visible) / 7))
        allowed = set(user.gemeenten) if user.role != "analist" else set(truth)
        assert {f["properties"]["gemeentecode"] for f in features} <= allowed
        assert all("explanation" not in f["properties"] for f in features)


def test_next_links_keep_the_query_and_are_absolute(env):
    c = env.login("bm1@test.nl")
    gem1 = env.gemeenten[0]
    w, s = TO_WGS.transform(gem1.x0, gem1.y0)
    e, n = TO_WGS.transform(gem1.x0 + gem1.size, gem1.y0 + gem1.size / 2)
    url = f"/api/ogc/collections/tijdelijke_locaties/items?limit=4&bbox={w},{s},{e},{n}&crs={RD}"
    body = c.get(url).json()
    nxt = next(link["href"] for link in body["links"] if link["rel"] == "next")
    assert nxt.startswith("http://localhost/api/ogc/collections/tijdelijke_locaties/items?")
    query = parse_qs(urlsplit(nxt).query)
    assert query["limit"] == ["4"] and query["crs"] == [RD] and "cursor" in query
    assert [float(v) for v in query["bbox"][0].split(",")] == pytest.approx([w, s, e, n])
    selfs = [link["href"] for link in body["links"] if link["rel"] == "self"]
    assert len(selfs) == 1 and "cursor" not in selfs[0]


def test_public_url_setting_makes_the_links(make_env):
    env = make_env(public_url="https://kaart.example.nl/kansen/")
    c = env.login("bm1@test.nl")
    links = {link["rel"]: link["href"] for link in c.get("/api/ogc/").json()["links"]}
    assert links["data"] == "https://kaart.example.nl/kansen/api/ogc/collections"


def test_crs_rd_new_gives_the_stored_coordinates(env):
    c = env.login("bm1@test.nl")
    truth = pyogrio.read_dataframe(env.result, layer="plinten").set_index("site_id")
    r = c.get(f"/api/ogc/collections/plinten/items?crs={RD}&limit=5")
    assert r.headers["content-crs"] == f"<{RD}>"
    for f in r.json()["features"]:
        x, y = f["geometry"]["coordinates"]
        p = truth.geometry[f["id"]]
        assert abs(x - p.x) < 0.001 and abs(y - p.y) < 0.001
    r84 = c.get("/api/ogc/collections/plinten/items?limit=1")
    assert r84.headers["content-crs"] == f"<{CRS84}>"
    lon, lat = r84.json()["features"][0]["geometry"]["coordinates"]
    assert 3 < lon < 8 and 50 < lat < 54  # lon/lat order (CRS84)
    one = c.get("/api/ogc/collections/gemeenten/items/GM0901?crs=EPSG:28992").json()
    x0, y0, x1, y1 = shapely.bounds(shapely.geometry.shape(one["geometry"]))
    gem1 = env.gemeenten[0]
    assert (x0, y0, x1, y1) == pytest.approx(
        (gem1.x0, gem1.y0, gem1.x0 + gem1.size, gem1.y0 + gem1.size)
    )


def test_bbox_in_rd_new_and_in_crs84_select_the_same_features(env):
    c = env.login("analist@test.nl")
    gem2 = env.gemeenten[1]
    box = (gem2.x0 + 500, gem2.y0 + 200, gem2.x0 + 2500, gem2.y0 + 1500)
    truth = pyogrio.read_dataframe(env.result, layer="tijdelijke_locaties")
    expected = set(truth.loc[truth.intersects(shapely.box(*box)), "site_id"])
    assert expected  # the box holds sites
    rd_ids = {
        f["id"]
        for f in _all_items(
            c,
            f"/api/ogc/collections/tijdelijke_locaties/items?bbox={','.join(map(str, box))}"
            f"&bbox-crs=EPSG:28992",
        )[0]
    }
    assert rd_ids == expected
    w, s = TO_WGS.transform(box[0], box[1])
    e, n = TO_WGS.transform(box[2], box[3])
    wgs_ids = {
        f["id"]
        for f in _all_items(
            c, f"/api/ogc/collections/tijdelijke_locaties/items?bbox={w},{s},{e},{n}"
        )[0]
    }
    # A lon/lat box is not exactly the RD box: the same sites up to the ones on its edges.
    assert len(wgs_ids ^ rd_ids) <= 2 and len(wgs_ids & rd_ids) >= len(rd_ids) - 2


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=abc",
        "limit=-5",
        "bbox=1,2,3",
        "bbox=4,52,3,53",
        "bbox=200,52,201,53",
        "bbox=nan,52,5,53",
        "crs=EPSG:4326",
        "bbox-crs=EPSG:3857&bbox=1,2,3,4",
        "f=html",
        "foo=bar",
        "cursor=nonsense",
        # a made-up cursor (cursors are sealed by the server)
        "cursor=" + base64.urlsafe_b64encode(b'["plinten", "PL-GM0901-00001"]').decode(),
    ],
)
def test_bad_parameters_are_400_with_a_message(env, query):
    r = env.login("bm1@test.nl").get(f"/api/ogc/collections/plinten/items?{query}")
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_parameter" and r.json()["error"]["message"]


def test_a_too_large_limit_is_lowered_not_refused(env):
    r = env.login("analist@test.nl").get("/api/ogc/collections/plinten/items?limit=99999")
    assert r.status_code == 200 and r.json()["numberReturned"] == 90


def test_single_item_outside_scope_is_indistinguishable_from_missing(env):
    c = env.login("bm1@test.nl")
    own = c.get("/api/ogc/collections/tijdelijke_locaties/items/TL-GM0901-00003")
    assert own.status_code == 200 and own.json()["properties"]["gemeentecode"] == "GM0901"
    assert own.headers["content-type"].startswith("application/geo+json")
    other = c.get("/api/ogc/collections/tijdelijke_locaties/items/TL-GM0902-00003")
    missing = c.get("/api/ogc/collections/tijdelijke_locaties/items/TL-GM0902-99999")
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    assert c.get("/api/ogc/collections/gemeenten/items/GM0902").status_code == 404


def test_unauthenticated_ogc_requests_are_offered_basic(env):
    r = env.client().get("/api/ogc/collections")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith('Basic realm="kansenkaart"')
    assert "Bearer" in r.headers["www-authenticate"]
    # elsewhere a browser must not pop up a password dialog
    assert "Basic" not in env.client().get("/api/sites").headers["www-authenticate"]
    beheerder = env.login("beheer@test.nl")
    assert beheerder.get("/api/ogc/collections/plinten/items").status_code == 403


def test_basic_with_a_token_reads_the_ogc_api(env):
    token = env.login("bm2@test.nl").post("/api/tokens", json={"name": "QGIS"}).json()["token"]
    auth = base64.b64encode(f"bm2@test.nl:{token}".encode()).decode()
    c = env.client()
    c.headers["Authorization"] = f"Basic {auth}"
    features, _ = _all_items(c, "/api/ogc/collections/plinten/items?limit=10")
    assert {f["properties"]["gemeentecode"] for f in features} == {"GM0902"}
    assert len(features) == 30


def _next(body: dict) -> str:
    return next(link["href"] for link in body["links"] if link["rel"] == "next")


def test_cursors_are_sealed_tell_nothing_and_cannot_be_moved(env):
    c = env.login("bm2@test.nl")
    url = "/api/ogc/collections/uitgesloten_percelen/items?limit=3"
    first, again = c.get(url).json(), c.get(url).json()
    cursor = parse_qs(urlsplit(_next(first)).query)["cursor"][0]
    assert cursor != parse_qs(urlsplit(_next(again)).query)["cursor"][0]  # a fresh nonce
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert b"uitgesloten" not in raw  # the row number inside is hidden
    with pytest.raises(ValueError):
        json.loads(raw)
    assert c.get(_path(_next(first))).status_code == 200
    tampered = cursor[:-3] + ("A" if cursor[-3] != "A" else "B") + cursor[-2:]
    r = c.get(f"{url}&cursor={tampered}")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_parameter"
    # a real cursor of one collection does not page another
    r = c.get(f"/api/ogc/collections/uitgesloten_panden/items?limit=3&cursor={cursor}")
    assert r.status_code == 400


def test_excluded_layers_answer_bbox_and_single_items_within_scope(env):
    c = env.login("bm1@test.nl")
    truth = pyogrio.read_dataframe(env.result, layer="uitgesloten_percelen")
    gem1 = env.gemeenten[0]
    box = (gem1.x0 + 1000, gem1.y0 + 2500, gem1.x0 + 2200, gem1.y0 + 3300)
    inside = truth[(truth["gemeentecode"] == "GM0901") & truth.intersects(shapely.box(*box))]
    assert 0 < len(inside) < (truth["gemeentecode"] == "GM0901").sum()
    features, pages = _all_items(
        c,
        f"/api/ogc/collections/uitgesloten_percelen/items?limit=2&crs={RD}"
        f"&bbox-crs={RD}&bbox={','.join(map(str, box))}",
    )
    assert sorted(f["id"] for f in features) == sorted(inside["parcel_id"])
    assert "numberMatched" not in pages[0]  # not counted: that would read the whole box
    one = features[0]
    assert set(one["properties"]) == {"parcel_id", "gemeentecode", "reason_codes", "reasons"}
    geom = shapely.geometry.shape(one["geometry"])
    stored = truth.set_index("parcel_id").geometry[one["id"]]
    assert (
        geom.equals_exact(stored, tolerance=0.001)
        or geom.buffer(0).symmetric_difference(stored).area < 0.01
    )
    own = c.get(f"/api/ogc/collections/uitgesloten_percelen/items/{one['id']}")
    assert own.status_code == 200 and own.json()["properties"]["gemeentecode"] == "GM0901"
    foreign = truth.loc[truth["gemeentecode"] == "GM0902", "parcel_id"].iloc[0]
    other = c.get(f"/api/ogc/collections/uitgesloten_percelen/items/{foreign}")
    missing = c.get("/api/ogc/collections/uitgesloten_percelen/items/GM0902-P9999999")
    assert other.status_code == missing.status_code == 404 and other.json() == missing.json()
