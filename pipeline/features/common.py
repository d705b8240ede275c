"""The columns every feature table shares (docs/contracts.md §E.2), computed group by group.

:func:`common_features` computes groups of columns (owner, zoning, transit, amenities, noise,
zones, mixed use) on two threads; :func:`with_common` computes first the groups a type's
exclusion rules need, for every row, evaluates the rules, and then the other groups only for
the rows that pass (docs/contracts.md §E.1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.features import overlap as fov
from pipeline.features import proximity as fprox
from pipeline.features._parallel import concurrently
from pipeline.features._spatial import geometry_array, representative_points
from pipeline.features.amenities import AMENITIES, AMENITY_COUNTS
from pipeline.features.context import Context
from pipeline.features.municipality import assign_gemeentecode
from pipeline.features.noise import mean_noise
from pipeline.schemas import (
    COMMON_FEATURE_COLUMNS,
    CRS,
    STOP_KINDS,
    TABLE_FEATURE_COLUMNS,
    ZONE_KINDS,
)
from pipeline.scoring.config import TypeConfig

#: Column order of the three feature tables (docs/contracts.md §E.8).
COMMON_COLUMNS = ("gemeentecode", "gemeentenaam", *COMMON_FEATURE_COLUMNS[1:])
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "parcels": (
        "site_id",
        "label",
        *COMMON_COLUMNS,
        *TABLE_FEATURE_COLUMNS["parcels"],
        "parcel_ids",
    ),
    "buildings": ("site_id", "label", *COMMON_COLUMNS, *TABLE_FEATURE_COLUMNS["buildings"]),
    "units": (
        "site_id",
        "label",
        *COMMON_COLUMNS,
        "pand_id",
        "straatnaam",
        *TABLE_FEATURE_COLUMNS["units"],
    ),
}
TABLE_INDEX = {"parcels": "parcel_id", "buildings": "pand_id", "units": "vbo_id"}


def table_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A plain DataFrame view of a (Geo)DataFrame (attribute columns without geometry semantics)."""
    return df if not isinstance(df, gpd.GeoDataFrame) else pd.DataFrame(df)


def fmin(cols: Mapping[str, pd.Series], kinds: tuple[str, ...], name: str) -> pd.Series:
    """Element-wise minimum of ``dist_<kind>_m`` over kinds, ignoring NaN (all NaN -> NaN)."""
    stacked = np.vstack([cols[f"dist_{k}_m"].to_numpy(float) for k in kinds])
    with np.errstate(invalid="ignore"):
        v = np.fmin.reduce(stacked, axis=0)
    return pd.Series(v, index=cols[f"dist_{kinds[0]}_m"].index, name=name)


#: Groups of common columns computed together, and what each costs to compute.
GROUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "owner": ("owner_class", "is_provincial"),
    "zoning": ("zoning_hoofdgroep",),
    "transit": (
        *(f"dist_{k}_m" for k in STOP_KINDS),
        "dist_rail_m",
        "dist_station_m",
        "dist_hov_m",
    ),
    "amenities": (*AMENITY_COUNTS, *(f"dist_{k}_m" for k in AMENITIES)),
    "noise": ("noise_db",),
    "zones": (*(f"zone_{k}_frac" for k in ZONE_KINDS), "in_kernwinkelgebied"),
    "mixed": ("mixed_use_500m",),
}
ALL_GROUPS = frozenset(GROUP_COLUMNS)
#: Derived table columns and the groups they are computed from.
DERIVED_GROUPS: dict[str, set[str]] = {
    "zoning_wonen_realised": {"zoning"},
    "site_readiness": {"zoning", "transit"},
    "secondary_street": {"zones"},
}


#: Column order of :func:`common_features` (independent of which task finished first).
_COMMON_ORDER = (
    "gemeentecode",
    "gemeentenaam",
    *(
        c
        for g in ("owner", "zoning", "transit", "amenities", "noise", "zones", "mixed")
        for c in GROUP_COLUMNS[g]
    ),
)


def groups_for(columns: set[str]) -> set[str]:
    groups: set[str] = set()
    for col in columns:
        groups |= DERIVED_GROUPS.get(col, set())
        groups |= {g for g, cols in GROUP_COLUMNS.items() if col in cols}
    return groups


