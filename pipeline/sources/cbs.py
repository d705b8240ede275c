"""CBS gemeenten reader (CBS/PDOK GeoJSON or GeoPackage, any CRS, either column naming)."""

from __future__ import annotations

import geopandas as gpd

from pipeline.sources._common import Issues, find_column, frame, require_column, text_column, to_rd

CODE_COLUMNS = ["statcode", "gemeentecode", "gemeente_key", "GM_CODE", "code"]
NAME_COLUMNS = ["statnaam", "gemeentenaam", "Gemeente", "GM_NAAM", "naam"]
#: CBS codes of pseudo-municipalities that are not part of the country's land area.
NON_MUNICIPALITY_NAMES = ("buitenland",)


def municipalities_from_cbs(raw: gpd.GeoDataFrame, issues: Issues) -> gpd.GeoDataFrame:
    """Canonical ``municipalities`` from CBS boundaries.

    Accepts ``statcode``/``statnaam`` (CBS gebiedsindelingen), ``gemeentecode``/``gemeentenaam``
    (PDOK wijken en buurten) and ``gemeente_key``/``Gemeente``. Rows that are not municipalities
    (codes not ``GM`` + 4 digits, ``rubriek`` other than ``gemeente``, ``GM0998 Buitenland``)
    are dropped with a warning.
    """
    code_col = require_column(raw, CODE_COLUMNS, issues, what="the municipality code")
    name_col = require_column(raw, NAME_COLUMNS, issues, what="the municipality name")
    if code_col is None or name_col is None:
        return gpd.GeoDataFrame(geometry=[], crs=raw.crs)
    code = text_column(raw, code_col).str.upper()
    name = text_column(raw, name_col)
    is_mun = code.str.fullmatch(r"GM\d{4}").fillna(False).astype(bool)
    is_mun &= ~name.str.lower().isin(NON_MUNICIPALITY_NAMES).fillna(False).astype(bool)
    rubriek = find_column(raw, ["rubriek"])
    if rubriek is not None:
        is_mun &= text_column(raw, rubriek).fillna("gemeente").str.lower().eq("gemeente")
    if (~is_mun).any():
        dropped = ", ".join(
            f"{c} {n}" for c, n in zip(code[~is_mun].head(5), name[~is_mun].head(5), strict=True)
        )
        issues.warn(
            f"{int((~is_mun).sum())} row(s) that are not municipalities dropped ({dropped})"
        )
    raw = raw[is_mun]
    out = frame(raw, {"gemeentecode": code[is_mun], "gemeentenaam": name[is_mun]})
    return to_rd(out)
