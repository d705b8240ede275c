"""``kansenkaart report --gemeente GMxxxx``: one self-contained HTML file for the council, and a PDF.

The HTML needs nothing from the network: the folium map (sites coloured by tier, the palette of
``pipeline/styles/palette.json``) runs in a sandboxed ``iframe`` whose document carries Leaflet
inline (``pipeline/report_assets``, the web map's Leaflet 1.9.4); the charts are inline SVG.
Printed (or as PDF through WeasyPrint, which runs no JavaScript) a static SVG map replaces the
interactive one. Every page says "Vertrouwelijk — verkenning, geen besluit".

:func:`build_report` is pure (a :class:`~pipeline.results.ResultFile` in, HTML text out);
:func:`render_pdf` turns that HTML into PDF bytes.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipeline import __version__
from pipeline.businesscase import business_case_table, business_cases, load_key_figures
from pipeline.businesscase.model import COMPONENTS
from pipeline.businesscase.sites import SCENARIO_LABELS, euro
from pipeline.errors import UsageError
from pipeline.results import SCORED_LAYERS, ResultFile
from pipeline.scoring.config import format_nl
from pipeline.styles import TIER_COLORS

ASSETS = Path(__file__).with_name("report_assets")
FRAMING = "Vertrouwelijk — verkenning, geen besluit"
TIERS = ("A", "B", "C", "D", "E")
SHORT_TITLES = {
    "tijdelijke_locaties": "Tijdelijke locaties",
    "kantoren": "Kantoren",
    "plinten": "Winkelplinten",
}
TYPE_TITLES = {
    "tijdelijke_locaties": "Tijdelijke locaties (verplaatsbare woningen)",
    "kantoren": "Kantoren om te bouwen",
    "plinten": "Winkelplinten om te bouwen",
}
SOURCE_NAMES = {
    "municipalities": "Gemeentegrenzen (CBS)",
    "parcels": "Kadastrale percelen (BRK)",
    "buildings": "Gebouwen en verblijfsobjecten (BAG)",
    "zoning": "Bestemmingsplannen (IMRO)",
    "vacancy": "Leegstandsregistratie",
    "ownership": "Eigendom",
    "transit_stops": "Haltes openbaar vervoer",
    "noise": "Geluidsbelasting (Lden)",
    "exclusion_zones": "Uitsluitingsgebieden",
    "housing_plans": "Woningbouwplannen (plancapaciteit)",
    "bsd": "Bestaand stads- en dorpsgebied",
    "noise_road": "Geluid wegverkeer",
    "noise_rail": "Geluid railverkeer",
    "noise_industry": "Geluid industrie",
    "noise_aircraft": "Geluid luchtvaart",
}
OWNER_NAMES = {
    "provincie": "provincie",
    "gemeente": "gemeente",
    "rijk": "Rijk",
    "corporatie": "corporatie",
    "overig": "overig",
    "onbekend": "onbekend",
}
COMPONENT_NAMES = {
    "investment": "Investering",
    "rent": "Huur",
    "operating_costs": "Beheer, onderhoud, belastingen",
    "land": "Grond",
    "relocation": "Verplaatsing",
    "residual": "Restwaarde",
}
COMPONENT_COLORS = {
    "investment": "#7f1d1d",
    "rent": "#1b4f72",
    "operating_costs": "#b45309",
    "land": "#6b7280",
    "relocation": "#9333ea",
    "residual": "#15803d",
}


def euro_short(value: float) -> str:
    """Axis labels: € 4,6 mln, −€ 460.000."""
    v = float(value)
    if abs(v) >= 1e6:
        return f"{'−' if v < 0 else ''}€ {format_nl(abs(v) / 1e6, 1)} mln"
    return euro(v)


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: Any, decimals: int = 0) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if not math.isfinite(v) else format_nl(v, decimals)


# ------------------------------------------------------------------------------------ charts
def svg_bar_chart(
    rows: Sequence[tuple[str, dict[str, float]]],
    *,
    colors: dict[str, str],
    title: str,
    unit: str = "",
    width: int = 640,
    value_format: Any = None,
    totals: Sequence[str] | None = None,
) -> str:
    """Horizontal stacked bars: one row per label, one segment per key (all values ≥ 0)."""

    def value_text(v: float) -> str:
        return value_format(v) if value_format is not None else f"{_num(v)}{unit}"

    bar_h, gap, right = 22, 8, 120
    left = min(320, 20 + 9 * max([len(label) for label, _ in rows] + [4]))
    height = len(rows) * (bar_h + gap) + 12
    total_max = max([sum(v.values()) for _, v in rows] + [1e-9])
    scale = (width - left - right) / total_max
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{esc(title)}"><title>{esc(title)}</title>'
    ]
    for i, (label, values) in enumerate(rows):
        y = 10 + i * (bar_h + gap)
        parts.append(
            f'<text x="{left - 6}" y="{y + bar_h * 0.7:.1f}" text-anchor="end" class="lbl">{esc(label)}</text>'
        )
        x = float(left)
        for key, v in values.items():
            w = max(v, 0.0) * scale
            if w > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                    f'fill="{colors.get(key, "#888")}" stroke="#333" stroke-width="0.5">'
                    f"<title>{esc(key)}: {esc(value_text(v))}</title></rect>"
                )
            x += w
        parts.append(
            f'<text x="{x + 4:.1f}" y="{y + bar_h * 0.7:.1f}" class="val">'
            f"{esc(totals[i] if totals is not None else value_text(sum(values.values())))}</text>"
        )
    parts.append("</svg>")
    legend = "".join(
        f"<li><span class='sw' style='background:{color}'></span>{esc(key)}</li>"
        for key, color in colors.items()
    )
    return "".join(parts) + f"<ul class='chart-legend'>{legend}</ul>"


def svg_cashflow_chart(rows: Sequence[dict[str, Any]], *, title: str, width: int = 640) -> str:
    """Stacked bars of the yearly cash flow by component and the cumulative present value."""
    height, pad_l, pad_r, pad_t, pad_b = 220, 96, 10, 10, 24
    lo = min([0.0] + [r["cumulative_pv"] for r in rows])
    hi = max([0.0] + [r["cumulative_pv"] for r in rows])
    for r in rows:
        pos = sum(max(r[c], 0.0) for c in COMPONENTS)
        neg = sum(min(r[c], 0.0) for c in COMPONENTS)
        lo, hi = min(lo, neg), max(hi, pos)
    if hi == lo:
        hi = lo + 1.0
    w = (width - pad_l - pad_r) / max(len(rows), 1)

    def y(v: float) -> float:
        return pad_t + (hi - v) / (hi - lo) * (height - pad_t - pad_b)

    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{esc(title)}"><title>{esc(title)}</title>'
    ]
    for v in (lo, 0.0, hi):
        out.append(
            f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            f'stroke="{"#111" if v == 0 else "#ccc"}"/>'
            f'<text x="{pad_l - 4}" y="{y(v) + 4:.1f}" text-anchor="end" class="lbl">{esc(euro_short(v))}</text>'
        )
    for i, r in enumerate(rows):
        up = down = 0.0
        for c in COMPONENTS:
            v = float(r[c])
            if v == 0:
                continue
            top, bottom = (up + v, up) if v > 0 else (down, down + v)
            if v > 0:
                up += v
            else:
                down += v
            out.append(
                f'<rect x="{pad_l + i * w + w * 0.12:.1f}" width="{max(w * 0.76, 1):.1f}" '
                f'y="{y(top):.1f}" height="{max(y(bottom) - y(top), 0.5):.1f}" fill="{COMPONENT_COLORS[c]}"/>'
            )
        if len(rows) <= 20 or i % 5 == 0:
            out.append(
                f'<text x="{pad_l + (i + 0.5) * w:.1f}" y="{height - pad_b + 14}" text-anchor="middle" class="lbl">{r["year"]}</text>'
            )
    pts = " ".join(
        f"{pad_l + (i + 0.5) * w:.1f},{y(r['cumulative_pv']):.1f}" for i, r in enumerate(rows)
    )
    out.append(f'<polyline points="{pts}" fill="none" stroke="#111" stroke-width="2"/>')
    out.append("</svg>")
    legend = "".join(
        f"<li><span class='sw' style='background:{COMPONENT_COLORS[c]}'></span>{esc(COMPONENT_NAMES[c])}</li>"
        for c in COMPONENTS
    )
    return "".join(out) + (
        f"<ul class='chart-legend'>{legend}<li><span class='sw line'></span>Cumulatieve contante waarde</li></ul>"
    )


def svg_site_map(
    boundary: shapely.Geometry | None, sites: dict[str, gpd.GeoDataFrame], *, width: int = 640
) -> str:
    """A static map (RD coordinates) of the municipality and its sites, coloured by tier."""
    geoms = [g for g in [boundary] if g is not None and not g.is_empty]
    for gdf in sites.values():
        geoms.extend(gdf.geometry.dropna().tolist())
    if not geoms:
        return ""
    minx, miny, maxx, maxy = shapely.total_bounds(np.array(geoms, dtype=object))
    span = max(maxx - minx, maxy - miny, 1.0)
    height = int(width * (maxy - miny) / span) if maxy > miny else width
    height = max(min(height, width), 200)
    s = min(width / max(maxx - minx, 1.0), height / max(maxy - miny, 1.0))

    def path(g: shapely.Geometry) -> str:
        parts = []
        polys = getattr(g, "geoms", [g])
        for p in polys:
            for ring in [p.exterior, *p.interiors]:
                xy = np.asarray(ring.coords)
                pts = " ".join(f"{(x - minx) * s:.0f},{(maxy - yy) * s:.0f}" for x, yy in xy)
                parts.append(f"M{pts}Z")
        return " ".join(parts)

    out = [
        f'<svg class="map-static" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        'role="img" aria-label="Kaart van de locaties, gekleurd naar klasse"><title>Locaties naar klasse</title>'
    ]
    if boundary is not None and not boundary.is_empty:
        out.append(f'<path d="{path(boundary)}" fill="#f2f2ee" stroke="#444" stroke-width="1"/>')
    for layer, gdf in sites.items():
        stroke = "#3b1f5c" if layer == "kantoren" else "#111"
        for tier in TIERS:
            sub = gdf.geometry[gdf["tier"].astype(str) == tier]
            sub = sub[sub.notna() & ~sub.is_empty]
            if not len(sub):
                continue
            color = TIER_COLORS.get(tier, "#888")
            if layer == "plinten":
                pts = shapely.get_coordinates(shapely.centroid(sub.to_numpy()))
                dots = "".join(
                    f"M{(x - minx) * s - 2:.1f},{(maxy - y) * s:.1f}a2,2 0 1,0 4,0a2,2 0 1,0 -4,0"
                    for x, y in pts
                )
                out.append(f'<path d="{dots}" fill="{color}" stroke="#111" stroke-width="0.4"/>')
            else:
                d = " ".join(path(g) for g in sub)
                out.append(
                    f'<path d="{d}" fill="{color}" stroke="{stroke}" stroke-width="0.4" fill-rule="evenodd"/>'
                )
    out.append("</svg>")
    return "".join(out)


# ------------------------------------------------------------------------------------ the map
def _leaflet_inline() -> tuple[str, str]:
    js = (ASSETS / "leaflet.js").read_text(encoding="utf-8")
    css = (ASSETS / "leaflet.css").read_text(encoding="utf-8")
    css = re.sub(r"url\((?!#)[^)]*\)", "none", css)  # control images: not used, never fetched
    return js, css


def folium_map_document(
    boundary_wgs: gpd.GeoDataFrame | None, sites_wgs: dict[str, gpd.GeoDataFrame]
) -> str:
    """A complete HTML document with the folium map, Leaflet inline, no network at all."""
    import folium

    frames = [g for g in sites_wgs.values() if len(g)]
    bounds_src = pd.concat(frames) if frames else boundary_wgs
    if bounds_src is None or len(bounds_src) == 0:
        return "<!doctype html><html><body><p>Geen locaties.</p></body></html>"
    minx, miny, maxx, maxy = bounds_src.total_bounds
    m = folium.Map(
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        zoom_start=13,
        tiles=None,
        control_scale=True,
        prefer_canvas=True,
        attributionControl=False,  # no link out of a confidential, offline document
    )
    m.default_js = []
    m.default_css = []
    js, css = _leaflet_inline()
    root: Any = m.get_root()  # a branca Figure (header/html/script)
    root.header.add_child(folium.Element(f"<style>{css}</style>"), name="leaflet_css", index=0)
    root.header.add_child(folium.Element(f"<script>{js}</script>"), name="leaflet_js", index=1)
    if boundary_wgs is not None and len(boundary_wgs):
        folium.GeoJson(
            boundary_wgs[["gemeentenaam", "geometry"]].to_json(),
            name="Gemeentegrens",
            style_function=lambda f: {"color": "#333", "weight": 2, "fill": False},
        ).add_to(m)
    for layer, gdf in sites_wgs.items():
        if not len(gdf):
            continue
        data = gdf[["site_id", "label", "tier", "score", "capacity_units", "geometry"]].copy()
        data["soort"] = TYPE_TITLES[layer]
        data["score"] = data["score"].round(1)
        point = layer == "plinten"
        folium.GeoJson(
            data.to_json(drop_id=True),
            name=TYPE_TITLES[layer],
            marker=folium.CircleMarker(radius=5, weight=1, fill_opacity=0.9) if point else None,
            style_function=lambda f, point=point: {
                "color": "#111",
                "weight": 1 if point else 0.8,
                "fillColor": TIER_COLORS.get(f["properties"]["tier"], "#888"),
                "fillOpacity": 0.85,
            },
            tooltip=folium.GeoJsonTooltip(
                fields=["label", "soort", "tier", "score", "capacity_units"],
                aliases=["Locatie", "Soort", "Klasse", "Score", "Woningen"],
            ),
        ).add_to(m)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    legend = "".join(
        f'<div><span style="display:inline-block;width:14px;height:12px;background:{TIER_COLORS[t]};'
        f'border:1px solid #333;margin-right:6px"></span>Klasse {t}</div>'
        for t in TIERS
    )
    root.html.add_child(
        folium.Element(
            '<div style="position:absolute;right:10px;bottom:24px;z-index:1000;background:#fff;'
            f'border:1px solid #666;padding:6px 8px;font:12px sans-serif">{legend}</div>'
        )
    )
    return root.render()


# ------------------------------------------------------------------------------------ report
def _sites_of(result: ResultFile, gemeente: str) -> dict[str, gpd.GeoDataFrame]:
    out = {}
    for layer in SCORED_LAYERS:
        gdf = result.layers.get(layer)
        if gdf is None or "gemeentecode" not in gdf.columns:
            continue
        sub = gdf[gdf["gemeentecode"] == gemeente]
        out[layer] = sub.sort_values(["rank", "site_id"], kind="mergesort")
    return out


def _capacity_per_tier(result: ResultFile, sites: dict[str, gpd.GeoDataFrame]) -> pd.DataFrame:
    rows = []
    for layer, gdf in sites.items():
        counts = gdf.groupby("tier")["capacity_units"].agg(["count", "sum"])
        for t in TIERS:
            n, cap = (counts.loc[t, "count"], counts.loc[t, "sum"]) if t in counts.index else (0, 0)
            rows.append({"laag": layer, "klasse": t, "locaties": int(n), "woningen": int(cap)})
    return pd.DataFrame(rows)


def _reasons_html(text: Any) -> str:
    lines = [ln for ln in str(text or "").split("\n") if ln.strip()]
    return "<ul class='reasons'>" + "".join(f"<li>{esc(ln)}</li>" for ln in lines) + "</ul>"


def build_report(
    result: ResultFile,
    *,
    gemeente: str,
    top_n: int = 10,
    business_case_n: int = 5,
    knobs: dict[str, Any] | None = None,
    generated: dt.datetime | None = None,
) -> str:
    """The report of one municipality as one self-contained HTML document.

    Parameters
    ----------
    result
        A result read with geometry, every column but the explanation, and ``gemeenten``.
    gemeente
        The municipality code (``GM0599``).
    top_n
        Sites listed per type (best rank first).
    business_case_n
        Temporary sites whose business case is computed (default knobs, start year = the
        run's reference year, overridable with ``knobs``).

    Raises
    ------
    UsageError
        When the municipality is not in the result.
    """
    meta = result.metadata
    scanned = [str(c) for c in meta.get("gemeenten") or []]
    names = {}
    boundary = None
    if result.gemeenten is not None and len(result.gemeenten):
        names = dict(
            zip(result.gemeenten["gemeentecode"], result.gemeenten["gemeentenaam"], strict=False)
        )
        sel = result.gemeenten[result.gemeenten["gemeentecode"] == gemeente]
        boundary = sel if len(sel) else None
    if gemeente not in scanned and gemeente not in names:
        listing = ", ".join(sorted(set(scanned) | set(names))) or "geen"
        raise UsageError(
            f"municipality {gemeente} is not in {result.path.name} (it has: {listing})\n"
            "    fix: pass one of these codes with --gemeente, or scan that municipality first"
        )
    naam = str(names.get(gemeente, gemeente))
    sites = _sites_of(result, gemeente)
    generated = generated or dt.datetime.now(dt.UTC)
    synthetic = bool(meta.get("synthetic"))
    disclaimer = str(meta.get("disclaimer") or "")

    # capacity per tier
    cap = _capacity_per_tier(result, sites)
    counts: dict[tuple[str, str], tuple[int, int]] = {
        (str(laag), str(klasse)): (int(n), int(w))
        for laag, klasse, n, w in zip(
            cap["laag"],
            cap["klasse"],
            cap["locaties"].tolist(),
            cap["woningen"].tolist(),
            strict=True,
        )
    }
    cap_rows = [
        (
            SHORT_TITLES[layer],
            {f"Klasse {t}": float(counts.get((layer, t), (0, 0))[1]) for t in TIERS},
        )
        for layer in SCORED_LAYERS
    ]
    cap_chart = svg_bar_chart(
        cap_rows,
        colors={f"Klasse {t}": TIER_COLORS[t] for t in TIERS},
        title="Geschatte woningen per klasse en soort",
        unit=" won.",
    )
    head_cells = "".join(
        f"<th class='num' scope='col'>{esc(SHORT_TITLES[layer])}: locaties</th>"
        f"<th class='num' scope='col'>woningen</th>"
        for layer in SCORED_LAYERS
    )
    body = []
    for t in (*TIERS, "totaal"):
        cells = []
        for layer in SCORED_LAYERS:
            if t == "totaal":
                n = sum(counts.get((layer, k), (0, 0))[0] for k in TIERS)
                w = sum(counts.get((layer, k), (0, 0))[1] for k in TIERS)
            else:
                n, w = counts.get((layer, t), (0, 0))
            cells.append(f"<td class='num'>{_num(n)}</td><td class='num'>{_num(w)}</td>")
        label = "Totaal" if t == "totaal" else f"Klasse {t}"
        body.append(f"<tr data-klasse='{t}'><th scope='row'>{label}</th>{''.join(cells)}</tr>")
    cap_table = (
        "<table class='data capacity'><caption>Locaties en geschatte woningen per klasse</caption>"
        f"<thead><tr><th scope='col'>Klasse</th>{head_cells}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )
    ab = sum(w for (_, t), (_, w) in counts.items() if t in ("A", "B"))

    # top sites per type
    top_html = []
    for layer, gdf in sites.items():
        head = gdf.head(top_n)
        rows = []
        for _, r in head.iterrows():
            rows.append(
                f"<tr class='site' data-site='{esc(r['site_id'])}'><td class='num'>{_num(r['rank'])}</td>"
                f"<td><strong>{esc(r.get('label') or r['site_id'])}</strong><br><span class='mono'>{esc(r['site_id'])}</span></td>"
                f"<td class='tier tier-{esc(r['tier'])}'>{esc(r['tier'])}</td><td class='num'>{_num(r['score'], 1)}</td>"
                f"<td class='num'>{_num(r['capacity_units'])}</td><td>{esc(OWNER_NAMES.get(str(r.get('owner_class')), r.get('owner_class')))}</td></tr>"
                f"<tr class='why'><td></td><td colspan='5'>{_reasons_html(r.get('reasons'))}</td></tr>"
            )
        top_html.append(
            f"<section class='type' id='top-{layer}'><h3>{esc(TYPE_TITLES[layer])}: de {len(head)} beste van {len(gdf)}</h3>"
            + (
                "<table class='data top'><colgroup><col class='c-rank'><col class='c-site'><col class='c-tier'>"
                "<col class='c-score'><col class='c-homes'><col class='c-owner'></colgroup><thead><tr><th class='num'>Rang</th><th>Locatie</th><th>Klasse</th>"
                "<th class='num'>Score</th><th class='num'>Woningen</th><th>Eigenaar</th></tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>"
                if rows
                else "<p class='muted'>Geen kandidaten van deze soort in deze gemeente.</p>"
            )
            + "</section>"
        )

    # business case of the best temporary sites
    ref = str(meta.get("reference_date") or "")[:4]
    start_year = int(ref) if ref.isdigit() else generated.year
    overrides = {"start_year": start_year, **(knobs or {})}
    tl = sites.get("tijdelijke_locaties", gpd.GeoDataFrame()).head(business_case_n)
    bc_html = "<p class='muted'>Geen tijdelijke locaties in deze gemeente.</p>"
    if len(tl):
        kf = load_key_figures()
        table = business_case_table(
            tl, opportunity_type="tijdelijke_locatie", overrides=overrides, key_figures=kf
        )
        case, resolved = business_cases(
            tl, opportunity_type="tijdelijke_locatie", overrides=overrides, key_figures=kf
        )
        rows = []
        for (_, site), (_, bc) in zip(tl.iterrows(), table.iterrows(), strict=True):
            be_term = bc["break_even_termijn_jaar"]
            rows.append(
                f"<tr class='bc' data-site='{esc(site['site_id'])}'><td>{esc(site.get('label') or site['site_id'])}</td>"
                f"<td class='num'>{_num(bc['woningen'])}</td><td class='num'>{_num(bc['eerste_termijn_jaar'])} jaar</td>"
                f"<td class='num'>{esc(euro(bc['investering_eur']))}</td><td class='num npv'>{esc(euro(bc['ncw_eur']))}</td>"
                f"<td class='num'>{'—' if not np.isfinite(bc['irr']) else _num(bc['irr'] * 100, 1) + ' %'}</td>"
                f"<td class='num'>{esc(euro(bc['break_even_huur_eur']))}</td>"
                f"<td class='num'>{'niet binnen 40 jaar' if not np.isfinite(be_term) else _num(be_term) + ' jaar'}</td></tr>"
            )
        best = case.site(0)
        npv_rows = [
            (
                str(site["site_id"]),
                {"netto contante waarde": max(float(v), 0.0), "tekort": max(-float(v), 0.0)},
            )
            for (_, site), v in zip(tl.iterrows(), table["ncw_eur"], strict=True)
        ]
        used = [
            f"{esc(spec.label)}: {esc(_knob_text(getattr(resolved, name), spec.unit, spec.choices))}"
            for name, spec in kf.knobs.items()
            if name
            in (
                "unit_cost_eur",
                "rent_eur_month",
                "land_option",
                "scenario",
                "discount_rate",
                "first_term_years",
            )
        ]
        bc_html = (
            "<table class='data bc'><thead><tr><th>Locatie</th><th class='num'>Woningen</th><th class='num'>Eerste termijn</th>"
            "<th class='num'>Investering</th><th class='num'>Netto contante waarde</th><th class='num'>IRR</th>"
            "<th class='num'>Break-even huur p/m</th><th class='num'>Break-even termijn</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
            f"<p class='small'>Scenario na de eerste termijn: {esc(SCENARIO_LABELS[resolved.scenario].lower())}. "
            f"Kengetallen: {'; '.join(used)} (overige en hun bronnen: pipeline/businesscase/kengetallen.yaml). "
            "Een negatieve netto contante waarde is het tekort (de onrendabele top) bij deze kengetallen.</p>"
            + svg_bar_chart(
                npv_rows,
                colors={"netto contante waarde": "#15803d", "tekort": "#8a1111"},
                title="Netto contante waarde (groen) of tekort (rood) per locatie",
                totals=[euro(float(v)) for v in table["ncw_eur"]],
            )
            + f"<h3>Kasstroom per jaar: {esc(tl.iloc[0].get('label') or tl.iloc[0]['site_id'])}</h3>"
            + svg_cashflow_chart(
                cast(list[dict[str, Any]], best["cashflow"]),
                title="Kasstroom per jaar en cumulatieve contante waarde",
            )
        )

    # maps
    sites_wgs = {k: v.to_crs(4326) for k, v in sites.items() if len(v) and v.crs is not None}
    for k, v in sites_wgs.items():
        sites_wgs[k] = v.set_geometry(shapely.set_precision(v.geometry.array, 1e-6))
    boundary_wgs = (
        boundary.to_crs(4326) if boundary is not None and boundary.crs is not None else None
    )
    doc = folium_map_document(boundary_wgs, sites_wgs)
    static_map = svg_site_map(
        boundary.geometry.iloc[0] if boundary is not None else None,
        {k: v for k, v in sites.items() if len(v)},
    )

    # score distribution
    hist_rows = []
    for layer, gdf in sites.items():
        bins = {f"Klasse {t}": float((gdf["tier"] == t).sum()) for t in TIERS}
        hist_rows.append((SHORT_TITLES[layer], bins))
    tier_chart = svg_bar_chart(
        hist_rows,
        colors={f"Klasse {t}": TIER_COLORS[t] for t in TIERS},
        title="Aantal locaties per klasse",
        unit="",
    )

    # metadata and sources
    inputs = meta.get("inputs") or []
    source_rows = "".join(
        f"<tr class='source'><td>{esc(SOURCE_NAMES.get(str(i.get('source')), i.get('source')))}</td>"
        f"<td>{esc(i.get('date') or 'onbekend')}</td><td>{esc(i.get('format'))}</td>"
        f"<td class='mono'>{esc(Path(str(i.get('path', ''))).name)}</td>"
        f"<td class='mono'>{esc(str(i.get('sha256', ''))[:12])}</td></tr>"
        for i in inputs
    )
    warnings = meta.get("warnings") or []
    meta_rows = [
        ("Run", meta.get("run_id")),
        ("Gestart", meta.get("started_at")),
        ("Klaar", meta.get("finished_at")),
        ("Softwareversie scan", meta.get("software_version")),
        ("Configuratie (sha256)", str(meta.get("config_sha256") or "")[:16]),
        ("Peildatum", meta.get("reference_date") or "—"),
        ("Gescande gemeenten", ", ".join(scanned)),
        ("Synthetische data", "ja" if synthetic else "nee"),
        (
            "Rapport gemaakt",
            generated.strftime("%Y-%m-%d %H:%M UTC") + f" (kansenkaart {__version__})",
        ),
    ]
    meta_html = "".join(
        f"<tr><th scope='row'>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in meta_rows
    )

    title = f"Kansenkaart Flexwonen — {naam} ({gemeente})"
    n_sites = sum(len(v) for v in sites.values())
    return f"""<!doctype html>
<html lang="nl">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="kansenkaart:gemeente" content="{esc(gemeente)}">
<meta name="kansenkaart:run" content="{esc(meta.get("run_id"))}">
<title>{esc(title)} — vertrouwelijk</title>
<style>{REPORT_CSS}</style>
</head>
<body>
<header class="banner" role="banner">
  <p class="framing" id="framing"><strong>{esc(FRAMING.upper())}</strong></p>
  <p class="framing-text">{esc(disclaimer) or "Alleen voor de betrokken overheden en corporaties; niet verspreiden."}</p>
  {"<p class='synthetic' id='synthetic'><strong>SYNTHETISCHE DATA</strong> — verzonnen percelen en panden uit de voorbeeldgenerator.</p>" if synthetic else ""}
</header>
<main>
<h1>{esc(title)}</h1>
<p class="lead">{n_sites} kansrijke plekken voor tijdelijke woningen in {esc(naam)}, samen naar schatting
<strong>{format_nl(ab)} woningen op locaties met klasse A of B</strong>. Een verkenning: elke locatie vraagt
nader onderzoek en een eigen besluit.</p>

<section id="kaart">
<h2>Kaart</h2>
<div class="screen-only map-frame"><iframe title="Kaart van de locaties, gekleurd naar klasse" sandbox="allow-scripts" srcdoc="{esc(doc)}"></iframe></div>
<div class="print-only">{static_map}</div>
<p class="legend">{"".join(f"<span class='sw' style='background:{TIER_COLORS[t]}'></span>Klasse {t} " for t in TIERS)}</p>
</section>

<section id="capaciteit">
<h2>Capaciteit per klasse</h2>
{cap_table}
{cap_chart}
{tier_chart}
</section>

<section id="top">
<h2>De beste locaties per soort, met de redenen</h2>
{"".join(top_html)}
</section>

<section id="businesscase">
<h2>Businesscase van de beste tijdelijke locaties</h2>
{bc_html}
</section>

<section id="verantwoording">
<h2>Verantwoording</h2>
<h3>Berekening</h3>
<table class="data meta">{meta_html}</table>
{"<h3>Waarschuwingen van de scan</h3><ul>" + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>" if warnings else ""}
<h3>Bronnen</h3>
<table class="data sources"><thead><tr><th>Bron</th><th>Peildatum</th><th>Formaat</th><th>Bestand</th><th>sha256</th></tr></thead>
<tbody>{source_rows}</tbody></table>
</section>
</main>
<footer><p>{esc(FRAMING)}. {esc(disclaimer)}</p></footer>
</body>
</html>
"""


def _knob_text(value: Any, unit: str, choices: dict[str, str] | None = None) -> str:
    if value is None:
        return "uit de locatie"
    if choices:
        return choices.get(str(value), str(value)).lower()
    if unit == "fraction":
        return f"{format_nl(float(value) * 100, 2)} %"
    if unit == "euro":
        return euro(float(value))
    return str(value)


REPORT_CSS = """
@page { size: A4; margin: 16mm 14mm 18mm;
  @top-center { content: "VERTROUWELIJK — verkenning, geen besluit"; color: #a4161a; font: 700 9pt sans-serif; }
  @bottom-right { content: "pagina " counter(page) " van " counter(pages); font: 8pt sans-serif; } }
body { font: 11pt/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: #1b1b1b; margin: 0 auto; max-width: 1000px; padding: 0 16px; }
h1 { font-size: 1.6rem; margin: 0.6rem 0; } h2 { font-size: 1.25rem; margin: 1.4rem 0 0.5rem; border-bottom: 2px solid #1b4f72; }
h3 { font-size: 1.05rem; margin: 1rem 0 0.3rem; }
.banner { border: 3px solid #a4161a; padding: 6px 10px; margin: 10px 0; }
.framing { color: #a4161a; margin: 0; letter-spacing: 0.05em; } .framing-text { margin: 2px 0 0; font-size: 0.9rem; }
.synthetic { color: #6a3d9a; margin: 4px 0 0; font-size: 0.9rem; }
.lead { font-size: 1.05rem; }
.map-frame iframe { width: 100%; height: 520px; border: 1px solid #666; }
.map-static { width: 100%; height: auto; border: 1px solid #666; }
.legend .sw { display: inline-block; width: 14px; height: 12px; border: 1px solid #333; margin: 0 4px 0 10px; }
table.data { border-collapse: collapse; width: 100%; font-size: 0.85rem; margin: 0.4rem 0 0.8rem; }
table.data th, table.data td { border-bottom: 1px solid #c9ced6; padding: 3px 5px; text-align: left; vertical-align: top; }
table.data thead th { border-bottom: 2px solid #1b1b1b; }
table.data caption { text-align: left; font-weight: 600; padding-bottom: 4px; }
.num { text-align: right; white-space: nowrap; } .mono { font-family: monospace; font-size: 0.8rem; word-break: break-all; }
.tier { font-weight: 800; text-align: center; }
.tier-A { background: #2c7bb6; color: #fff; } .tier-B { background: #abd9e9; } .tier-C { background: #ffffbf; }
.tier-D { background: #fdae61; } .tier-E { background: #d7191c; color: #fff; }
ul.reasons { margin: 0 0 4px; padding-left: 1rem; font-size: 0.8rem; }
tr.site td, tr.site th { border-bottom: 0; } tr.why td { padding-top: 0; }
.chart { width: 100%; height: auto; margin: 0.4rem 0; } .chart .lbl { font: 11px sans-serif; fill: #222; } .chart .val { font: 11px sans-serif; fill: #222; }
.small { font-size: 0.85rem; } .muted { color: #4a4f57; }
.chart-legend { list-style: none; display: flex; flex-wrap: wrap; gap: 2px 14px; padding: 0; margin: 0 0 0.8rem; font-size: 0.8rem; }
.chart-legend .sw { display: inline-block; width: 12px; height: 10px; border: 1px solid #333; margin-right: 4px; }
.chart-legend .sw.line { height: 0; border: 0; border-top: 2px solid #111; }
footer { border-top: 1px solid #999; margin: 2rem 0 1rem; font-size: 0.85rem; color: #a4161a; }
.print-only { display: none; }
@media print {
  .screen-only { display: none !important; } .print-only { display: block; }
  body { max-width: none; padding: 0; font-size: 9pt; }
  table.data { font-size: 7.5pt; table-layout: fixed; } .num { white-space: normal; }
  table.top col.c-rank { width: 7%; } table.top col.c-site { width: 43%; } table.top col.c-tier { width: 9%; }
  table.top col.c-score { width: 10%; } table.top col.c-homes { width: 12%; } table.top col.c-owner { width: 19%; }
  h2 { page-break-after: avoid; } section#top, section#businesscase, section#verantwoording { page-break-before: always; }
  tr { page-break-inside: avoid; } .banner { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .tier { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def render_pdf(html_text: str) -> bytes:
    """The report as PDF (WeasyPrint; print styles: the static map replaces the interactive one)."""
    from weasyprint import HTML

    # The iframe's document (Leaflet and the map data) has no use on paper: leave it out.
    printable = re.sub(r'<div class="screen-only map-frame">.*?</div>', "", html_text, flags=re.S)
    return bytes(HTML(string=printable).write_pdf())


def report_json_summary(result: ResultFile, gemeente: str) -> dict[str, Any]:
    """Counts the report is built from (for tests and the command's summary line)."""
    sites = _sites_of(result, gemeente)
    return {layer: len(gdf) for layer, gdf in sites.items()} | {
        "run_id": result.metadata.get("run_id")
    }


__all__ = ["FRAMING", "build_report", "json", "render_pdf", "report_json_summary"]
