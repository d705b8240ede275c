"""The ``units`` feature table: shop units for plinttransformatie (docs/contracts.md §E.5)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.features import bag as fbag
from pipeline.features import overlap as fov
from pipeline.features.common import TABLE_COLUMNS, with_common
from pipeline.features.context import Context
from pipeline.schemas import CRS
from pipeline.scoring.config import TypeConfig


def unit_table(
    units: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    flags: pd.DataFrame,
    unit_years: pd.Series,
    unit_vacant: pd.Series,
    bouwlagen: pd.Series,
    ctx: Context,
    *,
    type_config: TypeConfig | None = None,
) -> gpd.GeoDataFrame:
    """The ``units`` feature table (contracts §E): the shop units (winkelfunctie) only.

    The owner of a unit is the owner of its building where known (a point is in or out of
    an ownership polygon; the building's footprint is the better measure).
    """
    ground = fbag.is_ground_floor_shop(
        units, buildings, flags, bouwlagen=bouwlagen, slack=ctx.params.shops.ground_floor_slack
    )
    entrance = fbag.own_entrance(units, buildings)
    shop = flags["winkelfunctie"].to_numpy(bool)
    shops = units.loc[shop].copy()
    pos = fbag._building_pos(buildings, shops)
    hosts = np.unique(pos[pos >= 0])
    lookup = np.full(len(buildings), None, dtype=object)
    if len(hosts):
        lookup[hosts] = fov.owner_class(
            buildings.iloc[hosts], ctx.ownership, min_share=ctx.params.owner_min_share
        ).to_numpy(dtype=object)
    u_owner = np.full(len(shops), None, dtype=object)
    u_owner[pos >= 0] = lookup[pos[pos >= 0]]
    owner = pd.Series(u_owner, index=shops.index)
    unowned = owner.isna() | (owner == fov.UNKNOWN)
    if unowned.any():
        owner.loc[unowned] = fov.owner_class(
            shops.loc[unowned], ctx.ownership, min_share=ctx.params.owner_min_share
        )
    shops["owner_class"] = owner
    t = pd.DataFrame(index=shops.index)
    t["pand_id"] = shops["pand_id"].astype(object)
    t["oppervlakte_m2"] = pd.to_numeric(shops["oppervlakte_m2"], errors="coerce").astype("float64")
    t["is_ground_floor_shop"] = ground.loc[shops.index]
    # years vacant; missing for a unit in use (so no vacancy rule speaks about it)
    t["vacant_years"] = unit_years.loc[shops.index].where(unit_vacant.loc[shops.index])
    t["is_vacant"] = unit_vacant.loc[shops.index]
    t["straatnaam"] = (
        shops["straatnaam"] if "straatnaam" in shops else pd.Series(None, index=shops.index)
    ).astype(object)
    keyed = pd.DataFrame({"gemeentecode": shops["gemeentecode"], "straatnaam": t["straatnaam"]})
    t["street_shop_units"] = fbag.street_shop_units(keyed)
    t["street_shop_vacancy"] = fbag.street_shop_vacancy(keyed, t["is_vacant"])
    t["own_entrance"] = entrance.loc[shops.index]
    streets = ctx.params.shops

    def derive(frame: pd.DataFrame) -> pd.DataFrame:
        if "in_kernwinkelgebied" in frame:
            frame["winkelligging"] = fbag.winkelligging(
                frame["street_shop_units"],
                frame["street_shop_vacancy"],
                frame["in_kernwinkelgebied"],
                min_shops=streets.aanloopstraat_min_shops,
                min_vacancy=streets.aanloopstraat_min_vacancy,
            )
        return frame

    t = with_common(shops, t, ctx, type_config, derive)
    t["site_id"] = "PL-" + t.index.astype(str)
    from pipeline.scoring.text import format_values

    street = t["straatnaam"].fillna("onbekende straat").astype(str)
    t["label"] = (
        "Winkelruimte "
        + street
        + ", "
        + pd.Series(format_values(t["oppervlakte_m2"], "m2"), index=t.index)
    ).astype(object)
    out = gpd.GeoDataFrame(
        t[list(TABLE_COLUMNS["units"])], geometry=shops.geometry.to_numpy(), crs=CRS
    )
    out.index.name = "vbo_id"
    return out
