"""The site list: one table behind the page's list, ``/api/sites.csv`` and ``/api/sites.xlsx``.

The rows come from the store (:meth:`~api.store.data.DataStore.site_rows`, scoped and filtered
like ``/api/sites``); here they are text-filtered, sorted and turned into Dutch columns. The page
shows the ``cells`` of :func:`table_json`, the CSV holds exactly those texts (``;``-separated,
decimal comma, UTF-8 with BOM, as Dutch Excel expects) and the Excel file the same rows and
columns with numbers as numbers.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from api.errors import InvalidRequest
from api.text import homes

LAYER_NAMES = {
    "tijdelijke_locaties": "Tijdelijke locatie",
    "kantoren": "Kantoor",
    "plinten": "Winkelplint",
}
OWNER_NAMES = {
    "provincie": "Provincie",
    "gemeente": "Gemeente",
    "rijk": "Rijk",
    "corporatie": "Woningcorporatie",
    "overig": "Overig",
    "onbekend": "Onbekend",
}


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    kind: str  # "text", "int", "score"


COLUMNS = (
    Column("layer", "Soort", "text"),
    Column("site_id", "Kenmerk", "text"),
    Column("label", "Omschrijving", "text"),
    Column("gemeentenaam", "Gemeente", "text"),
    Column("score", "Score", "score"),
    Column("tier", "Klasse", "text"),
    Column("rank", "Rang", "int"),
    Column("capacity_units", "Woningen", "int"),
    Column("capacity_low", "Woningen (laag)", "int"),
    Column("capacity_high", "Woningen (hoog)", "int"),
    Column("owner_class", "Eigenaar", "text"),
    Column("status", "Status", "text"),
)
SORT_KEYS = {c.key for c in COLUMNS}
#: Rows the page's table shows at most (the files hold every row).
PAGE_ROWS = 5000


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _value(col: Column, v: Any) -> Any:
    """The cell's value (number or text; ``None`` when empty)."""
    if _missing(v):
        return None
    if col.kind == "int":
        return round(float(v))
    if col.kind == "score":
        return round(float(v), 1)
    if col.key == "layer":
        return LAYER_NAMES.get(str(v), str(v))
    if col.key == "owner_class":
        return OWNER_NAMES.get(str(v), str(v))
    return str(v)


def _text(col: Column, v: Any) -> str:
    """The cell as the page and the CSV show it (Dutch decimal comma)."""
    if v is None:
        return ""
    if col.kind == "score":
        return f"{v:.1f}".replace(".", ",")
    return str(v)


def prepare(
    rows: pd.DataFrame,
    *,
    sort: str | None,
    text: str | None,
    statuses: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Filter by ``text`` (in the description, id or municipality; case-insensitive) and sort
    (``key`` ascending, ``-key`` descending; ties by layer and id). Adds ``status``."""
    df = rows.copy()
    df["status"] = (
        [
            (statuses or {}).get(f"{layer}/{sid}", "")
            for layer, sid in zip(df["layer"], df["site_id"], strict=True)
        ]
        if len(df)
        else pd.Series(dtype=object)
    )
    if text:
        needle = text.strip().lower()
        hay = (
            df["label"].fillna("").astype(str)
            + " "
            + df["site_id"].astype(str)
            + " "
            + df["gemeentenaam"].fillna("").astype(str)
        ).str.lower()
        df = df[hay.str.contains(needle, regex=False).to_numpy()]
    key, desc = (sort or "-score"), False
    if key.startswith("-"):
        key, desc = key[1:], True
    if key not in SORT_KEYS:
        raise InvalidRequest(f"Onbekende sorteerkolom '{key}'.")
    order = df.sort_values(
        [key, "layer", "site_id"],
        ascending=[not desc, True, True],
        kind="mergesort",
        na_position="last",
    )
    return order.reset_index(drop=True)


def table_json(df: pd.DataFrame, *, total: int, limit: int = PAGE_ROWS) -> dict[str, Any]:
    """``{columns, rows: [{layer_id, site_id, values, cells}], total, shown}`` for the page."""
    cols = [c for c in COLUMNS]
    out = []
    for rec in df.head(limit).to_dict("records"):
        values = [_value(c, rec.get(c.key)) for c in cols]
        out.append(
            {
                "layer_id": rec["layer"],
                "site_id": rec["site_id"],
                "values": values,
                "cells": [_text(c, v) for c, v in zip(cols, values, strict=True)],
            }
        )
    return {
        "columns": [{"key": c.key, "title": c.title, "kind": c.kind} for c in cols],
        "rows": out,
        "total": total,
        "shown": len(out),
        "summary": f"{len(df)} locaties, samen {homes(int(pd.to_numeric(df['capacity_units'], errors='coerce').fillna(0).sum()))}"
        if len(df)
        else "Geen locaties.",
    }


#: The framing every downloaded list carries (issue 9 item 9: every output that can leave the
#: service says it is an exploration, not a decision, and confidential). A file has no margin
#: for it, so each row carries it in the last column "Let op": a row copied elsewhere keeps it.
FRAMING_TITLE = "Let op"
FRAMING = "Vertrouwelijk — verkenning, geen besluit"


def to_csv(df: pd.DataFrame) -> bytes:
    """The page's columns and texts, then the framing column on every row."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow([*(c.title for c in COLUMNS), FRAMING_TITLE])
    for rec in df.to_dict("records"):
        w.writerow([*(_text(c, _value(c, rec.get(c.key))) for c in COLUMNS), FRAMING])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(df: pd.DataFrame, *, title: str, disclaimer: str) -> bytes:
    """The same rows and columns as the CSV, numbers as numbers; the framing in the last
    column, in the printed header and footer of every page and in the file's properties."""
    import xlsxwriter

    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True, "constant_memory": True})
    sheet = book.add_worksheet("Locaties")
    bold = book.add_format({"bold": True})
    one = book.add_format({"num_format": "0.0"})
    for j, c in enumerate(COLUMNS):
        sheet.write_string(0, j, c.title, bold)
    sheet.write_string(0, len(COLUMNS), FRAMING_TITLE, bold)
    for i, rec in enumerate(df.to_dict("records"), start=1):
        for j, c in enumerate(COLUMNS):
            v = _value(c, rec.get(c.key))
            if v is None:
                continue
            if isinstance(v, (int, float)):
                sheet.write_number(i, j, v, one if c.kind == "score" else None)
            else:
                sheet.write_string(i, j, v)
        sheet.write_string(i, len(COLUMNS), FRAMING)
    sheet.freeze_panes(1, 0)
    marking = FRAMING.upper().replace("&", "&&")
    sheet.set_header(f"&C{marking}")
    sheet.set_footer(f"&L{marking}&RPagina &P van &N")
    book.set_properties({"title": title, "comments": disclaimer, "keywords": "vertrouwelijk"})
    book.close()
    return buf.getvalue()
