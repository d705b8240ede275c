"""The ``parcels`` feature table: one row per parcel or merged site (docs/contracts.md §E.3)."""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipeline.features import overlap as fov
from pipeline.features import sites as fsites
from pipeline.features._pairs import forget_simple_polygons
from pipeline.features._spatial import geometry_array
from pipeline.features.common import TABLE_COLUMNS, Group, table_frame, with_common
from pipeline.features.context import Context
from pipeline.features.merging import (
    DEFAULT_MAX_BUILT_UP,
    DEFAULT_MIN_SITE_AREA_M2,
    merge_small_parcels,
)
from pipeline.schemas import CRS
from pipeline.scoring.config import TypeConfig
from pipeline.scoring.readiness import site_readiness
from pipeline.stages import Stages, no_stage


def threshold(
    type_config: TypeConfig | None, column: str, ops: tuple[str, ...], default: float
) -> float:
    """The value of the first exclusion rule on ``column`` with one of ``ops`` (else default)."""
    for rule in type_config.exclusions if type_config is not None else []:
        if rule.column == column and rule.op in ops and isinstance(rule.value, int | float):
            return float(rule.value)
    return default


def parcel_labels(sites: pd.DataFrame) -> pd.Series:
    """``Perceel SGR01 B 1234, 2.300 m²`` (or the parcel id); merged: ``3 percelen vanaf …``."""
    from pipeline.scoring.text import format_values

    n = len(sites)
    if n == 0:
        return pd.Series([], index=sites.index, dtype=object)
    parts = [c for c in ("akr_code", "sectie", "perceelnummer") if c in sites]
    if len(parts) == 3:
        kad = (
            sites["akr_code"].astype("string").fillna("")
            + " "
            + sites["sectie"].astype("string").fillna("")
            + " "
            + sites["perceelnummer"].astype("string").fillna("")
        ).str.strip()
        kad = kad.where(
            sites["akr_code"].notna() & sites["perceelnummer"].notna(),
            pd.Series(sites.index, index=sites.index),
        )
    else:
        kad = pd.Series(sites.index.astype(str), index=sites.index)
    area = pd.Series(format_values(sites["area_m2"], "m2"), index=sites.index)
    single = "Perceel " + kad.astype(str) + ", " + area
    multi = sites["n_parcels"].astype(str) + " percelen vanaf " + kad.astype(str) + ", " + area
    return single.where(~sites["merged"].astype(bool), multi).astype(object)


