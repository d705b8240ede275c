"""``kansenkaart report --gemeente``: the HTML parsed and checked against the result it came from."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pyogrio
import pytest
from needs import need
from typer.testing import CliRunner

from pipeline.businesscase import business_case_table
from pipeline.businesscase.sites import euro
from pipeline.cli import app
from pipeline.styles import TIER_COLORS

from .conftest import DemoRuns

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("analysis_demo")]
TOP = 4


class Page(HTMLParser):
    """Rows (``tr`` with data attributes and their text), tables, resources and the iframe."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[dict[str, str]] = []
        self.resources: list[str] = []
        self.srcdoc: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self._row: dict[str, str] | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        for key in ("src", "href"):
            if key in a:
                self.resources.append(a[key])
        if tag == "iframe":
            self.srcdoc.append(a.get("srcdoc", ""))
        if tag == "tr":
            self._row = {**a, "text": "", "tag": tag}
            self.rows.append(self._row)

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._row is not None:
            self._row["text"] += data + " "


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    return page


@pytest.fixture(scope="module")
def gemeente(demo_runs: DemoRuns) -> str:
    df = pyogrio.read_dataframe(demo_runs.old, layer="tijdelijke_locaties", read_geometry=False)
    return str(df["gemeentecode"].value_counts().index[-1])  # the smallest: a quick report


@pytest.fixture(scope="module")
def report(demo_runs: DemoRuns, gemeente: str, tmp_path_factory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp("report") / f"rapport_{gemeente}.html"
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--gemeente",
            gemeente,
            "--result",
            str(demo_runs.old),
            "--out",
            str(out),
            "--top",
            str(TOP),
        ],
    )
    assert result.exit_code == 0, result.output
    assert out.with_suffix(".pdf").is_file()
    return out.read_text(encoding="utf-8"), out


def _sites(demo_runs: DemoRuns, layer: str, gemeente: str):
    df = pyogrio.read_dataframe(demo_runs.old, layer=layer, read_geometry=False)
    return df[df["gemeentecode"] == gemeente].sort_values(["rank", "site_id"])


def test_framing_metadata_and_every_source_with_its_date(report, demo_runs: DemoRuns) -> None:
    text, _ = report
    page = parse(text)
    body = " ".join(page.text)
    assert "VERTROUWELIJK — VERKENNING, GEEN BESLUIT" in body
    assert "Vertrouwelijk — verkenning, geen besluit" in body  # footer, and every printed page
    assert '@top-center { content: "VERTROUWELIJK — verkenning, geen besluit"' in text
    assert "SYNTHETISCHE DATA" in body
    meta = pyogrio.read_dataframe(demo_runs.old, layer="run_metadata", read_geometry=False)
    values = {k: json.loads(v) for k, v in zip(meta["key"], meta["value"], strict=True)}
    assert values["run_id"] in body
    sources = [r for r in page.rows if r.get("class") == "source"]
    assert len(sources) == len(values["inputs"]) > 5
    for row, inp in zip(sources, values["inputs"], strict=True):
        assert inp["date"] in row["text"]
        assert Path(inp["path"]).name in row["text"]


def test_self_contained_no_network_resource(report) -> None:
    text, _ = report
    page = parse(text)
    external = re.compile(r"^(https?:)?//", re.I)
    assert not [r for r in page.resources if external.match(r)]
    assert len(page.srcdoc) == 1
    doc = page.srcdoc[0]
    inner = parse(doc)
    assert not [r for r in inner.resources if external.match(r)]
    # no tile layer, nothing to fetch: Leaflet itself is inline (its source mentions its own
    # website in a string, which the page never loads)
    assert "L.map(" in doc and "L.tileLayer(" not in doc and "{z}/{x}/{y}" not in doc
    assert "cdn.jsdelivr" not in doc and "cdnjs" not in doc and "code.jquery" not in doc
    assert not re.search(r"@import|url\(\s*['\"]?https?:", text + doc)


