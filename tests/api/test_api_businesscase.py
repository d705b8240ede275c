"""``GET /api/sites/{layer}/{id}/businesscase``: scoped like the site, knobs validated, and the
figures are the pipeline's (decoded and recomputed)."""

from __future__ import annotations

import datetime as dt

import pyogrio
import pytest

from pipeline.businesscase import site_business_case

URL = "/api/sites/{layer}/{site_id}/businesscase"


def _site(env, code: str, layer: str = "tijdelijke_locaties", owner: str | None = None) -> dict:
    df = pyogrio.read_dataframe(env.result, layer=layer, read_geometry=False)
    df = df[df["gemeentecode"] == code]
    if owner is not None:
        df = df[df["owner_class"] == owner]
    return df.iloc[0].to_dict()


def test_refused_without_login_for_beheerder_and_outside_scope(env) -> None:
    own = _site(env, "GM0901")["site_id"]
    other = _site(env, "GM0902")["site_id"]
    anonymous = env.client()
    r = anonymous.get(URL.format(layer="tijdelijke_locaties", site_id=own))
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_authenticated"
    beheer = env.login("beheer@test.nl")
    r = beheer.get(URL.format(layer="tijdelijke_locaties", site_id=own))
    assert r.status_code == 403
    bm1 = env.login("bm1@test.nl")
    outside = bm1.get(URL.format(layer="tijdelijke_locaties", site_id=other))
    missing = bm1.get(URL.format(layer="tijdelijke_locaties", site_id="TL-bestaat-niet"))
    assert outside.status_code == missing.status_code == 404
    assert outside.json() == missing.json()  # existence outside the scope is not confirmed
    assert b"GM0902" not in outside.content
    ok = bm1.get(URL.format(layer="tijdelijke_locaties", site_id=own))
    assert ok.status_code == 200
    assert ok.json()["site_id"] == own


@pytest.mark.parametrize("layer", ["tijdelijke_locaties", "kantoren", "plinten"])
def test_answer_equals_the_pipeline_for_every_layer(env, layer: str) -> None:
    site = _site(env, "GM0901", layer)
    c = env.login("analist@test.nl")
    r = c.get(URL.format(layer=layer, site_id=site["site_id"]), params={"rent_eur_month": 520})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    today = dt.datetime.fromtimestamp(env.clock(), dt.UTC).date()
    expected = site_business_case(
        site,
        opportunity_type=body["opportunity_type"],
        overrides={"rent_eur_month": 520},
        today=today,
    )
    assert body["result"]["npv"] == pytest.approx(expected["result"]["npv"])
    assert body["result"]["homes"] == int(site["capacity_units"])
    assert body["rent_check"]["rent_eur_month"] == 520
    assert len(body["result"]["cashflow"]) == body["result"]["end_year"] + 1
    assert {k["name"] for k in body["knobs"]} >= {"rent_eur_month", "land_option", "guarantee"}
    assert all(k["source"] for k in body["knobs"])
    assert [s["scenario"] for s in body["scenarios"]] == [
        "restwaarde",
        "verplaatsing_1",
        "verplaatsing_2",
    ]


def test_grondabonnement_knob_changes_the_npv_and_is_suggested_for_public_land(env) -> None:
    site = _site(env, "GM0901", owner="gemeente")
    c = env.login("analist@test.nl")
    url = URL.format(layer="tijdelijke_locaties", site_id=site["site_id"])
    base = c.get(url, params={"land_option": "huur"}).json()
    abo = c.get(url, params={"land_option": "grondabonnement", "grondabonnement_eur_year": 1200})
    assert abo.status_code == 200
    assert abo.json()["result"]["npv"] != base["result"]["npv"]
    suggestion = [s for s in base["suggestions"] if s["knob"] == "land_option"]
    assert suggestion and suggestion[0]["value"] == "grondabonnement"
    land = {row["year"]: row["land"] for row in abo.json()["result"]["cashflow"]}
    assert land[1] == pytest.approx(-1200 * abo.json()["result"]["homes"])


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"huur": "500"}, "huur"),
        ({"rent_eur_month": "99999"}, "rent_eur_month"),
        ({"land_option": "kopen"}, "land_option"),
        ({"discount_rate": "veel"}, "discount_rate"),
    ],
)
def test_bad_knobs_are_422_naming_the_knob(env, params: dict, needle: str) -> None:
    site = _site(env, "GM0901")
    c = env.login("analist@test.nl")
    r = c.get(URL.format(layer="tijdelijke_locaties", site_id=site["site_id"]), params=params)
    assert r.status_code == 422
    body = r.json()
    assert body["error"]["code"] == "invalid_request"
    assert needle in body["error"]["message"]
