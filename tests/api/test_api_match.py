"""The regional match in the service: registries in the service database (scoped, validated,
audited) and ``GET /api/match`` (the plan, limited to the caller's municipalities), on both
backends (docs/contracts.md §D "Registries", §G.7).

The synthetic result's municipalities lie in a row, 4 km wide: GM0901 at x 80–84 km, GM0902 at
84–88 km, GM0903 at 88–92 km (y 440–444 km). Batch ``P1`` (12 homes, GM0901) is free in
2025-01 for ten years; site ``A`` (GM0901) is open 2025–2029 and site ``B`` (GM0902) 2030–2034:
the only sensible plan is the treintje P1 → A → B. Batch ``P3`` (GM0903) goes to ``C``
(GM0903, exactly its size) and touches nobody else.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyogrio
import pytest
from conftest import Env

from pipeline.match import DEFAULT_CONFIG_PATH

Y = 442_000.0


@pytest.fixture
def match_env(make_env: Callable[..., Env], tmp_path: Path) -> Env:
    cfg = tmp_path / "match.yaml"
    cfg.write_text(
        DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
        .replace("reference_date: null", "reference_date: 2025-01-01")
        .replace("horizon_years: 20", "horizon_years: 10")
        .replace("time_limit_s: 50", "time_limit_s: 10"),
        encoding="utf-8",
    )
    return make_env(match_config=cfg)


def _site_in(env: Env, code: str) -> str:
    sites = pyogrio.read_dataframe(
        env.result, layer="tijdelijke_locaties", columns=["site_id", "gemeentecode"]
    )
    return str(sorted(sites.loc[sites["gemeentecode"] == code, "site_id"])[0])


def _fill(env: Env) -> None:
    a = env.login("analist@test.nl")
    rows = {
        "aanbod/A": {
            "site_id": _site_in(env, "GM0901"),
            "beschikbaar_van": "2025-01",
            "beschikbaar_tot": "2029-12",
            "capaciteit": 12,
        },
        "aanbod/B": {
            "gemeentecode": "GM0902",
            "naam": "Kavel Oost",
            "x": 86_000,
            "y": Y,
            "beschikbaar_van": "2030-01",
            "beschikbaar_tot": "2034-12",
            "capaciteit": 20,
        },
        "aanbod/C": {
            "gemeentecode": "GM0903",
            "naam": "Veld Noord",
            "x": 90_000,
            "y": Y,
            "beschikbaar_van": "2025",
            "beschikbaar_tot": "2034",
            "capaciteit": 24,
        },
        "partijen/P1": {
            "eigenaar": "Woonstichting Test",
            "aantal": 12,
            "gemeentecode": "GM0901",
            "locatie": "Flexdorp West",
            "x": 81_000,
            "y": Y,
            "vrij_vanaf": "2025-01",
            "restlevensduur_jaren": 10,
            "verhuiskosten_per_woning": 10_000,
        },
        "partijen/P3": {
            "aantal": 24,
            "gemeentecode": "GM0903",
            "locatie": "Flexdorp Oost",
            "x": 91_000,
            "y": Y,
            "vrij_vanaf": "2025-01",
            "restlevensduur_jaren": 10,
            "verhuiskosten_per_woning": 10_000,
        },
    }
    for path, body in rows.items():
        r = a.put(f"/api/match/{path}", json=body)
        assert r.status_code == 201, r.text


def test_registries_are_scoped_validated_and_audited(match_env: Env) -> None:
    env = match_env
    _fill(env)
    a = env.login("analist@test.nl")
    rows = a.get("/api/match/aanbod").json()["rows"]
    assert [r["aanbod_id"] for r in rows] == ["A", "B", "C"]
    # a site from the scan: its municipality, name and a point inside it came from the scan
    assert rows[0]["gemeentecode"] == "GM0901" and 80_000 <= rows[0]["x"] <= 84_000
    assert rows[0]["gewijzigd_door"] == "analist@test.nl"
    bm1 = env.login("bm1@test.nl")
    assert [r["aanbod_id"] for r in bm1.get("/api/match/aanbod").json()["rows"]] == ["A"]
    assert [r["partij_id"] for r in bm1.get("/api/match/partijen").json()["rows"]] == ["P1"]
    # outside the scope: another municipality's row does not exist for bm1 …
    moved = {
        "gemeentecode": "GM0901",
        "x": 82_000,
        "y": Y,
        "beschikbaar_van": "2025-01",
        "beschikbaar_tot": "2030-12",
        "capaciteit": 5,
    }
    assert bm1.put("/api/match/aanbod/B", json=moved).status_code == 404
    assert bm1.delete("/api/match/aanbod/B").status_code == 404
    # … and a row may not be put into it
    r = bm1.put("/api/match/aanbod/D", json={**moved, "gemeentecode": "GM0902", "x": 86_500})
    assert r.status_code == 403
    assert [r["aanbod_id"] for r in a.get("/api/match/aanbod").json()["rows"]] == ["A", "B", "C"]
    assert a.get("/api/match/aanbod").json()["rows"][1]["capaciteit"] == 20
    # bad rows: 422 naming every problem, nothing written
    r = bm1.put(
        "/api/match/partijen/P9",
        json={
            "aantal": 0,
            "gemeentecode": "GM0901",
            "x": 81_000,
            "y": Y,
            "vrij_vanaf": "2025-13",
            "restlevensduur_jaren": 5,
            "verhuiskosten_per_woning": 1,
        },
    )
    assert r.status_code == 422
    problems = {p["column"] for p in r.json()["error"]["problems"]}
    assert problems == {"aantal", "vrij_vanaf"}
    r = bm1.put("/api/match/aanbod/E", json={**moved, "aantal": 3})
    assert r.status_code == 422 and "aantal" in r.json()["error"]["message"]
    r = bm1.put("/api/match/aanbod/<script>", json=moved)
    assert r.status_code == 422
    assert [r["partij_id"] for r in a.get("/api/match/partijen").json()["rows"]] == ["P1", "P3"]
    # an update within scope is audited with the old and the new row
    r = bm1.put("/api/match/aanbod/A", json={**moved, "naam": "Weiland"})
    assert r.status_code == 200 and r.json()["rows"][0]["capaciteit"] == 5
    entries = [e for e in env.users.audit_entries() if e.action == "match_aanbod"]
    last = entries[0]
    assert (last.user_email, last.outcome, last.detail["id"]) == ("bm1@test.nl", "updated", "A")
    assert last.detail["old"]["capaciteit"] == 12 and last.detail["new"]["capaciteit"] == 5
    assert bm1.delete("/api/match/aanbod/A").status_code == 204
    assert env.users.audit_entries()[0].outcome == "deleted"
    # no data role, no session: refused
    assert env.login("beheer@test.nl").get("/api/match/aanbod").status_code == 403
    assert env.client().get("/api/match").status_code == 401
    # a session must send the CSRF header to change anything
    c = env.login("bm1@test.nl")
    del c.headers["X-CSRF-Token"]
    assert c.put("/api/match/aanbod/A", json=moved).status_code == 403


def test_plan_shows_each_caller_the_chains_that_touch_their_municipalities(
    match_env: Env,
) -> None:
    env = match_env
    _fill(env)
    region = env.login("analist@test.nl").get("/api/match").json()
    assert region["scope"] == "regio" and region["reference_month"] == "2025-01"
    assert region["plan"]["gap"] >= 0 and region["plan"]["status"] in {"optimaal", "haalbaar"}
    trains = {
        c["batch"]["partij_id"]: [s["aanbod_id"] for s in c["stops"]] for c in region["chains"]
    }
    assert trains == {"P1": ["A", "B"], "P3": ["C"]}
    o = region["objective"]
    assert o["total_eur"] == pytest.approx(o["idle_eur"] + o["transport_eur"] + o["relocation_eur"])
    assert o["idle_home_years"] == 0 and o["moves"] == 12 * 2 + 24

    one = env.login("bm1@test.nl").get("/api/match").json()
    assert one["scope"] == "gemeenten" and "plan" not in one
    (chain,) = one["chains"]
    a, b = chain["stops"]
    assert a["in_scope"] and a["naam"] and a["site_id"]
    assert (b["gemeentecode"], b["naam"], b["site_id"], b["in_scope"]) == (
        "GM0902",
        None,
        None,
        False,
    )
    assert [s["aanbod_id"] for s in one["sites"]] == ["A"]
    assert "Veld Noord" not in json.dumps(one) and "Flexdorp Oost" not in json.dumps(one)
    # bm1's part of the objective is the chain's own
    assert one["objective"] == chain["objective"]

    two = env.login("bm2@test.nl").get("/api/match").json()
    (chain,) = two["chains"]  # the train passes through GM0902
    assert chain["batch"]["locatie"] is None and chain["stops"][0]["naam"] is None
    assert chain["stops"][1]["naam"] == "Kavel Oost"
    assert [s["aanbod_id"] for s in two["sites"]] == ["B"]
    assert two["sites"][0]["occupancy"][0]["partij_id"] == "P1"
    # a change to the registries gives a new plan
    a_client = env.login("analist@test.nl")
    assert a_client.delete("/api/match/aanbod/B").status_code == 204
    region = a_client.get("/api/match").json()
    trains = {
        c["batch"]["partij_id"]: [s["aanbod_id"] for s in c["stops"]] for c in region["chains"]
    }
    assert trains["P1"] == ["A"]
    assert env.login("bm2@test.nl").get("/api/match").json()["chains"] == []
