"""Ownership reader: polygons with an owner class (provincie, gemeente, rijk, corporatie, overig)."""

from __future__ import annotations

import geopandas as gpd

from pipeline.sources._common import Issues, find_column, frame, require_column, text_column, to_rd

#: Common spellings of the owner classes, mapped to the canonical ones.
OWNER_ALIASES = {
    "provincie": "provincie",
    "province": "provincie",
    "gemeente": "gemeente",
    "municipality": "gemeente",
    "rijk": "rijk",
    "staat": "rijk",
    "state": "rijk",
    "corporatie": "corporatie",
    "woningcorporatie": "corporatie",
    "housing_association": "corporatie",
    "overig": "overig",
    "other": "overig",
    "particulier": "overig",
}


def ownership_from_polygons(raw: gpd.GeoDataFrame, issues: Issues) -> gpd.GeoDataFrame:
    """Canonical ``ownership`` from polygons with ``eigenaar_klasse``/``owner_class``."""
    cls_col = require_column(
        raw, ["eigenaar_klasse", "owner_class", "eigenaar_type"], issues, what="the owner class"
    )
    if cls_col is None:
        return gpd.GeoDataFrame(geometry=[], crs=raw.crs)
    cls = text_column(raw, cls_col).str.lower()
    mapped = cls.map(OWNER_ALIASES)
    cls = mapped.fillna(cls)  # unknown values stay, so validation names them
    name = text_column(raw, find_column(raw, ["eigenaar_naam", "owner_name", "eigenaar"]))
    return to_rd(frame(raw, {"owner_class": cls, "owner_name": name}))
