"""Housing-plan reader: permanent housing plans (plan capacity) with a start year and a status.

The provincial plan-capacity monitor (Monitor Plancapaciteit Zuid-Holland) publishes every
permanent housing plan as a polygon with its name, number of homes, planned start of building
and whether the plan is *hard* (an irrevocable or adopted zoning plan) or *soft* (in
preparation, a vision). docs/contracts.md §A lists the column names accepted.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from pipeline.schemas import format_rows
from pipeline.sources._common import Issues, find_column, frame, require_column, text_column, to_rd

#: Plan statuses as the monitor and municipalities write them -> ``hard`` / ``zacht``.
STATUS_ALIASES = {
    "hard": "hard",
    "harde plancapaciteit": "hard",
    "onherroepelijk": "hard",
    "vastgesteld": "hard",
    "in uitvoering": "hard",
    "zacht": "zacht",
    "zachte plancapaciteit": "zacht",
    "ontwerp": "zacht",
    "in voorbereiding": "zacht",
    "visie": "zacht",
    "initiatief": "zacht",
    "soft": "zacht",
}


def _whole_numbers(
    raw: pd.DataFrame, column: str | None, issues: Issues, *, what: str
) -> pd.Series:
    """A column of whole numbers (Int64; empty = missing); other values are a problem."""
    if column is None:
        return pd.Series(pd.NA, index=raw.index, dtype="Int64")
    values = raw[column]
    numbers = pd.to_numeric(values, errors="coerce")
    text = values.astype("string").str.strip()
    bad = (values.notna() & (text != "") & numbers.isna()) | (numbers.notna() & (numbers % 1 != 0))
    if bad.any():
        issues.problem(
            f"{int(bad.sum())} value(s) of {what} are not whole numbers (e.g. "
            f"{format_rows([repr(v) for v in values[bad].head(5)])})",
            fix=f"write {what} as a whole number, or leave the cell empty when unknown",
            column=column,
            row=format_rows(raw.index[bad.to_numpy()]),
        )
    return numbers.where(~bad).round().astype("Int64")


def housing_plans_from_polygons(raw: gpd.GeoDataFrame, issues: Issues) -> gpd.GeoDataFrame:
    """Canonical ``housing_plans`` (``plan_id``, ``plan_name``, ``homes``, ``start_year``,
    ``status`` in ``hard``/``zacht``) from the monitor's polygons."""
    id_col = require_column(
        raw, ["plan_id", "id", "planid", "identificatie", "plancode"], issues, what="the plan id"
    )
    status_col = require_column(
        raw, ["status", "planstatus", "hardheid"], issues, what="the plan status (hard/zacht)"
    )
    if id_col is None or status_col is None:
        return gpd.GeoDataFrame(geometry=[], crs=raw.crs)
    status_text = text_column(raw, status_col).str.lower()
    status = status_text.map(STATUS_ALIASES)
    unknown = status.isna() & status_text.notna()
    if unknown.any():
        issues.problem(
            f"unknown plan status value(s) "
            f"{format_rows([repr(v) for v in pd.unique(status_text[unknown])])}",
            fix="write hard (harde plancapaciteit, onherroepelijk, vastgesteld) or zacht "
            "(zachte plancapaciteit, ontwerp, in voorbereiding, visie)",
            column=status_col,
            row=format_rows(raw.index[unknown.to_numpy()]),
        )
    name = text_column(raw, find_column(raw, ["plannaam", "plan_name", "naam", "projectnaam"]))
    homes = _whole_numbers(
        raw,
        find_column(raw, ["woningen", "homes", "aantal_woningen", "totaal_woningen"]),
        issues,
        what="the number of homes",
    )
    start = _whole_numbers(
        raw,
        find_column(raw, ["startjaar", "start_year", "start_bouw", "jaar_start_bouw"]),
        issues,
        what="the start year",
    )
    out = frame(
        raw,
        {
            "plan_id": text_column(raw, id_col),
            "plan_name": name,
            "homes": homes,
            "start_year": start,
            "status": status.where(~unknown, status_text),
        },
    )
    return to_rd(out)


def bsd_from_polygons(raw: gpd.GeoDataFrame, issues: Issues) -> gpd.GeoDataFrame:
    """Canonical ``bsd``: the province's *bestaand stads- en dorpsgebied* (polygons, ``naam``)."""
    del issues  # no attribute is required
    name = text_column(raw, find_column(raw, ["naam", "name", "omschrijving"]))
    return to_rd(frame(raw, {"naam": name}))


__all__ = ["STATUS_ALIASES", "bsd_from_polygons", "housing_plans_from_polygons"]