def common_features(
    objects: gpd.GeoDataFrame, ctx: Context, *, groups: set[str] | frozenset[str] = ALL_GROUPS
) -> pd.DataFrame:
    """The columns every feature table shares (contracts §E), aligned to ``objects``.

    ``gemeentecode`` and ``gemeentenaam`` always; the other columns per group in ``groups``
    (see :data:`GROUP_COLUMNS`). Independent groups are computed on two threads.
    """
    cols: dict[str, pd.Series] = {}
    code = (
        objects["gemeentecode"]
        if "gemeentecode" in objects
        else pd.Series(None, index=objects.index)
    )
    missing = code.isna()
    if missing.any() and len(ctx.municipalities):
        filled = assign_gemeentecode(objects.loc[missing], ctx.municipalities)
        code = code.astype(object).copy()
        code.loc[missing] = filled.astype(object).where(filled.notna(), None)
    cols["gemeentecode"] = code.astype(object).rename("gemeentecode")
    # Map the few distinct codes, not a million rows.
    codes, uniques = pd.factorize(code, use_na_sentinel=True)
    names = np.array([ctx.names.get(str(u)) for u in uniques] + [None], dtype=object)
    cols["gemeentenaam"] = pd.Series(names[codes], index=objects.index, name="gemeentenaam")

    def owner() -> dict[str, pd.Series]:
        if "owner_class" in objects:
            owner = objects["owner_class"]
        else:
            owner = fov.owner_class(objects, ctx.ownership, min_share=ctx.params.owner_min_share)
        return {"owner_class": owner, "is_provincial": fov.is_provincial(owner)}

    def zoning() -> dict[str, pd.Series]:
        return {
            "zoning_hoofdgroep": fov.zoning_hoofdgroep(
                objects, ctx.zoning, min_share=ctx.params.zoning_min_share
            )
        }

    def zones() -> dict[str, pd.Series]:
        fracs = fov.zone_fractions(objects, ctx.zones, kinds=ZONE_KINDS)
        out = {col: fracs[col] for col in fracs.columns}
        out["in_kernwinkelgebied"] = (
            out["zone_kernwinkelgebied_frac"] >= ctx.params.kernwinkelgebied_min_share
        ).rename("in_kernwinkelgebied")
        return out

    def proximity() -> dict[str, pd.Series]:
        # Proximity is measured from the representative point: compute it once.
        points = gpd.GeoDataFrame(
            geometry=representative_points(geometry_array(objects)), index=objects.index, crs=CRS
        )
        out: dict[str, pd.Series] = {}
        if "transit" in groups:
            for kind in STOP_KINDS:
                out[f"dist_{kind}_m"] = fprox.distance_to_stop(points, ctx.stops, kinds=kind)
            out["dist_rail_m"] = fmin(out, ("trein", "metro", "tram"), "dist_rail_m")
            out["dist_station_m"] = out["dist_trein_m"].rename("dist_station_m")
            out["dist_hov_m"] = fmin(out, ("bus", "tram", "metro"), "dist_hov_m")
        if "amenities" in groups:
            for col, (kind, radius) in AMENITY_COUNTS.items():
                out[col] = fprox.count_within(points, ctx.amenities[kind], radius=radius, name=col)
            for kind in AMENITIES:
                col = f"dist_{kind}_m"
                out[col] = fprox.distance_to_nearest(points, ctx.amenities[kind], name=col)
        if "mixed" in groups:
            out["mixed_use_500m"] = fprox.mixed_use_share(
                points, ctx.all_units, ctx.non_residential
            )
        return out

    def noise() -> dict[str, pd.Series]:
        return {"noise_db": mean_noise(objects, ctx.noise)}

    tasks: list[Callable[[], dict[str, pd.Series]]] = []
    if "noise" in groups:
        tasks.append(noise)
    if "owner" in groups:
        tasks.append(owner)
    if "zoning" in groups:
        tasks.append(zoning)
    if "zones" in groups:
        tasks.append(zones)
    if groups & {"transit", "amenities", "mixed"}:
        tasks.append(proximity)
    for part in concurrently(*tasks):
        cols.update(part)
    order = [c for c in _COMMON_ORDER if c in cols]
    return pd.DataFrame({c: cols[c] for c in order}, index=objects.index)


