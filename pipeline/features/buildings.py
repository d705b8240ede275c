"""The ``buildings`` feature table: office buildings (docs/contracts.md §E.4)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.features import bag as fbag
from pipeline.features.common import TABLE_COLUMNS, with_common
from pipeline.features.context import Context
from pipeline.schemas import CRS
from pipeline.scoring.config import TypeConfig


def building_table(
    buildings: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    flags: pd.DataFrame,
    unit_years: pd.Series,
    unit_vacant: pd.Series,
    ctx: Context,
    *,
    type_config: TypeConfig | None = None,
    in_scope_only: bool = False,
    floor_area: pd.Series | None = None,
) -> gpd.GeoDataFrame:
    """The ``buildings`` feature table (contracts §E), one row per current building.

    Location columns are computed only for buildings that pass the type's exclusions (see
    :func:`with_common`): most buildings have no office floor at all. With
    ``in_scope_only`` (the scan) the table keeps only the buildings with office floor area
    or a shop unit: the others can be neither a candidate nor listed as excluded.
    ``floor_area`` is :func:`pipeline.features.bag.floor_area` of the buildings when the
    caller has it already.
    """
    floor = fbag.floor_area(buildings, units) if floor_area is None else floor_area
    office = fbag.office_floor_area(buildings, units, flags)
    t = pd.DataFrame(index=buildings.index)
    t["bouwjaar"] = pd.to_numeric(buildings["bouwjaar"], errors="coerce").astype("float64")
    t["bouwlagen"] = fbag.storeys(buildings, floor)
    t["floor_area_m2"] = floor
    t["office_floor_m2"] = office
    t["office_share"] = fbag.office_share(office, floor)
    t["vacant_share"] = fbag.building_vacant_share(buildings, units, unit_vacant)
    t["vacant_office_floor_m2"] = fbag.building_vacant_office_floor(
        buildings, units, flags, unit_vacant
    )
    t["vacant_years"] = fbag.building_vacant_years(buildings, units, unit_years, unit_vacant)
    t["energielabel"] = fbag.building_energielabel(buildings, units)
    # Full reasons for the buildings uitgesloten_panden lists: office floor or a shop unit.
    shop_pos = fbag._building_pos(buildings, units.loc[flags["winkelfunctie"].to_numpy(bool)])
    hosts_shop = np.zeros(len(buildings), dtype=bool)
    hosts_shop[shop_pos[shop_pos >= 0]] = True
    explain = (np.nan_to_num(np.asarray(office, dtype=float)) > 0) | hosts_shop
    if in_scope_only:
        scope = np.flatnonzero(explain)
        t, buildings, office = (
            t.iloc[scope],
            buildings.iloc[scope],
            t["office_floor_m2"].iloc[scope],
        )
        explain = None
    t = with_common(buildings, t, ctx, type_config, lambda frame: frame, explain=explain)
    t["site_id"] = "KT-" + t.index.astype(str)
    from pipeline.scoring.text import format_values

    yr = t["bouwjaar"]
    year = pd.Series(
        np.where(yr.notna(), " (" + yr.fillna(0).astype(np.int64).astype(str) + ")", ""),
        index=t.index,
    )
    t["label"] = (
        "Kantoorpand"
        + year.astype(str)
        + ", "
        + pd.Series(format_values(office, "m2"), index=t.index)
        + " kantoor"
    ).astype(object)
    out = gpd.GeoDataFrame(
        t[list(TABLE_COLUMNS["buildings"])], geometry=buildings.geometry.to_numpy(), crs=CRS
    )
    out.index.name = "pand_id"
    return out
