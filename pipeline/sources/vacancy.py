"""Vacancy CSV reader: one row per vacant verblijfsobject with the date vacancy started."""

from __future__ import annotations

import pandas as pd

from pipeline.schemas import format_rows
from pipeline.sources._common import Issues, find_column, isin, require_column, text_column

VBO_PREFIX = "NL.IMBAG.Verblijfsobject."
#: Date formats tried in order: ISO first, then the Dutch day-first spellings spreadsheets write.
DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%Y%m%d")


def parse_dates(values: pd.Series) -> pd.Series:
    """Parse dates written as ISO ``2021-03-01`` (or ``01-03-2021``); failures become NaT."""
    text = values.astype("str").where(values.notna()).str.strip().str.slice(0, 10)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for fmt in DATE_FORMATS:
        todo = out.isna() & text.notna()
        if not todo.any():
            break
        out[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce")
    return out


def vacancy_from_csv(table: pd.DataFrame, issues: Issues) -> pd.DataFrame:
    """Canonical ``vacancy`` from a vacancy CSV read as text.

    ``table``'s index is the line number in the file, so messages can point at it.
    Ids lose an ``NL.IMBAG.Verblijfsobject.`` prefix and regain leading zeros a spreadsheet
    stripped (BAG ids are 16 digits).
    """
    id_col = require_column(
        table,
        ["verblijfsobject_id", "vbo_id", "identificatie"],
        issues,
        what="the verblijfsobject id",
    )
    date_col = require_column(
        table, ["leegstand_sinds", "vacant_since", "sinds"], issues, what="the date vacancy started"
    )
    src_col = find_column(table, ["bron", "source"])
    if id_col is None or date_col is None:
        return pd.DataFrame(columns=["vbo_id", "vacant_since", "source"])
    ids = text_column(table, id_col).str.removeprefix(VBO_PREFIX)
    digits = ids.str.fullmatch(r"\d{1,16}").fillna(False).astype(bool)
    ids = ids.where(~digits, ids.str.zfill(16))
    raw_dates = text_column(table, date_col)
    dates = parse_dates(raw_dates)
    bad = raw_dates.notna() & dates.isna()
    if bad.any():
        examples = format_rows([repr(v) for v in raw_dates[bad].head(5)])
        issues.problem(
            f"{int(bad.sum())} date(s) cannot be read (e.g. {examples})",
            fix="write dates as YYYY-MM-DD (e.g. 2021-03-01)",
            column=date_col,
            row=format_rows(table.index[bad]),
        )
        dates = dates.where(~bad, pd.Timestamp("1970-01-01"))  # reported; keep validation quiet
    empty = raw_dates.isna()
    if empty.any():
        issues.problem(
            f"{int(empty.sum())} row(s) without a date",
            fix="fill in the date vacancy started (YYYY-MM-DD)",
            column=date_col,
            row=format_rows(table.index[empty]),
        )
        dates = dates.where(~empty, pd.Timestamp("1970-01-01"))
    future = dates > pd.Timestamp.now()
    if future.any():
        issues.warn(f"{int(future.sum())} vacancy date(s) lie in the future")
    return pd.DataFrame(
        {"vbo_id": ids, "vacant_since": dates, "source": text_column(table, src_col)},
        index=table.index,
    )


def unknown_vbo_ids(vacancy: pd.DataFrame, unit_ids: pd.Series) -> pd.DataFrame:
    """The vacancy rows whose ``vbo_id`` is not a (current) unit of the BAG."""
    # hash the few vacancy ids, not the millions of units
    found = unit_ids[isin(unit_ids, vacancy["vbo_id"])]
    return vacancy[~isin(vacancy["vbo_id"], found)]
