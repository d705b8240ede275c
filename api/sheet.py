"""The site sheet for the council: one site as a PDF (ReportLab, A4, no internet).

Score, tier, capacity range, status and note, every criterion with its reason, the
aandachtspunten, the sources with dates, and a map of the site and its surroundings drawn from
the result itself (the site, other candidates by tier, excluded parcels and buildings, water,
street names). Every page carries "vertrouwelijk — verkenning, geen besluit".
"""

from __future__ import annotations

import io
import json
from typing import Any
from xml.sax.saxutils import escape

import shapely
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    Flowable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from api.text import homes
from pipeline.styles import TIER_COLORS

CONFIDENTIAL = "vertrouwelijk — verkenning, geen besluit"
LAYER_NAMES = {
    "tijdelijke_locaties": "Tijdelijke locatie",
    "kantoren": "Kantoortransformatie",
    "plinten": "Plinttransformatie",
}
TIER_NAMES = {
    "A": "zeer kansrijk",
    "B": "kansrijk",
    "C": "mogelijk",
    "D": "weinig kansrijk",
    "E": "niet kansrijk",
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
    "housing_plans": "Woningbouwplannen",
    "bsd": "Bebouwd gebied (BSD)",
}


def _p(text: Any, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(text if text is not None else "")).replace("\n", "<br/>"), style)


def _num(v: Any, digits: int = 1) -> str:
    if v is None:
        return "—"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    text = f"{f:,.{digits}f}" if digits else f"{round(f):,}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


