"""The web map in a real browser (Playwright driving Debian's Chromium) against the real api.

What a policy maker does: log in, see their sites drawn on the map, open a site's breakdown, ask
"waarom hier niet?", filter (through the api), log out; an analyst downloads a GeoPackage. Along
the way: no feature of another municipality is ever requested or drawn, no console errors, and no
request leaves for a host other than the api and the configured basemap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from needs import need

from .conftest import PASSWORD, ROOT, Scope, Service, decode_tile

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

SITE_STYLE_LAYERS = ["plinten-circle", "kantoren-fill", "tijdelijke_locaties-fill"]
VIEWPORT = {"width": 1366, "height": 768}  # a common laptop screen

# JS helpers evaluated in the page -----------------------------------------------------------------
RENDERED = """(layers) => {
  const gl = window.__kk.map;
  const ids = layers.filter((id) => gl.getLayer(id));
  return gl.queryRenderedFeatures({ layers: ids }).map((f) => ({
    source: f.source, site_id: f.properties.site_id, gemeentecode: f.properties.gemeentecode,
    score: f.properties.score, tier: f.properties.tier }));
}"""

# A point (page coordinates) inside the map where a site is drawn, found through the real
# rendering: MapLibre's queryRenderedFeatures at candidate pixels of each rendered feature.
FIND_SITE_PIXEL = """(layers) => {
  const kk = window.__kk, m = kk.leaflet, gl = kk.map;
  const size = m.getSize(), rect = m.getContainer().getBoundingClientRect();
  const ids = layers.filter((id) => gl.getLayer(id));
  const usable = (x, y) => {
    // On the map itself: not under the legend, a notice, a control or the attribution.
    const el = document.elementFromPoint(rect.left + x, rect.top + y);
    return Boolean(el && el.closest("#map") && !el.closest(".leaflet-control-container"));
  };
  for (const f of gl.queryRenderedFeatures({ layers: ids }).slice(0, 40)) {
    const coords = JSON.stringify(f.geometry.coordinates).match(/-?\\d+\\.?\\d*(e-?\\d+)?/g).map(Number);
    let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    for (let i = 0; i < coords.length; i += 2) {
      const p = m.latLngToContainerPoint([coords[i + 1], coords[i]]);
      x0 = Math.min(x0, p.x); x1 = Math.max(x1, p.x); y0 = Math.min(y0, p.y); y1 = Math.max(y1, p.y);
    }
    const steps = 6;
    for (let i = 0; i <= steps; i++) for (let j = 0; j <= steps; j++) {
      const x = Math.round(x0 + ((x1 - x0) * (i + 0.5)) / (steps + 1));
      const y = Math.round(y0 + ((y1 - y0) * (j + 0.5)) / (steps + 1));
      if (!usable(x, y)) continue;
      const ll = m.containerPointToLatLng([x, y]);
      const p = gl.project([ll.lng, ll.lat]);
      const hits = gl.queryRenderedFeatures([[p.x - 1, p.y - 1], [p.x + 1, p.y + 1]], { layers: ids });
      if (hits.length && hits.every((h) => h.properties.site_id === f.properties.site_id)) {
        return { x: rect.left + x, y: rect.top + y, source: f.source, site_id: f.properties.site_id,
                 score: f.properties.score, tier: f.properties.tier };
      }
    }
  }
  return null;
}"""

# A point inside the user's own municipality where no site is drawn.
FIND_EMPTY_PIXEL = """([layers, code]) => {
  const kk = window.__kk, m = kk.leaflet, gl = kk.map;
  const size = m.getSize(), rect = m.getContainer().getBoundingClientRect();
  const ids = layers.filter((id) => gl.getLayer(id));
  const feats = kk.state.gemeenten.features.filter((f) => f.properties.gemeentecode === code);
  const polys = [];
  for (const f of feats) {
    const g = f.geometry;
    if (g.type === "Polygon") polys.push(g.coordinates);
    else if (g.type === "MultiPolygon") polys.push(...g.coordinates);
  }
  const inRing = (pt, ring) => {
    let inside = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i], [xj, yj] = ring[j];
      if ((yi > pt[1]) !== (yj > pt[1]) && pt[0] < ((xj - xi) * (pt[1] - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  };
  const inside = (pt) => polys.some((rings) => inRing(pt, rings[0]) && !rings.slice(1).some((r) => inRing(pt, r)));
  const cx = size.x / 2, cy = size.y / 2;
  const candidates = [];
  for (let y = 100; y < size.y - 70; y += 15) for (let x = 80; x < size.x - 30; x += 15) candidates.push([x, y]);
  candidates.sort((a, b) => Math.hypot(a[0] - cx, a[1] - cy) - Math.hypot(b[0] - cx, b[1] - cy));
  for (const [x, y] of candidates) {
    const el = document.elementFromPoint(rect.left + x, rect.top + y);
    if (!el || !el.closest("#map") || el.closest(".leaflet-control-container")) continue;
    const ll = m.containerPointToLatLng([x, y]);
    if (!inside([ll.lng, ll.lat])) continue;
    const p = gl.project([ll.lng, ll.lat]);
    if (gl.queryRenderedFeatures([[p.x - 8, p.y - 8], [p.x + 8, p.y + 8]], { layers: ids }).length) continue;
    return { x: rect.left + x, y: rect.top + y, lng: ll.lng, lat: ll.lat };
  }
  return null;
}"""


# Page coordinates of the mean vertex of a municipality in scope (inside it for compact shapes).
GEMEENTE_CENTRE = """(code) => {
  const kk = window.__kk, m = kk.leaflet, rect = m.getContainer().getBoundingClientRect();
  const f = kk.state.gemeenten.features.find((g) => g.properties.gemeentecode === code);
  const flat = f.geometry.coordinates.flat(Infinity);
  let sx = 0, sy = 0;
  for (let i = 0; i < flat.length; i += 2) { sx += flat[i]; sy += flat[i + 1]; }
  const p = m.latLngToContainerPoint([sy / (flat.length / 2), sx / (flat.length / 2)]);
  return [rect.left + p.x, rect.top + p.y];
}"""

AXE = ROOT / "webmap" / "node_modules" / "axe-core" / "axe.min.js"
AXE_RUN = """async () => {
  const r = await axe.run(document, {
    runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    resultTypes: ["violations"],
  });
  return r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
}"""


def accessibility_violations(page: Any) -> list[str]:
    """WCAG 2.1 A/AA violations found by axe-core (a dev dependency of webmap/)."""
    if not AXE.is_file():
        need(f"axe-core is not installed ({AXE}): run `make setup` (npm ci in webmap/)")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(
            AXE.read_text(encoding="utf-8")
        )  # CDP evaluation: not subject to the page's CSP
    return list(page.evaluate(AXE_RUN))


class Recorder:
    """Every request, console error and api tile/JSON response the page produces."""

    def __init__(self, page: Any, service: Service) -> None:
        self.service = service
        self.requests: list[str] = []
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.tiles: list[tuple[str, dict[str, Any]]] = []
        self.json: list[tuple[str, Any]] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("response", self._response)

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            url = (msg.location or {}).get("url", "")
            self.console_errors.append(f"{msg.text} [{url}]")

    def _response(self, response: Any) -> None:
        path = urlsplit(response.url).path
        if not response.ok:
            return
        try:
            if path.startswith("/api/tiles/"):
                self.tiles.append((response.url, decode_tile(response.body())))
            elif path.startswith("/api/") and "json" in (
                response.headers.get("content-type") or ""
            ):
                self.json.append((response.url, response.json()))
        except Exception as exc:  # a response of a closed page: keep what we can check
            self.json.append((response.url, {"unreadable": str(exc)}))

    def foreign_hosts(self) -> list[str]:
        allowed = self.service.allowed_hosts
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob"):
                continue
            if parts.netloc not in allowed:
                out.append(url)
        return out

    def tile_gemeentecodes(self) -> dict[str, set[str]]:
        codes: dict[str, set[str]] = {}
        for _url, tile in self.tiles:
            for name, layer in tile.items():
                for feature in layer.get("features", []):
                    codes.setdefault(name, set()).add(
                        str(feature["properties"].get("gemeentecode"))
                    )
        return codes


def new_page(browser: Any, service: Service, **context_options: Any) -> tuple[Any, Any, Recorder]:
    context = browser.new_context(viewport=VIEWPORT, locale="nl-NL", **context_options)
    page = context.new_page()
    page.set_default_timeout(30_000)  # generous: CI machines run other tests alongside
    return context, page, Recorder(page, service)


def login(page: Any, service: Service, email: str, password: str = PASSWORD) -> None:
    page.goto(service.base + "/")
    page.get_by_label("E-mailadres").fill(email)
    page.get_by_label("Wachtwoord").fill(password)
    page.get_by_role("button", name="Inloggen").click()


def wait_map(page: Any) -> None:
    page.wait_for_function(
        "() => window.__kk && window.__kk.ready && window.__kk.map && window.__kk.map.loaded()"
    )


def wait_tiles(page: Any, rendered_at_least: int = 1) -> list[dict[str, Any]]:
    page.wait_for_function(
        """([layers, n]) => { const gl = window.__kk.map;
             if (!gl || !gl.isStyleLoaded() || !gl.areTilesLoaded()) return false;
             return gl.queryRenderedFeatures({ layers: layers.filter((id) => gl.getLayer(id)) }).length >= n; }""",
        arg=[SITE_STYLE_LAYERS, rendered_at_least],
    )
    return page.evaluate(RENDERED, SITE_STYLE_LAYERS)


def settle(page: Any, rec: Recorder, *, quiet_ms: int = 400) -> None:
    """Wait until MapLibre has loaded its tiles and no tile response arrived for ``quiet_ms``."""
    for _ in range(50):
        page.wait_for_function("() => window.__kk.map.areTilesLoaded()")
        seen = len(rec.tiles)
        page.wait_for_timeout(quiet_ms)
        if len(rec.tiles) == seen and page.evaluate("window.__kk.map.areTilesLoaded()"):
            return
    raise AssertionError("the map never settled")


def test_beleidsmaker_sees_only_own_sites_panel_and_why_not(
    browser: Any, service: Service, scope: Scope, screenshots: Path
) -> None:
    context, page, rec = new_page(browser, service)
    try:
        page.goto(service.base + "/")
        page.get_by_label("E-mailadres").wait_for()
        assert page.locator("#mark-confidential").is_visible()
        page.screenshot(path=screenshots / "01-login.png")
        assert accessibility_violations(page) == []

        login(page, service, service.users["beleidsmaker"])
        wait_map(page)
        assert page.locator("#mark-confidential").is_visible()
        assert page.locator("#mark-synthetic").is_visible()  # the fixture result is synthetic
        assert page.evaluate("window.__kk.basemap") in ("tiles", "loading")
        page.wait_for_function("() => window.__kk.basemap === 'tiles'")
        # Fitted to the municipality: the overview or the sites, depending on its size.
        page.wait_for_function("() => window.__kk.map.areTilesLoaded()")
        page.wait_for_timeout(300)
        page.screenshot(path=screenshots / "02-after-login.png")

        # The municipality picker: a single municipality is shown as the only choice; choosing
        # it (or zooming in) shows its sites.
        options = page.locator("#gemeente-select option").all_text_contents()
        assert any(scope.own_naam in o for o in options), options
        assert not any(scope.other in o for o in options)
        page.evaluate(
            "window.__kk.leaflet.setZoom(Math.max(window.__kk.leaflet.getZoom(), 12), {animate: false})"
        )
        rendered = wait_tiles(page)
        assert rendered, "no site drawn on the map"
        assert {f["gemeentecode"] for f in rendered} == {scope.own}
        assert {f["source"] for f in rendered} <= {"tijdelijke_locaties", "kantoren", "plinten"}
        page.screenshot(path=screenshots / "03-sites.png")

        # The tier colours drawn are the project's one palette (the GeoPackage styles' too).
        palette = json.loads((ROOT / "pipeline" / "styles" / "palette.json").read_text())
        fill = page.evaluate(
            "window.__kk.map.getPaintProperty('tijdelijke_locaties-fill', 'fill-color')"
        )
        assert dict(zip(fill[2:-1:2], fill[3:-1:2], strict=True)) == palette["tiers"]
        assert (
            page.evaluate(
                "getComputedStyle(document.documentElement).getPropertyValue('--tier-a').trim()"
            )
            == palette["tiers"]["A"]
        )

        # "Koppelen met QGIS": a token made in the page works as QGIS sends it (HTTP Basic with
        # the e-mail) and reaches only the own municipality.
        page.get_by_role("button", name="Token voor QGIS maken").click()
        page.locator("#token-result").wait_for()
        token = page.locator("#token-value").input_value()
        user = page.locator("#token-user").inner_text()
        ogc = page.locator("#token-ogc").inner_text()
        assert token.startswith("kk_") and user == service.users["beleidsmaker"]
        assert ogc == f"{service.base}/api/ogc"
        r = httpx.get(
            f"{ogc}/collections/tijdelijke_locaties/items?limit=10000", auth=(user, token)
        )
        assert r.status_code == 200
        assert {f["properties"]["gemeentecode"] for f in r.json()["features"]} == {scope.own}

        # Click a drawn site: the side panel shows its full breakdown.
        target = page.evaluate(FIND_SITE_PIXEL, SITE_STYLE_LAYERS)
        assert target, "could not find a clickable site pixel"
        page.mouse.click(target["x"], target["y"])
        page.wait_for_selector("#panel[data-kind=site]")
        site = next(body for url, body in rec.json if f"/api/sites/{target['source']}/" in url)
        props = site["properties"]
        assert props["site_id"] == target["site_id"]
        assert props["gemeentecode"] == scope.own
        criteria = (
            props["explanation"]["criteria"]
            if isinstance(props["explanation"], dict)
            else json.loads(props["explanation"])["criteria"]
        )
        rows = page.locator("#panel tr.criterion-row")
        assert rows.count() == len(criteria) > 0
        for i, c in enumerate(criteria):
            assert rows.nth(i).locator("th").inner_text().strip() == (c.get("label") or c["id"])
            assert (
                page.locator("#panel tr.reason-row").nth(i).inner_text().strip()
                == (c.get("reason") or "").strip()
            )
        explanation = (
            props["explanation"]
            if isinstance(props["explanation"], dict)
            else json.loads(props["explanation"])
        )
        # the framing, the aandachtspunten with their source, and (sites) which availability
        # case applies: all said in the panel
        if explanation.get("disclaimer"):
            disclaimer = page.locator("[data-testid=site-disclaimer]").inner_text().strip()
            assert disclaimer == explanation["disclaimer"]
            assert "Verkenning, geen besluit" in disclaimer and "Vertrouwelijk" in disclaimer
        attention = page.locator("[data-testid=site-aandachtspunten]")
        assert attention.count() == 1
        for item in explanation.get("aandachtspunten", []):
            assert item["text"] in attention.inner_text()
            assert f"bron: {item['source']}" in attention.inner_text()
        if explanation.get("availability"):
            avail = page.locator("[data-testid=site-availability]").inner_text()
            assert explanation["availability"]["text"] in avail
            assert (
                "Tijdelijk tot ontwikkeling" in avail
                if explanation["availability"]["case"] == "tot_ontwikkeling"
                else "volle termijn" in avail
            )
        if explanation.get("capacity"):
            cap = page.locator("[data-testid=site-capacity]").inner_text()
            assert str(explanation["capacity"]["units"]) in cap
        score_text = page.locator("[data-testid=site-score]").inner_text()
        assert f"Klasse {props['tier']}" in score_text
        assert f"{props['score']:.1f}".replace(".", ",").rstrip("0").rstrip(",") in score_text
        assert page.locator("[data-testid=site-sources] li").count() >= 1
        assert page.locator("#panel-body").get_attribute("aria-live") == "polite"
        page.screenshot(path=screenshots / "04-site-panel.png")
        assert accessibility_violations(page) == []  # the map page with the panel open

        # Click elsewhere in the municipality: "waarom hier niet?".
        empty = page.evaluate(FIND_EMPTY_PIXEL, [SITE_STYLE_LAYERS, scope.own])
        assert empty, "no empty spot inside the municipality in view"
        page.mouse.click(empty["x"], empty["y"])
        page.wait_for_selector("#panel[data-kind=why]")
        why = next(body for url, body in reversed(rec.json) if "/api/why" in url)
        assert why["gemeentecode"] == scope.own
        summary = page.locator("[data-testid=why-summary]").inner_text().strip()
        assert summary and summary == why["summary"].strip()
        assert page.locator("#panel-title").inner_text() == "Waarom hier niet?"
        page.screenshot(path=screenshots / "05-why-not.png")

        # Filters go through the api: a minimum score changes the tile URLs, and what is drawn
        # afterwards comes from the filtered tiles.
        scores = sorted(float(f["score"]) for f in rendered)
        threshold = 5 * int(scores[len(scores) // 2] // 5) if scores[-1] >= 5 else 0
        n_before = len(rec.tiles)
        page.locator("#filter-min-score").fill(str(threshold))
        page.wait_for_function(
            f"() => document.getElementById('filter-status').textContent.includes('score ≥ {threshold}')"
        )
        settle(page, rec)
        new_tiles = [url for url, _ in rec.tiles[n_before:]]
        assert new_tiles, "changing the filter did not request tiles"
        assert all(
            parse_qs(urlsplit(u).query).get("min_score") == [str(threshold)] for u in new_tiles
        )
        for _url, tile in rec.tiles[n_before:]:
            for layer in tile.values():
                assert all(float(f["properties"]["score"]) >= threshold for f in layer["features"])
        filtered = page.evaluate(RENDERED, SITE_STYLE_LAYERS)
        assert all(float(f["score"]) >= threshold for f in filtered)
        page.screenshot(path=screenshots / "06-filtered.png")

        # Minimum capacity and owner class travel the same way, and combine with the score.
        owners = sorted(
            {
                str(f["properties"]["owner_class"])
                for _, t in rec.tiles
                for layer in t.values()
                for f in layer["features"]
            }
        )
        owner = owners[0]
        n_before = len(rec.tiles)
        page.get_by_label("Minimaal aantal woningen").fill("2")
        page.get_by_label("Eigenaar").select_option(owner)
        page.wait_for_function(
            "() => document.getElementById('filter-status').textContent.includes('eigenaar')"
        )
        settle(page, rec)
        assert rec.tiles[n_before:], "changing the filters did not request tiles"
        for url, tile in rec.tiles[n_before:]:
            query = parse_qs(urlsplit(url).query)
            assert query.get("min_capacity") == ["2"] and query.get("owner_class") == [owner], url
            for layer in tile.values():
                for f in layer["features"]:
                    p = f["properties"]
                    assert (
                        p["owner_class"] == owner
                        and int(p["capacity_units"]) >= 2
                        and float(p["score"]) >= threshold
                    )
        page.get_by_role("button", name="Filters wissen").click()
        page.wait_for_function(
            "() => document.getElementById('filter-status').textContent.startsWith('Geen filter')"
        )

        # Nothing of another municipality was ever requested or drawn.
        assert rec.tiles, "no tiles were loaded"
        codes = rec.tile_gemeentecodes()
        assert codes and set().union(*codes.values()) == {scope.own}, codes
        for url, body in rec.json:
            if "/api/gemeenten" in url:
                assert {f["properties"]["gemeentecode"] for f in body["features"]} == {scope.own}
        assert all(
            f["gemeentecode"] == scope.own for f in page.evaluate(RENDERED, SITE_STYLE_LAYERS)
        )

        # Loading, logging in, drawing, clicking and filtering: not one console error.
        assert rec.console_errors == [] and rec.page_errors == []

        # Logout: a POST with the CSRF token, back at the login form; the session is gone.
        csrf = next(c["value"] for c in context.cookies() if c["name"] == "kk_csrf")
        with page.expect_request("**/api/auth/logout") as logout:
            page.get_by_role("button", name="Uitloggen").click()
        assert logout.value.method == "POST" and logout.value.headers.get("x-csrf-token") == csrf
        page.get_by_label("E-mailadres").wait_for()
        assert page.locator("#login-error").inner_text().strip() == "U bent uitgelogd."
        assert page.evaluate("fetch('/api/me').then((r) => r.status)") == 401

        assert rec.foreign_hosts() == []
    finally:
        context.close()


def test_login_errors_offline_basemap_and_analist_export(
    browser: Any, service_offline_basemap: Service, scope: Scope, screenshots: Path, tmp_path: Path
) -> None:
    import geopandas as gpd
    import pyogrio

    service = service_offline_basemap
    context, page, rec = new_page(browser, service, accept_downloads=True)
    try:
        # A wrong password: said plainly.
        login(page, service, service.users["analist"], "niet-het-goede-wachtwoord")
        error = page.locator("#login-error")
        page.wait_for_function(
            "() => document.getElementById('login-error').textContent.length > 0"
        )
        assert error.inner_text().strip() == "Onjuist e-mailadres of wachtwoord."
        assert page.locator("#map-view").is_hidden()
        page.screenshot(path=screenshots / "00-wrong-password.png")

        # Too many attempts: the throttling message with the waiting time from the 429 body.
        throttled = None
        for _ in range(12):
            page.get_by_label("E-mailadres").fill(service.users["throttled"])
            page.get_by_label("Wachtwoord").fill("fout-wachtwoord-123")
            with page.expect_response(lambda r: r.url.endswith("/api/auth/login")) as info:
                page.get_by_role("button", name="Inloggen").click()
            # The page handles the answer after the response event: it clears the password
            # and shows the message. Fill the next attempt only when it is done, or the
            # cleared password empties the form and no request is sent.
            page.wait_for_function(
                """() => !document.getElementById('login-submit').disabled
                     && document.getElementById('login-error').textContent.length > 0"""
            )
            if info.value.status == 429:
                throttled = info.value.json()
                break
        assert throttled is not None, "the api never throttled"
        page.wait_for_function(
            "() => document.getElementById('login-error').textContent.startsWith('Te veel')"
        )
        text = error.inner_text()
        assert "Te veel inlogpogingen" in text
        retry = int(throttled["error"]["retry_after"])
        assert (f"{retry} seconde" in text) if retry < 60 else (f"{-(-retry // 60)} minu" in text)
        page.screenshot(path=screenshots / "00-throttled.png")

        # The analyst logs in; the basemap cannot be reached, so the map falls back to plain.
        login(page, service, service.users["analist"])
        wait_map(page)
        page.wait_for_function("() => window.__kk.basemap === 'plain'")
        assert page.locator("#basemap-notice").is_visible()
        assert page.locator("#map").evaluate("(el) => el.classList.contains('plain-basemap')")
        page.screenshot(path=screenshots / "07-analist-plain-basemap.png")

        # The analyst may export: download the GeoPackage of one municipality and open it.
        assert page.locator("#export-box").is_visible()
        page.locator("#export-select").select_option(scope.own)
        with page.expect_download() as download_info:
            page.get_by_role("link", name="Download GeoPackage").click()
        path = tmp_path / "export.gpkg"
        download_info.value.save_as(path)
        layers = {name for name, _ in pyogrio.list_layers(path)}
        assert {"tijdelijke_locaties", "kantoren", "plinten"} <= layers
        for layer in ("tijdelijke_locaties", "kantoren", "plinten"):
            gdf = gpd.read_file(path, layer=layer)
            assert set(gdf["gemeentecode"]) <= {scope.own}
        assert (
            len(gpd.read_file(path, layer="tijdelijke_locaties"))
            + len(gpd.read_file(path, layer="plinten"))
            > 0
        )

        # Zoomed out: the municipality overview, coloured by the capacity of tier A+B sites.
        page.evaluate("window.__kk.leaflet.setZoom(10, {animate: false})")
        page.wait_for_function(
            "() => window.__kk.map.areTilesLoaded() && window.__kk.map.queryRenderedFeatures({layers: ['gemeenten-fill']}).length > 0"
        )
        overview = page.evaluate(
            "window.__kk.map.queryRenderedFeatures({layers: ['gemeenten-fill']}).map((f) => f.properties.gemeentecode)"
        )
        assert set(overview) == set(scope.codes)
        assert page.evaluate(RENDERED, SITE_STYLE_LAYERS) == []
        assert (
            page.locator("#legend-overview").is_visible()
            and page.locator("#zoom-hint").is_visible()
        )
        # The same numbers as a table (text alternative), and as a tooltip over the map.
        summary = next(body for url, body in rec.json if urlsplit(url).path == "/api/gemeenten")
        expected = {
            f["properties"]["gemeentenaam"]: f"{int(f['properties']['capacity_ab']):,}".replace(
                ",", "."
            )
            for f in summary["features"]
        }
        rows = page.locator("#overview-rows tr")
        cells = [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]
        assert {name: value for name, value in cells} == expected
        x, y = page.evaluate(GEMEENTE_CENTRE, scope.own)
        page.mouse.move(x, y)
        tooltip = page.locator(".kk-tooltip")
        tooltip.wait_for()
        assert tooltip.inner_text().startswith(f"{scope.own_naam}:")
        page.screenshot(path=screenshots / "08-overview.png")

        # Keyboard: a municipality from the picker, then a site from "Beste locaties in beeld".
        page.locator("#gemeente-select").focus()
        n_before = len(rec.tiles)
        page.locator("#gemeente-select").select_option(scope.own)
        wait_tiles(page)
        settle(page, rec)
        # The municipality filter travels in the tile URLs too: the analyst (who may see every
        # municipality) now gets tiles of the chosen one only.
        assert rec.tiles[n_before:]
        for url, tile in rec.tiles[n_before:]:
            assert parse_qs(urlsplit(url).query).get("gemeente") == [scope.own], url
            assert all(
                f["properties"]["gemeentecode"] == scope.own
                for layer in tile.values()
                for f in layer["features"]
            )
        first = page.locator("#inview-list button").first
        first.wait_for()
        first.focus()
        page.keyboard.press("Enter")
        page.wait_for_selector("#panel[data-kind=site]")
        assert page.locator("#panel tr.criterion-row").count() > 0
        assert page.evaluate("document.activeElement.id") == "panel-title"  # focus follows
        page.keyboard.press("Escape")
        assert page.locator("#panel").get_attribute("data-state") == "closed"
        assert page.evaluate("document.activeElement.id") == "map"

        assert rec.foreign_hosts() == []
        # Expected errors only: the wrong passwords (401/429) and the unreachable basemap.
        basemap_host = urlsplit(service.basemap_url).netloc
        unexpected = [
            e
            for e in rec.console_errors
            if not ("401" in e or "429" in e or basemap_host in e or "ERR_CONNECTION_REFUSED" in e)
        ]
        assert unexpected == [] and rec.page_errors == []
    finally:
        context.close()
