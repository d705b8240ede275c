"""The smaller items of issue 11 (item 9): API token life capped; tiles gzip-encoded only for
clients that accept gzip. (No server paths and the bounded export lock table:
test_api_export_traces.py.)"""

from __future__ import annotations

import mapbox_vector_tile
import mercantile


def test_api_token_life_is_capped(env):
    c = env.login("bm1@test.nl")
    r = c.post("/api/tokens", json={"name": "forever", "days": 3650})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = c.post("/api/tokens", json={"name": "a year", "days": 365})
    assert r.status_code == 201
    assert "forever" not in c.get("/api/tokens").text


def test_tiles_are_gzip_encoded_only_when_the_client_accepts_it(env):
    c = env.login("bm1@test.nl")
    layer = c.get("/api/layers").json()["layers"][0]
    w, s, e, n = layer["bounds"]
    t = mercantile.tile((w + e) / 2, (s + n) / 2, 12)
    path = f"/api/tiles/tijdelijke_locaties/12/{t.x}/{t.y}.mvt"
    zipped = c.get(path, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    plain = c.get(path, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert "content-encoding" not in plain.headers
    assert "Accept-Encoding" in plain.headers["vary"]
    assert plain.headers["etag"] != zipped.headers["etag"]
    assert plain.content == zipped.content  # httpx unpacked the gzip one
    assert mapbox_vector_tile.decode(plain.content)["tijdelijke_locaties"]["features"]
    refused = c.get(path, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in refused.headers
