"""The business-case drawer in a real browser: turning the grondabonnement knob changes the NPV
shown, and what is shown is what the api computed."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import Scope, Service
from .test_webmap import (
    FIND_SITE_PIXEL,
    accessibility_violations,
    login,
    new_page,
    wait_map,
    wait_tiles,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]


def euro(value: float) -> str:
    """The page's euro format (nl-NL, no decimals, minus sign U+2212)."""
    text = f"{abs(round(value)):,}".replace(",", ".")
    return f"−€ {text}" if value < 0 else f"€ {text}"


def test_grondabonnement_knob_changes_the_npv_shown(
    browser: Any, service: Service, scope: Scope, screenshots: Path
) -> None:
    context, page, rec = new_page(browser, service)
    try:
        login(page, service, service.users["beleidsmaker"])
        wait_map(page)
        page.evaluate(
            "window.__kk.leaflet.setZoom(Math.max(window.__kk.leaflet.getZoom(), 12), {animate: false})"
        )
        wait_tiles(page)
        target = page.evaluate(FIND_SITE_PIXEL, ["tijdelijke_locaties-fill"])
        assert target, "no temporary site to click"
        page.mouse.click(target["x"], target["y"])
        page.wait_for_selector("#panel[data-kind=site]")
        # the robustness of the tier (kansenkaart sensitivity ran on the fixture result)
        site = page.evaluate(
            "(id) => fetch(`/api/sites/tijdelijke_locaties/${id}`).then((r) => r.json())",
            target["site_id"],
        )
        share = site["properties"]["stabiliteit"]
        stability = page.get_by_test_id("site-stability").inner_text()
        assert f"{round(share * 100)}%" in stability
        assert f"in {round(share * 20)} van de 20 trekkingen" in stability
        assert f"klasse {site['properties']['tier']}" in stability

        def answer(predicate: Any, action: Any) -> dict[str, Any]:
            """Do ``action``; the business-case answer it causes, once the page shows its NPV."""
            with page.expect_response(
                lambda r: "/businesscase" in r.url and r.ok and predicate(r.url)
            ) as response:
                action()
            body = response.value.json()
            page.wait_for_function(
                "(text) => document.querySelector('[data-testid=bc-npv]')?.textContent === text",
                arg=euro(body["result"]["npv"]),
            )
            return {"url": response.value.url, **body}

        first = answer(lambda url: True, page.get_by_test_id("bc-open").click)
        assert f"/api/sites/tijdelijke_locaties/{target['site_id']}/businesscase" in first["url"]
        assert page.locator("[data-testid=bc-chart] rect").count() > 0
        assert page.locator("[data-testid=bc-scenarios] tbody tr").count() == 3

        # Choose the grondabonnement: the api is asked again and the NPV shown changes.
        second = answer(
            lambda url: "land_option=grondabonnement" in url,
            lambda: page.select_option("#bc-knob-land_option", "grondabonnement"),
        )
        assert second["result"]["npv"] != first["result"]["npv"]

        # Turn the grondabonnement knob itself (the exact field of the slider): NPV changes again.
        fee = page.locator("#bc-knob-grondabonnement_eur_year-exact")
        assert fee.is_visible()
        third = answer(lambda url: "grondabonnement_eur_year=1500" in url, lambda: fee.fill("1500"))
        query = parse_qs(urlsplit(third["url"]).query)
        assert query["land_option"] == ["grondabonnement"]
        land = {row["year"]: row["land"] for row in third["result"]["cashflow"]}
        assert land[1] == pytest.approx(-1500 * third["result"]["homes"])
        # a dearer abonnement (default € 300, now € 1.500) is worth less
        assert third["result"]["npv"] < second["result"]["npv"]
        shown = page.get_by_test_id("bc-npv").inner_text()
        assert shown == euro(third["result"]["npv"]) != euro(first["result"]["npv"])
        page.screenshot(path=screenshots / "10-businesscase.png")
        assert accessibility_violations(page) == []
        assert not rec.console_errors and not rec.page_errors
        assert not rec.foreign_hosts()
    finally:
        context.close()
