"""Exclusion-zone reader: polygons with a kind (natura2000, nnn, externe_veiligheid, …)."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from pipeline.sources._common import Issues, find_column, frame, text_column, to_rd

KIND_ALIASES = {
    "natura 2000": "natura2000",
    "natura-2000": "natura2000",
    "n2000": "natura2000",
    "natuurnetwerk nederland": "nnn",
    "natuurnetwerk": "nnn",
    "ehs": "nnn",
    "externe veiligheid": "externe_veiligheid",
    "hoogspanningslijn": "hoogspanning",
    "hoogspanning": "hoogspanning",
    "kernwinkelgebied": "kernwinkelgebied",
    "kernwinkelgebieden": "kernwinkelgebied",
}


def zones_from_polygons(
    raw: gpd.GeoDataFrame, issues: Issues, *, default_kind: str | None = None
) -> gpd.GeoDataFrame:
    """Canonical ``exclusion_zones`` from polygons with ``kind``/``soort``.

    ``default_kind`` (the source's ``kind:`` in sources.yaml) fills a file without a kind column,
    e.g. a Natura 2000 download.
    """
    kind_col = find_column(raw, ["kind", "soort", "type_zone"])
    if kind_col is None:
        if default_kind is None:
            issues.problem(
                "no column 'kind' (or 'soort') says what kind of zone each polygon is",
                fix="add a column 'kind', or set `kind: natura2000` (or nnn, …) on this source "
                "in sources.yaml",
                column="kind",
            )
            return gpd.GeoDataFrame(geometry=[], crs=raw.crs)
        kind = pd.Series(default_kind, index=raw.index, dtype="str")
    else:
        kind = text_column(raw, kind_col).str.lower()
        kind = kind.map(KIND_ALIASES).fillna(kind)
        if default_kind is not None:
            kind = kind.fillna(default_kind)
    name = text_column(raw, find_column(raw, ["naam", "name", "naam_n2k"]))
    return to_rd(frame(raw, {"kind": kind, "naam": name}))
