"""A real QGIS (3.22 on Debian 12, PyQGIS, headless) as a GIS engineer uses it: the result and an
export open styled; the OGC API connection with Basic authentication (e-mail + API token) lists
the collections and loads every site of a beleidsmaker's municipality and none of another's; the
vector tiles render with the api's style document."""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx
import pyogrio
import pytest
import shapely
from pyproj import Transformer

from pipeline.styles import OVERVIEW_FILL_OPACITY, TIER_COLORS, rgb

from .conftest import Qgis, Service

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("qgis")]

CANDIDATES = ("tijdelijke_locaties", "kantoren", "plinten")
STYLED = (*CANDIDATES, "gemeenten")
#: Every collection of the OGC API and its id column.
IDS = {
    **dict.fromkeys(CANDIDATES, "site_id"),
    "gemeenten": "gemeentecode",
    "uitgesloten_percelen": "parcel_id",
    "uitgesloten_panden": "pand_id",
}
TO_WGS = Transformer.from_crs("EPSG:28992", "EPSG:4326", always_xy=True)


def _distance(a: str, b: str) -> float:
    return math.dist(rgb(a), rgb(b))


def _over_white(color: str, opacity: float) -> str:
    """``color`` drawn with ``opacity`` on a white background."""
    return "#" + "".join(f"{round(opacity * c + (1 - opacity) * 255):02x}" for c in rgb(color))


def _check_styled(layers: dict, result: Path | None = None) -> None:
    for name in STYLED:
        info = layers[name]
        assert info["valid"] and info["crs"] == "EPSG:28992", name
    for name in CANDIDATES:
        info = layers[name]
        assert info["renderer"] == "categorizedSymbol" and info["attribute"] == "tier", name
        cats = info["categories"]
        assert [c["value"] for c in cats] == list("ABCDE")
        assert [c["fill"]["hex"] for c in cats] == list(TIER_COLORS.values())
        assert cats[0]["label"].startswith("A (score ≥")
        assert info["fields"]["score"] == "Real" and info["fields"]["site_id"] == "String"
        assert info["fields"]["capacity_units"].startswith("Integer")
    gem = layers["gemeenten"]
    assert gem["renderer"] == "graduatedSymbol" and gem["attribute"] == "capacity_ab"
    ranges, values = gem["ranges"], gem["values"]
    # classes fitted to the data: each value in a class, no class empty (first match wins)
    holders = [
        next(i for i, r in enumerate(ranges) if r["lower"] <= v <= r["upper"]) for v in values
    ]
    assert sorted(set(holders)) == list(range(len(ranges))) and len(ranges) <= len(set(values))
    assert {r["fill"]["alpha"] for r in ranges} == {round(OVERVIEW_FILL_OPACITY * 255)}


