"""The treintjes in a real browser (issue 14): a province user sees every chain as arrows and a
batch's timeline; a municipality user sees only the chains that touch its sites.

The registries are made here from the served scan: two sites on offer in each of the two
municipalities (one open 2025–2029, the next 2030–2034, twelve places each) and one batch of
twelve homes beside each first site, free in 2025-01 for ten years. The only sensible plan is one
treintje per municipality: batch → first site → second site (two arrows each).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyogrio
import pytest
import shapely
from live_service import serve

from .conftest import DIST, PASSWORD, SECRET, Scope, Service, _require_page
from .test_webmap import login, new_page, wait_map

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]


def _registries(result: Path, scope: Scope) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    sites = pyogrio.read_dataframe(
        result, layer="tijdelijke_locaties", columns=["site_id", "gemeentecode", "label"]
    )
    offers, batches = [], []
    for code in (scope.own, scope.other):
        mine = sites[sites["gemeentecode"] == code].sort_values("site_id").head(2)
        assert len(mine) == 2, f"{code} needs two temporary sites"
        points = shapely.point_on_surface(mine.geometry.to_crs(28992).to_numpy())
        for k, (site_id, point) in enumerate(zip(mine["site_id"], points, strict=True)):
            offers.append(
                {
                    "aanbod_id": f"{code}-{k + 1}",
                    "site_id": site_id,
                    "gemeentecode": code,
                    "naam": f"Locatie {k + 1} van {code}",
                    "beschikbaar_van": "2025-01" if k == 0 else "2030-01",
                    "beschikbaar_tot": "2029-12" if k == 0 else "2034-12",
                    "capaciteit": 12,
                    "doelgroepen": "",
                    "aangeboden_door": "gemeente",
                    "x": point.x,
                    "y": point.y,
                }
            )
        first = points[0]
        batches.append(
            {
                "partij_id": f"P-{code}",
                "eigenaar": "Woonstichting Test",
                "aantal": 12,
                "woningtype": "grondgebonden",
                "doelgroep": "",
                "gemeentecode": code,
                "locatie": f"Flexdorp {code}",
                "vrij_vanaf": "2025-01",
                "restlevensduur_jaren": 10,
                "verhuiskosten_per_woning": 10_000,
                "x": first.x + 300,
                "y": first.y,
            }
        )
    return offers, batches


@pytest.fixture(scope="module")
def match_service(
    result_gpkg: Path,
    scope: Scope,
    basemap_server: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    from api.main import create_app
    from api.settings import Settings
    from pipeline.match import DEFAULT_CONFIG_PATH

    _require_page()
    tmp = tmp_path_factory.mktemp("svc-match")
    cfg = tmp / "match.yaml"
    cfg.write_text(
        DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
        .replace("reference_date: null", "reference_date: 2025-01-01")
        .replace("horizon_years: 20", "horizon_years: 10")
        .replace("time_limit_s: 50", "time_limit_s: 10"),
        encoding="utf-8",
    )
    settings = Settings(
        result=result_gpkg,
        database=str(tmp / "state.sqlite"),
        secret_key=SECRET,
        basemap_url=basemap_server,
        basemap_attribution="Test-achtergrond",
        static_dir=DIST,
        match_config=cfg,
    )
    app = create_app(settings)
    users = {"beleidsmaker": "beleid@gemeente.example", "analist": "analist@provincie.example"}
    app.state.users.add_user(
        users["beleidsmaker"], PASSWORD, role="beleidsmaker", gemeenten=[scope.own]
    )
    app.state.users.add_user(users["analist"], PASSWORD, role="analist", gemeenten=[])
    offers, batches = _registries(result_gpkg, scope)
    app.state.registers.replace_all(offers, batches, by="test")
    with serve(app) as base:
        yield Service(base=base, basemap_url=basemap_server, users=users, result=result_gpkg)


def _open_treintjes(page: Any) -> dict[str, Any]:
    with page.expect_response(lambda r: r.url.endswith("/api/match") and r.ok) as response:
        page.get_by_role("button", name="Toon treintjes").click()
    body: dict[str, Any] = response.value.json()
    page.wait_for_selector("#match-chains, #match-body p.muted")
    return body


def _arrows(page: Any) -> dict[str, int]:
    """Arrows drawn on the map per chain (``data-chain`` of each move's SVG path)."""
    return page.evaluate(
        """() => { const out = {};
             for (const p of document.querySelectorAll('path.kk-move')) {
               if (p.getAttribute('marker-end') !== 'url(#kk-arrow)') continue;
               out[p.dataset.chain] = (out[p.dataset.chain] || 0) + 1; }
             return out; }"""
    )


def test_province_user_sees_the_chains_and_a_batch_timeline(
    browser: Any, match_service: Service, scope: Scope, screenshots: Path
) -> None:
    context, page, _ = new_page(browser, match_service)
    try:
        login(page, match_service, match_service.users["analist"])
        wait_map(page)
        body = _open_treintjes(page)
        assert body["scope"] == "regio"
        trains = {
            c["batch"]["partij_id"]: [s["aanbod_id"] for s in c["stops"]] for c in body["chains"]
        }
        assert trains == {
            f"P-{scope.own}": [f"{scope.own}-1", f"{scope.own}-2"],
            f"P-{scope.other}": [f"{scope.other}-1", f"{scope.other}-2"],
        }
        assert _arrows(page) == {c["chain_id"]: 2 for c in body["chains"]}
        assert page.locator("#match-chains li").count() == 2
        assert page.locator("#match-gap").is_visible()
        # the objective's parts as the api gave them
        assert page.locator(".match-parts tr.total td.num").inner_text().replace("\u00a0", " ") == (
            "€ " + f"{round(body['objective']['total_eur']):,}".replace(",", ".")
        )
        # a batch's timeline: one bar per stay, with the site's name
        page.locator(f"#match-chains button[data-partij='P-{scope.other}']").click()
        page.wait_for_selector("#match-timeline-title")
        assert (
            page.locator("#match-timeline-title").inner_text() == f"Tijdlijn partij P-{scope.other}"
        )
        bars = page.locator("#match-timeline .match-bar")
        assert bars.count() == 2
        assert bars.nth(0).inner_text() == f"Locatie 1 van {scope.other}"
        left = [float(bars.nth(i).evaluate("e => parseFloat(e.style.left)")) for i in range(2)]
        assert left[0] == pytest.approx(0) and left[1] == pytest.approx(
            50
        )  # 2030 is half of 2025–2034
        page.screenshot(path=str(screenshots / "match-province.png"))
    finally:
        context.close()


def test_municipality_user_sees_only_the_chains_that_touch_its_sites(
    browser: Any, match_service: Service, scope: Scope, screenshots: Path
) -> None:
    context, page, _ = new_page(browser, match_service)
    try:
        login(page, match_service, match_service.users["beleidsmaker"])
        wait_map(page)
        body = _open_treintjes(page)
        assert body["scope"] == "gemeenten" and "plan" not in body
        assert [c["batch"]["partij_id"] for c in body["chains"]] == [f"P-{scope.own}"]
        assert {s["gemeentecode"] for s in body["sites"]} == {scope.own}
        assert _arrows(page) == {body["chains"][0]["chain_id"]: 2}
        text = page.locator("#match-drawer").inner_text()
        assert f"P-{scope.other}" not in text and f"Locatie 1 van {scope.other}" not in text
        assert page.locator("path.kk-match-site").count() == 2
        # a site's timeline: its window and the batch on it
        page.locator(f"path.kk-match-site[data-aanbod='{scope.own}-2']").dispatch_event("click")
        page.wait_for_selector("#match-timeline-title")
        assert page.locator("#match-timeline-title").inner_text() == (
            f"Tijdlijn locatie Locatie 2 van {scope.own}"
        )
        assert page.locator("#match-timeline .match-bar").count() == 2  # window + occupancy
        page.screenshot(path=str(screenshots / "match-municipality.png"))
    finally:
        context.close()
