"""IMRO bestemmingsplannen reader (IMRO2008 / IMRO2012 GML): ``Enkelbestemming`` → zoning."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from pipeline.sources._common import Issues, find_column, frame, require_column, text_column, to_rd

ZONING_LAYER = "Enkelbestemming"


def zoning_from_imro(raw: gpd.GeoDataFrame, issues: Issues, *, plan_id: str) -> gpd.GeoDataFrame:
    """Canonical ``zoning`` rows from one plan's ``Enkelbestemming`` layer.

    ``zoning_id`` is ``identificatie`` (IMRO2008) or ``namespace.lokaalID`` (IMRO2012), else
    ``gml_id``; ``hoofdgroep`` is ``bestemmingshoofdgroep`` in lower case.
    """
    group_col = require_column(
        raw, ["bestemmingshoofdgroep", "hoofdgroep"], issues, what="the bestemmingshoofdgroep"
    )
    if group_col is None:
        return gpd.GeoDataFrame(geometry=[], crs=raw.crs)
    ident = find_column(raw, ["identificatie", "zoning_id"])
    local = find_column(raw, ["lokaalID"])
    gml = find_column(raw, ["gml_id"])
    ids = pd.Series(pd.NA, index=raw.index, dtype="str")
    if ident is not None:
        ids = text_column(raw, ident)
    if local is not None:
        ns = find_column(raw, ["namespace"])
        loc = text_column(raw, local)
        if ns is not None:
            loc = text_column(raw, ns).fillna("NL.IMRO") + "." + loc
        ids = ids.fillna(loc)
    if gml is not None:
        ids = ids.fillna(text_column(raw, gml))
    missing = ids.isna()
    if missing.any():  # no id at all: number them within the plan
        ids[missing] = [f"{plan_id}.{i}" for i in raw.index[missing]]
    columns = {
        "zoning_id": ids,
        "plan_id": pd.Series(plan_id, index=raw.index, dtype="str"),
        "hoofdgroep": text_column(raw, group_col).str.lower(),
        "naam": text_column(raw, find_column(raw, ["naam"])),
    }
    return to_rd(frame(raw, columns))


def unique_zoning_ids(zoning: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Prefix ids that occur in several plans (IMRO2012 ``lokaalID`` is unique per plan only)."""
    dup = zoning["zoning_id"].duplicated(keep=False) & (
        zoning.groupby("zoning_id")["plan_id"].transform("nunique") > 1
    )
    if dup.any():
        zoning = zoning.copy()
        zoning.loc[dup, "zoning_id"] = (
            zoning.loc[dup, "plan_id"] + "/" + zoning.loc[dup, "zoning_id"]
        )
    return zoning
