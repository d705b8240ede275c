"""The working tool in a real browser (issue 12): search and zoom, status and note across logout,
another municipality's policy maker kept out (page and direct requests), the province's progress
map, the list and its CSV, the site sheet, links, the default tiers, and orientation without the
basemap. Screenshots of each new state go to tests/screenshots/ (1x-*.png)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyogrio
import pytest

from .conftest import Scope, Service
from .test_webmap import login, new_page, wait_map

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

NOTE = "Eigenaar bellen <script>alert(1)</script> & daarna raad"


def _address_of_site(result: Path, code: str) -> tuple[str, str, str]:
    """(postcode query, layer, site_id) of a plinten or kantoren site with an address in ``code``."""
    index = pyogrio.read_dataframe(result, layer="zoekindex", read_geometry=False)
    index = index[(index["soort"] == "adres") & (index["gemeentecode"] == code)]
    for layer, key in (("plinten", "vbo_id"), ("kantoren", "pand_id")):
        sites = pyogrio.read_dataframe(
            result, layer=layer, columns=["site_id", key, "gemeentecode"], read_geometry=False
        )
        sites = sites[sites["gemeentecode"] == code]
        hits = index.merge(sites, left_on=key, right_on=key)
        hits = hits[hits["postcode"].notna()]
        if len(hits):
            row = hits.sort_values("site_id").iloc[0]
            pc = str(row["postcode"])
            number = int(row["huisnummer"])
            suffix = row["toevoeging"] or ""
            return (
                f"{pc[:4]} {pc[4:]} {number}{suffix.replace(' ', '')}",
                layer,
                str(row["site_id"]),
            )
    raise AssertionError(f"no site with an address in {code}")


def _excluded_parcel_point(result: Path, code: str) -> tuple[str, str, float, float]:
    """(parcel id, its name in the zoekindex, lon, lat) of a point inside an excluded parcel of
    ``code`` that lies more than 40 m from every candidate (so a click there asks "why")."""
    import geopandas as gpd
    import numpy as np
    import shapely

    parcels = pyogrio.read_dataframe(result, layer="uitgesloten_percelen")
    parcels = parcels[parcels["gemeentecode"] == code]
    index = pyogrio.read_dataframe(result, layer="zoekindex", read_geometry=False)
    names = index[(index["soort"] == "perceel") & (index["gemeentecode"] == code)]
    names = dict(zip(names["parcel_id"], names["naam"], strict=True))
    parcels = parcels[parcels["parcel_id"].isin(list(names))].sort_values("parcel_id")
    candidates = np.concatenate(
        [
            np.asarray(pyogrio.read_dataframe(result, layer=layer).geometry.array, dtype=object)
            for layer in ("tijdelijke_locaties", "kantoren", "plinten")
        ]
    )
    tree = shapely.STRtree(candidates)
    for pid, geom in zip(parcels["parcel_id"], parcels.geometry, strict=True):
        pt = shapely.point_on_surface(geom.buffer(-5)) if geom.buffer(-5).area > 0 else None
        if pt is None or len(tree.query(pt, predicate="dwithin", distance=40)):
            continue
        wgs = gpd.GeoSeries([pt], crs=parcels.crs).to_crs("EPSG:4326").iloc[0]
        return str(pid), str(names[pid]), float(wgs.x), float(wgs.y)
    raise AssertionError(f"no excluded parcel with a name far from the candidates in {code}")


def _logout(page: Any) -> None:
    page.locator("#logout-button").click()
    page.get_by_label("E-mailadres").wait_for()


def test_search_status_note_and_other_municipality(
    browser: Any, service: Service, scope: Scope, screenshots: Path
) -> None:
    assert service.result is not None
    query, layer, site_id = _address_of_site(service.result, scope.own)
    context, page, rec = new_page(browser, service)
    try:
        login(page, service, service.users["beleidsmaker"])
        wait_map(page)
        # Default view: tiers A and B only (C–E on demand), in the tile URLs the page asks for.
        page.wait_for_function("() => window.__kk.map.areTilesLoaded()")
        tile_urls = [u for u in rec.requests if "/api/tiles/" in u]
        assert tile_urls
        assert all(parse_qs(urlsplit(u).query).get("tier") == ["A", "B"] for u in tile_urls)
        page.screenshot(path=screenshots / "11-first-view-beleidsmaker.png")

        # Search by address (postcode + number): the site opens, the map zooms to it, outlined.
        page.locator("#search-input").fill(query)
        page.locator("#search-submit").click()
        page.wait_for_selector("#panel[data-kind=site]")
        page.wait_for_function("(id) => window.__kk.outline === id", arg=site_id)
        assert page.evaluate("window.__kk.state.selected.siteId") == site_id
        inside = page.evaluate(
            """() => { const b = window.__kk.leaflet.getBounds();
                       const o = window.__kk.state.outline.getBounds();
                       return b.contains(o) && window.__kk.leaflet.getZoom() >= 15; }"""
        )
        assert inside, "the map did not zoom to the site"
        page.screenshot(path=screenshots / "12-search-zoomed-outlined.png")

        # Set a status and a note; the note is plain text.
        page.wait_for_selector("#status-select")
        page.locator("#status-select").select_option("in_onderzoek")
        page.locator("#status-note").fill(NOTE)
        page.locator("#status-save").click()
        page.wait_for_function(
            "() => (document.querySelector('[data-testid=status-current]')||{}).textContent?.includes('in onderzoek')"
        )
        assert page.locator("[data-testid=status-note]").inner_text() == NOTE
        assert page.locator("#status-box script").count() == 0
        page.screenshot(path=screenshots / "13-status-saved.png")
        link = page.url
        assert f"sel={'pl' if layer == 'plinten' else 'kt'}%2F{site_id}" in link or "sel=" in link

        # Log out, log in again: the status and the note are there (opened through the link),
        # and the sidebar starts at its top (it kept its scroll position across logout before).
        scrolled = page.evaluate(
            "() => { const s = document.getElementById('sidebar'); s.scrollTop = s.scrollHeight; return s.scrollTop; }"
        )
        assert scrolled > 0, "the sidebar should scroll at this window size"
        _logout(page)
        assert "#" not in page.url or urlsplit(page.url).fragment == ""
        assert page.evaluate("document.getElementById('sidebar').scrollTop") == 0
        page.goto(link)
        page.get_by_label("E-mailadres").fill(service.users["beleidsmaker"])
        page.get_by_label("Wachtwoord").fill("Flexwonen-2026!")
        page.get_by_role("button", name="Inloggen").click()
        page.wait_for_selector("[data-testid=status-note]")
        assert "in onderzoek" in page.locator("[data-testid=status-current]").inner_text()
        assert page.locator("[data-testid=status-note]").inner_text() == NOTE
        assert page.locator(".history li").count() == 1
        assert page.evaluate("document.getElementById('sidebar').scrollTop") == 0
        page.screenshot(path=screenshots / "14-status-after-relogin.png")
        _logout(page)

        # A policy maker of another municipality: the shared link shows nothing of the site.
        mark = len(rec.json)
        page.goto(link)
        page.get_by_label("E-mailadres").fill(service.users["beleidsmaker_other"])
        page.get_by_label("Wachtwoord").fill("Flexwonen-2026!")
        page.get_by_role("button", name="Inloggen").click()
        wait_map(page)
        page.wait_for_selector("#panel[data-kind=site]")
        page.wait_for_function(
            "() => !document.querySelector('#status-box') || document.querySelector('#status-box').textContent.includes('Geen status')"
        )
        body = page.locator("#panel-body").inner_text()
        assert NOTE not in body and "in onderzoek" not in body
        page.screenshot(path=screenshots / "15-other-municipality-link.png")
        # … and through direct requests (decoded): 404 for reading and writing, no leak.
        base = f"{service.base}/api/sites/{layer}/{site_id}/status"
        r = page.request.get(base)
        assert r.status == 404 and NOTE not in r.text()
        csrf = next(c["value"] for c in context.cookies() if c["name"] == "kk_csrf")
        r = page.request.put(
            base,
            data={"status": "afgevallen", "note": "x", "reason": "y"},
            headers={"X-CSRF-Token": csrf},
        )
        assert r.status == 404
        r = page.request.get(f"{service.base}/api/sites/{layer}/{site_id}.pdf")
        assert r.status == 404
        r = page.request.get(f"{service.base}/api/search?q={query}")
        assert r.ok and r.json()["results"] == []
        assert NOTE not in page.evaluate("document.body.innerText")
        assert not any(NOTE in str(body) for _url, body in rec.json[mark:])
    finally:
        context.close()


def test_province_progress_map_list_csv_and_sheet(
    browser: Any, service: Service, scope: Scope, screenshots: Path, tmp_path: Path
) -> None:
    import pypdf

    context, page, _rec = new_page(browser, service, accept_downloads=True)
    try:
        login(page, service, service.users["provincie"])
        wait_map(page)
        # Province roles start at the overview of every municipality.
        assert page.evaluate("window.__kk.leaflet.getZoom()") < 11
        page.screenshot(path=screenshots / "16-first-view-provincie.png")

        # The progress map: edit one municipality, its colour class changes.
        page.locator("#progress-open").click()
        page.wait_for_function("() => Array.isArray(window.__kk.progress)")
        before = {p["code"]: p["fase"] for p in page.evaluate("window.__kk.progress")}
        assert before[scope.own] == 0
        fill_before = page.evaluate(
            "window.__kk.map.getPaintProperty('gemeenten-fill', 'fill-color')"
        )
        assert fill_before[0] == "match"
        page.screenshot(path=screenshots / "17-progress-map.png")
        page.locator(f"tr[data-gemeente={scope.own}] button").click()
        page.locator("#pf-woonvisie").check()
        page.locator("#pf-woonvisie-datum").fill("2026-03-01")
        page.locator("#pf-woonvisie-bron").fill("Woonvisie 2026-2030")
        page.locator("#pf-prestatieafspraken").check()
        page.locator("#pf-save").click()
        page.wait_for_function(
            "(code) => window.__kk.progress.find((p) => p.code === code).fase === 2",
            arg=scope.own,
        )
        row = page.locator(f"tr[data-gemeente={scope.own}] td.fase").inner_text()
        assert row == "In woonvisie en prestatieafspraken"
        colour = page.evaluate(
            """(code) => { const gl = window.__kk.map;
                 const f = gl.querySourceFeatures('gemeenten').find((g) => g.properties.gemeentecode === code);
                 return f && f.properties.fase; }""",
            scope.own,
        )
        assert colour == 2
        page.screenshot(path=screenshots / "18-progress-edited.png")
        page.locator("#progress-close").click()

        # The list of all sites (tiers A and B by default), sorted by score; the CSV equals it.
        page.locator("#list-open").click()
        page.locator("#list-scope").select_option("all")
        page.wait_for_function("() => window.__kk.list && window.__kk.list.query.includes('sort=')")
        page.locator("#site-table th button[data-key=capacity_units]").click()
        page.wait_for_function(
            "() => window.__kk.list.query.includes('sort=-capacity_units') && window.__kk.list.rows > 0"
        )
        page.wait_for_timeout(200)
        header = page.locator("#site-table thead th").all_inner_texts()
        cells = page.evaluate(
            "[...document.querySelectorAll('#site-table tbody tr')].map((tr) => [...tr.cells].map((td) => td.textContent))"
        )
        page.screenshot(path=screenshots / "19-site-list.png")
        with page.expect_download() as info:
            page.locator("#list-csv").click()
        text = Path(info.value.path()).read_text(encoding="utf-8-sig")
        rows = list(csv.reader(io.StringIO(text), delimiter=";"))
        assert [h.replace(" ▼", "").replace(" ▲", "") for h in header] == rows[0][:-1]
        assert [r[:-1] for r in rows[1:]] == cells
        # every row of a downloaded list carries the framing (issue 9 item 9)
        assert rows[0][-1] == "Let op"
        assert {r[-1] for r in rows[1:]} == {"Vertrouwelijk — verkenning, geen besluit"}
        tiers = {r[rows[0].index("Klasse")] for r in rows[1:]}
        assert tiers <= {"A", "B"}
        caps = [int(r[rows[0].index("Woningen")]) for r in rows[1:]]
        assert caps == sorted(caps, reverse=True)
        with page.expect_download() as info:
            page.locator("#list-xlsx").click()
        import openpyxl

        xlsx = tmp_path / "lijst.xlsx"
        info.value.save_as(xlsx)
        sheet = openpyxl.load_workbook(xlsx).active
        assert sheet is not None
        values = [[("" if v is None else v) for v in r] for r in sheet.iter_rows(values_only=True)]
        assert values[0] == rows[0]
        assert len(values) == len(rows)
        score_col = rows[0].index("Score")

        def as_text(j: int, v: Any) -> str:
            if j == score_col and v != "":
                return f"{float(v):.1f}".replace(".", ",")
            return str(v)

        for got, want in zip(values[1:], rows[1:], strict=True):
            assert [as_text(j, v) for j, v in enumerate(got)] == want

        # The site sheet of the first site: print button → PDF with its reasons on every page.
        first = page.locator("#site-table tbody tr").first
        layer, site_id = first.get_attribute("data-site").split("/")  # type: ignore[union-attr]
        first.click()
        page.wait_for_selector("#print-sheet")
        # Choosing a site in the list zooms to it and outlines it.
        page.wait_for_function("(id) => window.__kk.outline === id", arg=site_id)
        assert page.evaluate(
            """() => { const b = window.__kk.leaflet.getBounds();
                       const o = window.__kk.state.outline.getBounds();
                       return b.contains(o) && window.__kk.leaflet.getZoom() >= 14; }"""
        ), "the map did not zoom to the site chosen in the list"
        href = page.locator("#print-sheet").get_attribute("href")
        page.screenshot(path=screenshots / "20-site-panel-print.png")
        pdf = page.request.get(service.base + str(href))
        assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
        reader = pypdf.PdfReader(io.BytesIO(pdf.body()))
        pages = [p.extract_text() for p in reader.pages]
        assert all("VERTROUWELIJK — VERKENNING, GEEN BESLUIT" in t for t in pages)
        site = page.request.get(f"{service.base}/api/sites/{layer}/{site_id}").json()
        expl = site["properties"]["explanation"]
        joined = " ".join(" ".join(pages).split())
        for c in expl["criteria"]:
            assert " ".join(c["reason"].split())[:60] in joined, c["reason"]
    finally:
        context.close()


def test_orientation_without_basemap_and_why_names_the_parcel(
    browser: Any, service_offline_basemap: Service, scope: Scope, screenshots: Path
) -> None:
    service = service_offline_basemap
    context, page, rec = new_page(browser, service)
    try:
        login(page, service, service.users["beleidsmaker"])
        wait_map(page)
        page.wait_for_function("() => window.__kk.basemap === 'plain'")
        page.evaluate("window.__kk.leaflet.setZoom(15, {animate: false})")
        page.wait_for_function("() => window.__kk.orientation && window.__kk.orientation.names > 0")
        labels = page.locator(".kk-label").all_inner_texts()
        assert any(t.strip() for t in labels)
        page.screenshot(path=screenshots / "21-orientation-without-basemap.png")

        # "Waarom hier niet?" names the parcel by its kadastrale aanduiding and outlines it: a
        # point inside an excluded parcel of the own municipality, far from every candidate.
        assert service.result is not None
        parcel_id, naam, lon, lat = _excluded_parcel_point(service.result, scope.own)
        page.evaluate(
            "([lat, lon]) => window.__kk.leaflet.setView([lat, lon], 17, {animate: false})",
            [lat, lon],
        )
        page.wait_for_function("() => window.__kk.map.areTilesLoaded()")
        xy = page.evaluate(
            """([lat, lon]) => { const m = window.__kk.leaflet;
                 const p = m.latLngToContainerPoint([lat, lon]);
                 const r = m.getContainer().getBoundingClientRect();
                 return {x: r.left + p.x, y: r.top + p.y}; }""",
            [lat, lon],
        )
        page.mouse.click(xy["x"], xy["y"])
        page.wait_for_selector("#panel[data-kind=why]")
        page.wait_for_function("(id) => window.__kk.outline === id", arg=parcel_id)
        why = next(body for url, body in reversed(rec.json) if "/api/why" in url)
        assert why["parcel"]["parcel_id"] == parcel_id and why["parcel"]["naam"] == naam
        assert page.locator("[data-testid=why-parcel-name]").inner_text() == naam
        assert naam.startswith("Perceel ")
        outlined = page.evaluate(
            """([lat, lon]) => window.__kk.state.outline.getBounds().contains([lat, lon])""",
            [lat, lon],
        )
        assert outlined
        page.screenshot(path=screenshots / "22-why-not-parcel-outlined.png")
    finally:
        context.close()


def test_the_working_tool_on_postgis(
    browser: Any, service_postgis: Service, scope: Scope, screenshots: Path
) -> None:
    """The same tool on the PostGIS store with its state in PostgreSQL: search by address zooms
    to the site and outlines it, a status and note are kept (read back after a reload), and the
    site sheet holds the site's reasons, its status and its map."""
    import pypdf

    service = service_postgis
    assert service.result is not None
    query, layer, site_id = _address_of_site(service.result, scope.own)
    context, page, _rec = new_page(browser, service)
    try:
        login(page, service, service.users["beleidsmaker"])
        wait_map(page)
        page.locator("#search-input").fill(query)
        page.locator("#search-submit").click()
        page.wait_for_selector("#panel[data-kind=site]")
        page.wait_for_function("(id) => window.__kk.outline === id", arg=site_id)
        assert page.evaluate(
            """() => { const b = window.__kk.leaflet.getBounds();
                       const o = window.__kk.state.outline.getBounds();
                       return b.contains(o) && window.__kk.leaflet.getZoom() >= 15; }"""
        ), "the map did not zoom to the site"
        page.wait_for_selector("#status-select")
        page.locator("#status-select").select_option("in_gesprek")
        page.locator("#status-note").fill("Gesprek met de eigenaar op 3 maart")
        page.locator("#status-save").click()
        page.wait_for_function(
            "() => (document.querySelector('[data-testid=status-current]')||{}).textContent?.includes('in gesprek')"
        )
        page.reload()
        page.wait_for_selector("[data-testid=status-note]")
        assert (
            page.locator("[data-testid=status-note]").inner_text()
            == "Gesprek met de eigenaar op 3 maart"
        )
        page.screenshot(path=screenshots / "23-postgis-status-kept.png")
        pdf = page.request.get(f"{service.base}/api/sites/{layer}/{site_id}.pdf")
        assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
        pages = [p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.body())).pages]
        assert all("VERTROUWELIJK — VERKENNING, GEEN BESLUIT" in t for t in pages)
        joined = " ".join(" ".join(pages).split())
        site = page.request.get(f"{service.base}/api/sites/{layer}/{site_id}").json()
        for c in site["properties"]["explanation"]["criteria"]:
            assert " ".join(c["reason"].split())[:60] in joined, c["reason"]
        assert (
            "in gesprek met eigenaar" in joined and "Gesprek met de eigenaar op 3 maart" in joined
        )
        assert "Kaart van de locatie en omgeving" in joined
    finally:
        context.close()