def fill_rows(frame: pd.DataFrame, index: pd.Index, positions: np.ndarray) -> pd.DataFrame:
    """``frame`` (the rows at ``positions`` of ``index``) spread out to all of ``index``.

    The other rows get NaN, False, 0 or None by dtype. Placed by position: no lookup of ids.
    """
    n = len(index)
    cols: dict[str, Any] = {}
    for col in frame.columns:
        values = frame[col]
        dtype = values.dtype
        if pd.api.types.is_bool_dtype(dtype):
            out = np.zeros(n, dtype=bool)
            out[positions] = values.to_numpy(dtype=bool, na_value=False)
        elif pd.api.types.is_integer_dtype(dtype):
            out = np.zeros(n, dtype=np.int64)
            out[positions] = values.to_numpy(dtype=np.int64, na_value=0)
        elif pd.api.types.is_float_dtype(dtype):
            out = np.full(n, np.nan)
            out[positions] = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            out = np.full(n, None, dtype=object)
            filled = values.to_numpy(dtype=object, copy=True)
            filled[values.isna().to_numpy()] = None
            out[positions] = filled
        cols[col] = out
    return pd.DataFrame(cols, index=index, columns=frame.columns)


def with_common(
    objects: gpd.GeoDataFrame,
    base: pd.DataFrame,
    ctx: Context,
    type_config: TypeConfig | None,
    derive: Callable[[pd.DataFrame], pd.DataFrame],
    *,
    explain: np.ndarray | None = None,
    on_first: Callable[[pd.DataFrame, np.ndarray], None] | None = None,
) -> pd.DataFrame:
    """``base`` + the common columns + derived columns, computing little for excluded rows.

    First the columns the type's exclusion rules need are computed for every row; the rules
    are evaluated (:func:`pipeline.scoring.evaluate_exclusions`, as scoring will); the other
    columns (distances, counts, …) are computed only for the rows that survive. Excluded rows
    keep every column an exclusion reason uses, and NaN/0/False/None in the rest (they are
    not candidates, so no criterion reads them).

    ``explain`` (boolean mask) limits the first step: rows outside it that a rule on the
    ``base`` columns alone already excludes (a house is no office) get no spatial columns,
    so their reasons list only the base rules. Default: every row is explained in full.

    ``on_first(table, keep)`` is called once the exclusion columns are known, with the
    positions of the rows that pass the rules, before the other columns are computed (the
    scan hands the excluded parcels to the writer there).
    """
    from pipeline.scoring import evaluate_exclusions

    rules = list(getattr(type_config, "exclusions", None) or [])
    needed = {r.column for r in rules}
    first = groups_for(needed) if rules else set(ALL_GROUPS)
    todo = np.ones(len(objects), dtype=bool)
    base_rules = [r for r in rules if r.column in base.columns]
    if explain is not None and base_rules:
        pre = evaluate_exclusions(base, base_rules, texts=False)["excluded"].to_numpy(dtype=bool)
        todo = ~pre | np.asarray(explain, dtype=bool)
    if todo.all():
        common = common_features(objects, ctx, groups=first)
    else:
        common = pd.concat(
            [
                common_features(objects, ctx, groups=set()),
                fill_rows(
                    common_features(objects.iloc[np.flatnonzero(todo)], ctx, groups=first).drop(
                        columns=["gemeentecode", "gemeentenaam"]
                    ),
                    objects.index,
                    np.flatnonzero(todo),
                ),
            ],
            axis=1,
        )
    t = derive(pd.concat([base, common], axis=1))
    rest = ALL_GROUPS - first
    if not rest:
        return t
    if not needed <= set(t.columns):  # a rule on a column we cannot pre-compute: do it all
        t = pd.concat([t, common_features(objects, ctx, groups=rest)], axis=1)
        return derive(t)
    keep = np.flatnonzero(~evaluate_exclusions(t, rules, texts=False)["excluded"].to_numpy(bool))
    if on_first is not None:
        on_first(t, keep)
    more = common_features(objects.iloc[keep], ctx, groups=rest)
    more = more.drop(columns=["gemeentecode", "gemeentenaam"])
    t = pd.concat([t, fill_rows(more, objects.index, keep)], axis=1)
    return derive(t)