def test_map_holds_every_site_coloured_by_tier(report, demo_runs: DemoRuns, gemeente: str) -> None:
    text, _ = report
    doc = parse(text).srcdoc[0]
    collections = [json.loads(m) for m in re.findall(r"_add\((\{.*?\})\);\s*\n", doc, re.S)]
    collections = [c for c in collections if c.get("type") == "FeatureCollection"]
    features = [f for c in collections for f in c["features"] if "site_id" in f["properties"]]
    expected = {
        sid
        for layer in ("tijdelijke_locaties", "kantoren", "plinten")
        for sid in _sites(demo_runs, layer, gemeente)["site_id"]
    }
    assert {f["properties"]["site_id"] for f in features} == expected
    # the style function maps each tier to the palette's colour
    for tier, color in TIER_COLORS.items():
        assert f'"{tier}": "{color}"' in doc or color in doc
    static = re.search(r'<div class="print-only">(.*?)</div>', text, re.S)
    assert static and "<svg" in static.group(1)
    assert TIER_COLORS["A"] in static.group(1) or TIER_COLORS["B"] in static.group(1)


def test_top_sites_per_type_with_their_reasons(report, demo_runs: DemoRuns, gemeente: str) -> None:
    text, _ = report
    page = parse(text)
    rows = page.rows
    for layer in ("tijdelijke_locaties", "kantoren", "plinten"):
        sites = _sites(demo_runs, layer, gemeente).head(TOP)
        start = text.index(f"id='top-{layer}'")
        section = text[start : text.index("</section>", start)]
        shown = re.findall(r"<tr class='site' data-site='([^']+)'", section)
        assert shown == sites["site_id"].tolist()
        for sid, reasons in zip(sites["site_id"], sites["reasons"], strict=True):
            i = next(
                k
                for k, r in enumerate(rows)
                if r.get("data-site") == sid and r.get("class") == "site"
            )
            why = rows[i + 1]
            assert why.get("class") == "why"
            first = str(reasons).split("\n")[0]
            assert html.unescape(first) in why["text"]


def test_capacity_per_tier_equals_the_result(report, demo_runs: DemoRuns, gemeente: str) -> None:
    text, _ = report
    rows = {r["data-klasse"]: r["text"].split() for r in parse(text).rows if "data-klasse" in r}
    for tier in ("A", "B", "C", "D", "E"):
        numbers = [n for n in rows[tier] if re.fullmatch(r"[\d.]+", n)]
        expected = []
        for layer in ("tijdelijke_locaties", "kantoren", "plinten"):
            sub = _sites(demo_runs, layer, gemeente)
            sub = sub[sub["tier"] == tier]
            expected += [
                f"{len(sub):,}".replace(",", "."),
                f"{int(sub['capacity_units'].sum()):,}".replace(",", "."),
            ]
        assert numbers == expected, tier


def test_business_case_of_the_top_sites_equals_the_model(
    report, demo_runs: DemoRuns, gemeente: str
) -> None:
    text, _ = report
    sites = _sites(demo_runs, "tijdelijke_locaties", gemeente).head(5)
    rows = [r for r in parse(text).rows if r.get("class") == "bc"]
    assert [r["data-site"] for r in rows] == sites["site_id"].tolist()
    meta = pyogrio.read_dataframe(demo_runs.old, layer="run_metadata", read_geometry=False)
    values = {k: json.loads(v) for k, v in zip(meta["key"], meta["value"], strict=True)}
    year = int(str(values.get("reference_date") or values["finished_at"])[:4])
    table = business_case_table(
        sites, opportunity_type="tijdelijke_locatie", overrides={"start_year": year}
    )
    for row, npv in zip(rows, table["ncw_eur"], strict=True):
        assert euro(float(npv)) in row["text"]
    assert "<svg" in text[text.index('id="businesscase"') :]


def test_pdf_says_the_same(report, gemeente: str) -> None:
    _, path = report
    pdf = path.with_suffix(".pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    if shutil.which("pdftotext") is None:
        need("pdftotext (poppler-utils) is not installed")
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = text.split("\f")
    assert len([p for p in pages if p.strip()]) >= 4
    assert all("VERTROUWELIJK — verkenning, geen besluit" in p for p in pages if p.strip())
    assert gemeente in text and "Businesscase" in text and "Bronnen" in text


def test_unknown_municipality_is_exit_2_naming_the_codes(demo_runs: DemoRuns, tmp_path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--gemeente",
            "GM9999",
            "--result",
            str(demo_runs.old),
            "--out",
            str(tmp_path / "r.html"),
        ],
    )
    assert result.exit_code == 2
    assert "GM9999" in result.output and "fix:" in result.output
    assert not list(tmp_path.iterdir())
    bad = CliRunner().invoke(app, ["report", "--gemeente", "Delft", "--result", str(demo_runs.old)])
    assert bad.exit_code == 2 and "GM0599" in bad.output
