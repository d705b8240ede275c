"""GET /api/styles/{layer}.json: MapLibre styles in the palette's colours, the overview's classes
fitted to the caller's municipalities only."""

from __future__ import annotations

import json
from pathlib import Path

import pyogrio
import pytest

PALETTE = json.loads(
    (Path(__file__).parents[2] / "pipeline" / "styles" / "palette.json").read_text()
)


@pytest.mark.parametrize("layer", ["tijdelijke_locaties", "kantoren", "plinten"])
def test_site_styles_colour_each_tier_from_the_palette(env, layer):
    r = env.login("bm1@test.nl").get(f"/api/styles/{layer}.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    style = r.json()
    assert style["version"] == 8
    source = style["sources"][layer]
    assert source["tiles"] == [f"http://localhost/api/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt"]
    assert (source["minzoom"], source["maxzoom"]) == (10, 16)
    tiers = [lyr for lyr in style["layers"] if "filter" in lyr]
    paint = "circle-color" if layer == "plinten" else "fill-color"
    assert {lyr["filter"][2]: lyr["paint"][paint] for lyr in tiers} == PALETTE["tiers"]
    assert all(lyr["source-layer"] == layer for lyr in style["layers"])
    assert tiers[0]["metadata"]["kansenkaart:legend"] == "Klasse A (score ≥ 80)"


def test_overview_style_is_fitted_to_the_callers_municipalities(env):
    capacity = dict(
        pyogrio.read_dataframe(env.result, layer="gemeenten", read_geometry=False)[
            ["gemeentecode", "capacity_ab"]
        ].itertuples(index=False)
    )
    own = env.login("bm1@test.nl").get("/api/styles/gemeenten.json").json()
    fills = [lyr for lyr in own["layers"] if lyr["type"] == "fill"]
    assert len(fills) == 1 and "filter" not in fills[0]  # one municipality: one class
    own_value = f"{capacity['GM0901']:,}".replace(",", ".")  # Dutch thousands
    assert fills[0]["metadata"]["kansenkaart:legend"] == f"{own_value} woningen"
    text = json.dumps(own, ensure_ascii=False)
    for code, v in capacity.items():  # nothing of the others' numbers
        if code != "GM0901":
            assert str(v) not in text and f"{v:,}".replace(",", ".") not in text
    assert fills[0]["paint"]["fill-opacity"] == PALETTE["overview_fill_opacity"]
    outline = next(lyr for lyr in own["layers"] if lyr["type"] == "line")
    assert outline["paint"]["line-color"] == PALETTE["overview_outline"]

    everyone = env.login("analist@test.nl").get("/api/styles/gemeenten.json").json()
    fills = [lyr for lyr in everyone["layers"] if lyr["type"] == "fill"]
    assert len(fills) == len(set(capacity.values()))  # one class per distinct value here
    assert [f["paint"]["fill-color"] for f in fills] == [
        PALETTE["overview"][0],
        PALETTE["overview"][2],
        PALETTE["overview"][4],
    ][: len(fills)]


def test_styles_need_data_access(env):
    assert env.client().get("/api/styles/plinten.json").status_code == 401
    assert env.login("beheer@test.nl").get("/api/styles/plinten.json").status_code == 403
    assert env.login("bm1@test.nl").get("/api/styles/onbekend.json").status_code == 422
