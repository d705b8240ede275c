from __future__ import annotations


def test_health_without_login(env):
    r = env.client().get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "result": "loaded"}


def test_me_for_beleidsmaker_lists_only_their_municipality(env):
    c = env.login("bm1@test.nl")
    r = c.get("/api/me")
    assert r.status_code == 200
    body = r.json()
    assert body["role"] == "beleidsmaker"
    assert body["gemeenten"] == [{"code": "GM0901", "naam": "Testgemeente 1"}]
    assert body["can_export"] is True
    assert body["synthetic"] is True
    assert body["run"]["run_id"] == "test-1"


def test_me_for_analist_lists_all_municipalities(env):
    body = env.login("analist@test.nl").get("/api/me").json()
    assert [g["code"] for g in body["gemeenten"]] == ["GM0901", "GM0902", "GM0903"]