class SiteMap(Flowable):
    """The site and its surroundings, drawn from RD geometries (north up, scale bar)."""

    def __init__(self, around: dict[str, Any], width: float, height: float) -> None:
        super().__init__()
        self.around = around
        self.width = width
        self.height = height

    def wrap(self, aw: float, ah: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        c = self.canv
        x0, y0, x1, y1 = self.around["box"]
        scale = min(self.width / (x1 - x0), self.height / (y1 - y0))
        ox = (self.width - (x1 - x0) * scale) / 2
        oy = (self.height - (y1 - y0) * scale) / 2

        def tx(x: float, y: float) -> tuple[float, float]:
            return ox + (x - x0) * scale, oy + (y - y0) * scale

        def poly(geom: Any, fill: Any, stroke: Any, width: float = 0.5) -> None:
            for part in shapely.get_parts(geom):
                if part.geom_type == "Point":
                    px, py = tx(part.x, part.y)
                    c.setFillColor(fill)
                    c.setStrokeColor(stroke)
                    c.circle(px, py, 3, stroke=1, fill=1)
                    continue
                if part.geom_type != "Polygon":
                    continue
                path = c.beginPath()
                for ring in [part.exterior, *part.interiors]:
                    pts = [tx(x, y) for x, y in ring.coords]
                    path.moveTo(*pts[0])
                    for pt in pts[1:]:
                        path.lineTo(*pt)
                    path.close()
                c.setFillColor(fill)
                c.setStrokeColor(stroke)
                c.setLineWidth(width)
                c.drawPath(path, stroke=1, fill=1 if fill is not None else 0, fillMode=0)

        c.saveState()
        c.setFillColor(colors.HexColor("#f4f4ef"))
        c.rect(0, 0, self.width, self.height, stroke=0, fill=1)
        clip = c.beginPath()
        clip.rect(0, 0, self.width, self.height)
        c.clipPath(clip, stroke=0, fill=0)
        for g in self.around["water"]:
            poly(g, colors.HexColor("#b9d7ee"), colors.HexColor("#8ab4d6"))
        for g in self.around["parcels"]:
            poly(g, colors.HexColor("#ffffff"), colors.HexColor("#c8c8c0"), 0.3)
        for g in self.around["buildings"]:
            poly(g, colors.HexColor("#d9d4cc"), colors.HexColor("#a9a39a"), 0.3)
        tiers = TIER_COLORS
        for _name, g, tier in self.around["others"]:
            poly(
                g,
                colors.HexColor(tiers.get(tier or "", "#999999")),
                colors.HexColor("#555555"),
                0.4,
            )
        poly(self.around["site"], colors.Color(0, 0, 0, alpha=0.08), colors.black, 2.2)
        c.setFillColor(colors.HexColor("#333333"))
        c.setFont("Helvetica-Oblique", 7)
        for name, x, y in self.around["streets"][:30]:
            px, py = tx(x, y)
            if 0 <= px <= self.width and 0 <= py <= self.height:
                c.drawCentredString(px, py + 4, name)
        # scale bar (a round length near a quarter of the width)
        meters = (x1 - x0) / 4
        nice = next(
            n for n in (10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000) if n >= meters * 0.6
        )
        c.setStrokeColor(colors.black)
        c.setLineWidth(1.5)
        c.line(8, 8, 8 + nice * scale, 8)
        c.setFillColor(colors.black)
        c.setFont("Helvetica", 7)
        c.drawString(8, 11, f"{nice} m")
        c.drawRightString(self.width - 6, self.height - 10, "N")
        c.restoreState()
        c.setStrokeColor(colors.HexColor("#888888"))
        c.rect(0, 0, self.width, self.height, stroke=1, fill=0)


def render_sheet(
    feature: dict[str, Any],
    *,
    layer: str,
    around: dict[str, Any] | None,
    status: dict[str, Any] | None,
    run: dict[str, Any],
) -> bytes:
    """The sheet of one site as PDF bytes."""
    props = feature["properties"]
    expl = props.get("explanation") or {}
    if isinstance(expl, str):
        try:
            expl = json.loads(expl)
        except ValueError:
            expl = {}
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontSize=9, leading=11.5)
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.5)
    h1 = ParagraphStyle("h1", parent=styles["Heading1"], fontSize=15, spaceAfter=4)
    h2 = ParagraphStyle("h2", parent=styles["Heading2"], fontSize=11.5, spaceBefore=8, spaceAfter=3)
    title = str(props.get("label") or props.get("site_id"))
    story: list[Any] = [
        _p(title, h1),
        _p(
            f"{LAYER_NAMES.get(layer, layer)} · {props.get('gemeentenaam') or props.get('gemeentecode')}"
            f" · kenmerk {props.get('site_id')}",
            body,
        ),
        Spacer(1, 4),
    ]
    tier = props.get("tier")
    cap = expl.get("capacity") or {}
    low, high = (
        props.get("capacity_low", cap.get("low")),
        props.get("capacity_high", cap.get("high")),
    )
    capacity = homes(props.get("capacity_units"))
    if low is not None and high is not None:
        capacity += f" (bandbreedte {_num(low, 0)} tot {_num(high, 0)})"
    facts = [
        ["Score", f"{_num(props.get('score'))} van 100"],
        ["Klasse", f"{tier} — {TIER_NAMES.get(str(tier), 'onbekend')}"],
        ["Geschatte capaciteit", capacity],
        ["Eigenaar", str(props.get("owner_class") or "onbekend")],
        [
            "Rangorde",
            f"{props.get('rank')} in de gemeente (deze soort)" if props.get("rank") else "—",
        ],
    ]
    if status and status.get("status"):
        s = status["status"]
        text = s.get("status_text") or s.get("status")
        if s.get("reason"):
            text += f" (reden: {s['reason']})"
        if s.get("homes") is not None:
            text += f" ({homes(s['homes'])} op {s.get('realised_on')})"
        facts.append(["Status", f"{text} — {s.get('updated_by')}, {s.get('updated_at')}"])
        if s.get("note"):
            facts.append(["Notitie", s["note"]])
    elif status is not None:
        facts.append(["Status", "nieuw (nog niets vastgelegd)"])
    t = Table([[_p(a, body), _p(b, body)] for a, b in facts], colWidths=[40 * mm, 130 * mm])
    t.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#dddddd")),
            ]
        )
    )
    story += [t]
    if around is not None:
        story += [
            _p("Kaart van de locatie en omgeving", h2),
            SiteMap(around, 170 * mm, 95 * mm),
            _p(
                "Zwart omlijnd: deze locatie. Gekleurd: andere kansen (klasse A blauw … E rood); "
                "wit: percelen zonder kans; grijs: panden; blauw: water. Getekend uit het "
                "scanresultaat zelf.",
                small,
            ),
        ]
    story.append(_p("Waarom deze score?", h2))
    rows = [
        [_p("Criterium", small), _p("Waarde", small), _p("Deelscore", small), _p("Gewicht", small)]
    ]
    for c in expl.get("criteria") or []:
        sub = c.get("subscore")
        rows.append(
            [
                _p(c.get("label") or c.get("id"), body),
                _p(
                    c.get("raw_text")
                    or ("geen gegevens" if c.get("raw") is None else _num(c.get("raw"))),
                    body,
                ),
                _p(
                    "—" if sub is None else _num(float(sub) * 100 if float(sub) <= 1 else sub, 0),
                    body,
                ),
                _p(
                    "—" if c.get("weight") is None else f"{_num(float(c['weight']) * 100, 0)}%",
                    body,
                ),
            ]
        )
        rows.append([_p(c.get("reason") or "", small), "", "", ""])
    if len(rows) > 1:
        ct = Table(rows, colWidths=[60 * mm, 60 * mm, 25 * mm, 25 * mm], repeatRows=1)
        style = [
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
        ]
        for i in range(2, len(rows), 2):
            style.append(("SPAN", (0, i), (-1, i)))
            style.append(("LINEBELOW", (0, i), (-1, i), 0.25, colors.HexColor("#dddddd")))
        ct.setStyle(TableStyle(style))
        story.append(ct)
    else:
        story.append(_p("Geen onderbouwing per criterium beschikbaar.", body))
    penalties = expl.get("penalties") or []
    if penalties:
        story.append(_p("Aftrek", h2))
        for pen in penalties:
            story.append(
                _p(
                    f"{pen.get('label') or pen.get('id')}: −{_num(pen.get('penalty'))} punten. {pen.get('reason') or ''}",
                    body,
                )
            )
    story.append(_p("Aandachtspunten", h2))
    points = expl.get("aandachtspunten")
    if points is None:
        raw = props.get("aandachtspunten")
        try:
            points = json.loads(raw) if isinstance(raw, str) else raw or []
        except ValueError:
            points = []
    if points:
        for a in points:
            story.append(_p(f"• {a.get('text')} (bron: {a.get('source') or 'onbekend'})", body))
    else:
        story.append(_p("Geen aandachtspunten vastgelegd.", body))
    notes = [n for n in (expl.get("notes") or []) if n]
    if notes:
        story.append(_p("Opmerkingen", h2))
        for n in notes:
            story.append(_p(f"• {n}", body))
    story.append(_p("Bronnen", h2))
    for s in feature.get("sources") or []:
        story.append(
            _p(
                f"• {SOURCE_NAMES.get(s.get('source'), s.get('source'))} — peildatum {s.get('date') or 'onbekend'}",
                body,
            )
        )
    story.append(
        _p(
            f"Scan {str(run.get('run_id') or '')[:8]} van {run.get('finished_at') or 'onbekend'}"
            + (" · synthetische gegevens" if run.get("synthetic") else ""),
            small,
        )
    )

    def on_page(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica-Bold", 9)
        canvas.setFillColor(colors.HexColor("#b00020"))
        canvas.drawString(18 * mm, A4[1] - 12 * mm, CONFIDENTIAL.upper())
        canvas.setFont("Helvetica", 8)
        canvas.setFillColor(colors.HexColor("#444444"))
        canvas.drawString(18 * mm, 10 * mm, f"Kansenkaart Flexwonen — {CONFIDENTIAL}")
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"pagina {doc.page}")
        canvas.restoreState()

    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"{title} — {CONFIDENTIAL}",
        author="Kansenkaart Flexwonen",
        subject=CONFIDENTIAL,
    )
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buf.getvalue()