def test_result_and_export_open_styled_in_qgis(qgis: Qgis, service: Service, tmp_path: Path):
    observed = qgis.run(
        {"task": "gpkg", "path": str(service.result), "layers": list(STYLED)}, tmp_path / "result"
    )
    print(f"QGIS {observed['qgis_version']}")
    _check_styled(observed["layers"])
    assert len(observed["layers"]["gemeenten"]["ranges"]) == 2  # two municipalities

    # Tier A stays visible with the overview drawn above the sites.
    samples = observed["tier_a_under_overview"]
    assert samples, "the tiny scan should have tier-A sites"
    for s in samples:
        assert _distance(s["site"], s["overview_only"]) > 60, s
        red, _, blue = rgb(s["site"])
        assert blue > red, s  # still the blue of tier A

    # An export (the documented download, with the API token) opens styled the same way.
    r = httpx.get(
        f"{service.base}/api/export/{service.own}.gpkg",
        headers={"Authorization": f"Bearer {service.tokens['own']}"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    export = tmp_path / "export.gpkg"
    export.write_bytes(r.content)
    observed = qgis.run(
        {"task": "gpkg", "path": str(export), "layers": list(STYLED)}, tmp_path / "export"
    )
    _check_styled(observed["layers"])
    gem = observed["layers"]["gemeenten"]
    assert len(gem["ranges"]) == 1 and gem["features"] == 1  # one municipality, one class


def test_qgis_ogc_api_loads_every_own_site_and_none_of_another_municipality(
    qgis: Qgis, service: Service, tmp_path: Path
):
    seen_before = len(service.recorder.seen)
    observed = qgis.run(
        {
            "task": "oapif",
            "base": service.base,
            "email": service.emails["own"],
            "token": service.tokens["own"],
            "page_size": 100,
        },
        tmp_path,
    )
    # The "WFS / OGC API - Features" connection lists the collections.
    assert [c["title"] for c in observed["collections"]] == [
        "Tijdelijke locaties",
        "Kantoortransformatie",
        "Plinttransformatie",
        "Gemeenten",
        "Uitgesloten percelen",
        "Uitgesloten panden",
    ]
    assert {c["provider"] for c in observed["collections"]} == {"OAPIF"}
    for layer, key in IDS.items():
        info = observed["layers"][layer]
        assert info["valid"], info
        assert info["crs"] == "EPSG:4326"
        truth = pyogrio.read_dataframe(service.result, layer=layer, read_geometry=False)
        own = set(truth.loc[truth["gemeentecode"] == service.own, key])
        assert sorted(info["ids"]) == sorted(own), layer  # all of them, each once
        assert info["codes"] == ([service.own] if own else []), layer
        others = set(truth.loc[truth["gemeentecode"] != service.own, key])
        assert others and not others & set(info["ids"]), layer
    assert len(observed["layers"]["tijdelijke_locaties"]["ids"]) > 100  # more than one page

    # QGIS paged through the next links, and authenticated with Basic on every request.
    seen = service.recorder.seen[seen_before:]
    items = [s for s in seen if s.path == "/api/ogc/collections/tijdelijke_locaties/items"]
    assert sum("cursor=" in s.query for s in items) >= 1
    assert any("limit=100" in s.query for s in items)
    assert {s.auth_scheme for s in seen} == {"basic"}


def _render_site_colors(observed: dict, opacity: float) -> dict[str, int]:
    """Pixels drawn in each tier's colour (as blended on white)."""
    colors = observed["colors"]
    return {
        tier: sum(n for hex_, n in colors.items() if _distance(hex_, _over_white(c, opacity)) < 6)
        for tier, c in TIER_COLORS.items()
    }


def test_qgis_renders_the_vector_tiles_with_the_style_document(
    qgis: Qgis, service: Service, tmp_path: Path
):
    task = {
        "task": "vectortile",
        "base": service.base,
        "email": service.emails["own"],
        "token": service.tokens["own"],
        "layer": "tijdelijke_locaties",
        "workdir": str(tmp_path),
        "png": str(tmp_path / "tijdelijke_locaties.png"),
        "size": 900,
    }
    observed = qgis.run(task, tmp_path / "own")
    style = json.loads((tmp_path / "tijdelijke_locaties.json").read_text())
    assert observed["valid"] and not observed["warnings"]
    rules = [r for r in observed["rules"] if r["filter"]]
    assert [r["fill"]["hex"] for r in rules] == list(TIER_COLORS.values())
    assert [r["filter"] for r in rules] == [f"\"tier\" IS '{t}'" for t in TIER_COLORS]
    assert {r["opacity"] for r in rules} == {style["layers"][0]["paint"]["fill-opacity"]}
    drawn = _render_site_colors(observed, style["layers"][0]["paint"]["fill-opacity"])
    print(f"tier pixels: {drawn} at 1:{observed['scale']:,.0f}")
    assert drawn["A"] > 0 and sum(v > 0 for v in drawn.values()) >= 3, drawn
    assert Path(task["png"]).stat().st_size > 1000

    # Around a site of the other municipality, far from the own one: nothing is drawn for the
    # beleidsmaker, while the analist sees it there.
    sites = pyogrio.read_dataframe(service.result, layer="tijdelijke_locaties")
    gem = pyogrio.read_dataframe(service.result, layer="gemeenten").set_index("gemeentecode")
    own_area = gem.geometry[service.own]
    far = sites[(sites["gemeentecode"] == service.other) & (sites.distance(own_area) > 1500)]
    assert len(far), "the other municipality should have sites away from the own one"
    centre = shapely.centroid(far.geometry.iloc[0])
    w, s = TO_WGS.transform(centre.x - 400, centre.y - 400)
    e, n = TO_WGS.transform(centre.x + 400, centre.y + 400)
    for who, expect_drawn in (("own", False), ("analist", True)):
        probe = {
            **task,
            "email": service.emails[who],
            "token": service.tokens[who],
            "extent": [w, s, e, n],
            "png": str(tmp_path / f"other-{who}.png"),
            "size": 400,
        }
        seen = qgis.run(probe, tmp_path / f"other-{who}")
        blank = seen["colors"].get("#ffffff", 0) == seen["pixels"]
        assert blank is not expect_drawn, (who, sorted(seen["colors"].items())[:5])

    # The overview's style: translucent classes fitted to the caller's municipalities.
    overview = qgis.run(
        {
            **task,
            "layer": "gemeenten",
            "png": str(tmp_path / "gemeenten.png"),
            "size": 600,
        },
        tmp_path / "gemeenten",
    )
    fills = [r for r in overview["rules"] if r["name"] != "gemeenten rand"]
    assert len(fills) == 1 and fills[0]["opacity"] == pytest.approx(OVERVIEW_FILL_OPACITY)
    assert overview["colors"].get("#ffffff", 0) < overview["pixels"]  # the municipality is drawn