def parcel_table(
    parcels: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    ctx: Context,
    *,
    type_config: TypeConfig | None = None,
    stages: Stages | None = None,
    all_labels: bool = True,
    on_first: Callable[[pd.DataFrame, np.ndarray], bool] | None = None,
    after_parcels: Callable[[], None] | None = None,
) -> gpd.GeoDataFrame:
    """The ``parcels`` feature table (contracts §E): one row per parcel or merged site.

    With ``all_labels=False`` (the scan), ``site_id`` and ``label`` are only made for the
    rows the type's exclusion rules keep (the candidates); excluded rows get ``None``.
    ``after_parcels()`` is called once the parcels' built-up shares and owners are known,
    before they are merged into sites (the scan starts its search index there: merging leaves
    a core idle, and the overlays that hold the most memory are done).
    ``on_first`` is passed to :func:`with_common`: when it returns ``True`` the table holds
    only the sites the exclusion rules keep.
    """
    min_area = threshold(type_config, "area_m2", ("<", "<="), DEFAULT_MIN_SITE_AREA_M2)
    max_built = threshold(type_config, "built_up_fraction", (">", ">="), DEFAULT_MAX_BUILT_UP)
    with stages.stage("parcels") if stages else no_stage():
        built = fov.built_up(parcels, buildings)
        # The owner identity ("<class>|<owner>" of the largest-overlap owner) decides which
        # parcels merge: it is looked up for the merge candidates only, the small open ones
        # (at most ``max_built`` built up). A merged site's owner class is its owner's. Every
        # other site's owner class is looked up by the owner group where it is needed (the
        # candidates: no exclusion rule reads it), by class (contracts §E.2).
        small_open = np.flatnonzero(
            (built["built_up_fraction"].to_numpy() <= max_built)
            & (shapely.area(geometry_array(parcels)) < min_area)
        )
        okey = fov.owner_key(
            parcels, ctx.ownership, min_share=ctx.params.owner_min_share, rows=small_open
        )
        owner = pd.Series(None, index=parcels.index, dtype=object, name="owner_class")
        keys = okey.iloc[small_open]
        owner.iloc[small_open] = keys.str.split("|", n=1).str[0].fillna(fov.UNKNOWN).to_numpy()
        if after_parcels is not None:
            after_parcels()
        sites = merge_small_parcels(
            parcels.assign(owner_class=owner, largest_building_m2=built["largest_building_m2"]),
            owner_keys=okey,
            built_up=built["built_up_fraction"],
            min_area_m2=min_area,
            max_built_up=max_built,
            params=ctx.params.merging,
        )
        # The parcels' and buildings' vertex tables (half a gigabyte on the province) serve
        # no later overlay: the features overlay the sites, the building tables their rows.
        forget_simple_polygons(geometry_array(parcels), geometry_array(buildings))
    with stages.stage("parcel_features") if stages else no_stage():
        base = table_frame(sites)[
            [
                "parcel_ids",
                "n_parcels",
                "merged",
                "area_m2",
                "built_up_fraction",
                "largest_building_m2",
            ]
        ].copy()
        hard_kinds = ctx.params.net_area.subtract_zones

        def derive(t: pd.DataFrame) -> pd.DataFrame:
            fracs = [f"zone_{k}_frac" for k in hard_kinds]
            if all(c in t for c in fracs):
                t["hard_zone_frac"] = np.minimum(1.0, t[fracs].sum(axis=1).to_numpy(float))
            if "zoning_hoofdgroep" in t:
                is_wonen = t["zoning_hoofdgroep"].isin(["wonen", "woongebied"])
                t["zoning_wonen_realised"] = is_wonen & (t["built_up_fraction"] >= 0.10)
                if "dist_bus_m" in t:
                    t["site_readiness"] = site_readiness(
                        t["built_up_fraction"],
                        t["zoning_hoofdgroep"],
                        t["dist_bus_m"],
                        t["dist_rail_m"],
                        params=ctx.params.site_readiness,
                    )
            return t

        kept: list[np.ndarray] = []

        def first(table: pd.DataFrame, keep: np.ndarray) -> bool:
            done = on_first is not None and on_first(table, keep)
            if done:
                kept.append(keep)
            return done

        t = with_common(
            sites, base, ctx, type_config, derive, on_first=first, extra=site_groups(ctx)
        )
        if kept:  # only the sites the rules keep
            sites = sites.iloc[kept[0]]
        live = np.arange(len(t))
        rules = list(type_config.exclusions) if type_config is not None else []
        if not kept and not all_labels and rules and {r.column for r in rules} <= set(t.columns):
            from pipeline.scoring import evaluate_exclusions

            excluded = evaluate_exclusions(t, rules, texts=False)["excluded"].to_numpy(bool)
            live = np.flatnonzero(~excluded)
        site_id = np.full(len(t), None, dtype=object)
        label = np.full(len(t), None, dtype=object)
        site_id[live] = ("TL-" + t.index[live].astype(str)).to_numpy(dtype=object)
        kad = table_frame(sites)[[c for c in ("akr_code", "sectie", "perceelnummer") if c in sites]]
        label[live] = parcel_labels(pd.concat([kad, t], axis=1).iloc[live]).to_numpy(dtype=object)
        t["site_id"] = site_id
        t["label"] = label
        t["n_parcels"] = t["n_parcels"].astype(np.int64)
        t["merged"] = t["merged"].astype(bool)
    out = gpd.GeoDataFrame(
        t[list(TABLE_COLUMNS["parcels"])], geometry=sites.geometry.to_numpy(), crs=CRS
    )
    out.index.name = "parcel_id"
    return out


def site_groups(ctx: Context) -> dict[str, Group]:
    """The parcels' own feature groups: BSD and plans (overlays, rank 1), net area (rank 3)."""
    params = ctx.params

    def bsd(objects: gpd.GeoDataFrame, _table: pd.DataFrame) -> pd.DataFrame:
        return fsites.bsd_columns(objects, ctx.bsd, min_share=params.bsd.min_share)

    def plans(objects: gpd.GeoDataFrame, _table: pd.DataFrame) -> pd.DataFrame:
        return fsites.plan_columns(
            objects, ctx.plans, reference_year=ctx.reference_year, params=params.availability
        )

    def net_area(objects: gpd.GeoDataFrame, _table: pd.DataFrame) -> pd.DataFrame:
        hard = ctx.zone_geoms(params.net_area.subtract_zones)
        return fsites.net_area_columns(objects, hard, params=params.net_area)

    return {
        "bsd": Group(("in_bsd", "dist_bsd_m"), 1, bsd),
        "plans": Group(
            (
                "plan_id",
                "plan_naam",
                "plan_status",
                "plan_startjaar",
                "plan_woningen",
                "plan_jaren_tot_start",
                "beschikbaarheid",
                "beschikbaar_tot",
                "beschikbaar_jaren",
            ),
            1,
            plans,
        ),
        "net_area": Group(("net_area_m2", "fits_min_width"), 3, net_area),
    }
