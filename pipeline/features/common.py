"""The columns every feature table shares (docs/contracts.md §E.2), computed group by group.

:func:`common_features` computes groups of columns (owner, zoning, zones, transit, amenities,
noise, nature, mixed use) on two threads. :func:`with_common` evaluates a type's exclusion
rules in rounds of increasing cost (docs/contracts.md §E.1): the groups the cheapest rules
need are computed for every row, those rules are evaluated, and each next round computes its
groups only for the rows still in; the groups no rule needs are computed only for the rows
that pass every rule. A feature table may add groups of its own (:class:`Group`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.features import overlap as fov
from pipeline.features import proximity as fprox
from pipeline.features._parallel import concurrently
from pipeline.features._spatial import geometry_array, reference_points
from pipeline.features.amenities import AMENITIES, AMENITY_COUNTS
from pipeline.features.context import Context
from pipeline.features.municipality import assign_gemeentecode
from pipeline.features.noise import mean_noise_many
from pipeline.schemas import (
    COMMON_FEATURE_COLUMNS,
    CRS,
    NOISE_COLUMNS,
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
#: Distances to polygons beyond this are reported as this value (m).
MAX_POLYGON_DISTANCE_M = 20_000.0


def table_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A plain DataFrame view of a (Geo)DataFrame (attribute columns without geometry semantics)."""
    return df if not isinstance(df, gpd.GeoDataFrame) else pd.DataFrame(df)


def fmin(cols: Mapping[str, pd.Series], kinds: tuple[str, ...], name: str) -> pd.Series:
    """Element-wise minimum of ``dist_<kind>_m`` over kinds, ignoring NaN (all NaN -> NaN)."""
    stacked = np.vstack([cols[f"dist_{k}_m"].to_numpy(float) for k in kinds])
    with np.errstate(invalid="ignore"):
        v = np.fmin.reduce(stacked, axis=0)
    return pd.Series(v, index=cols[f"dist_{kinds[0]}_m"].index, name=name)


def dist_ov(cols: Mapping[str, pd.Series], stops: pd.DataFrame) -> pd.Series:
    """``dist_ov_m``: the nearest stop of any kind; unknown (NaN) when the stops hold no bus stop.

    ``dist_ov_m = min(dist_trein_m, dist_metro_m, dist_tram_m, dist_bus_m)`` (NaN ignored).
    Bus stops are everywhere in the Netherlands: a stop layer without any (e.g. only the NS
    stations) cannot show that a place is far from public transport, so the distance is
    unknown and no rule fires on it (docs/contracts.md §E.2).
    """
    has_bus = bool(len(stops)) and bool((stops["kind"] == "bus").any())
    v = fmin(cols, STOP_KINDS, "dist_ov_m")
    return v if has_bus else pd.Series(np.nan, index=v.index, name="dist_ov_m")


#: Groups of common columns computed together.
GROUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "owner": ("owner_class", "is_provincial"),
    "zoning": ("zoning_hoofdgroep",),
    "transit": (
        *(f"dist_{k}_m" for k in STOP_KINDS),
        "dist_rail_m",
        "dist_station_m",
        "dist_hov_m",
        "dist_ov_m",
    ),
    "amenities": (*AMENITY_COUNTS, *(f"dist_{k}_m" for k in AMENITIES)),
    "noise": (
        *NOISE_COLUMNS,
        "geluid_boven_grenswaarde",
        "geluid_boven_standaardwaarde",
        "noise_excess",
    ),
    "zones": (*(f"zone_{k}_frac" for k in ZONE_KINDS), "in_kernwinkelgebied"),
    "nature": ("dist_stikstofgevoelig_m",),
    "mixed": ("mixed_use_500m",),
}
#: Cost order of the groups: the rules on cheaper groups are evaluated first (§E.1). The
#: zoning plans are the costliest overlay (their plan areas follow every plot: on the province
#: 50 µs per site against 20–30 µs for the zones and the BSD), so they come with the distances,
#: after the rules on the other overlays (which leave one site in eight of the province's).
GROUP_RANK: dict[str, int] = {
    "owner": 1,
    "zoning": 2,
    "zones": 1,
    "transit": 2,
    "amenities": 2,
    "nature": 3,
    "noise": 3,
    "mixed": 3,
}
ALL_GROUPS = frozenset(GROUP_COLUMNS)
#: Derived table columns and the groups they are computed from.
DERIVED_GROUPS: dict[str, set[str]] = {
    "zoning_wonen_realised": {"zoning"},
    "site_readiness": {"zoning", "transit"},
    "winkelligging": {"zones"},
    "hard_zone_frac": {"zones"},
}


@dataclass(frozen=True)
class Group:
    """A group of columns a feature table computes itself (e.g. the parcels' net area).

    ``compute(objects)`` returns the columns for the given rows; ``rank`` orders it among the
    common groups (§E.1); ``needs`` are columns it reads from the table built so far.
    """

    columns: tuple[str, ...]
    rank: int
    compute: Callable[[gpd.GeoDataFrame, pd.DataFrame], pd.DataFrame]
    needs: tuple[str, ...] = ()


#: Column order of :func:`common_features` (independent of which task finished first).
_COMMON_ORDER = (
    "gemeentecode",
    "gemeentenaam",
    *(
        c
        for g in ("owner", "zoning", "transit", "amenities", "noise", "zones", "nature", "mixed")
        for c in GROUP_COLUMNS[g]
    ),
)


def groups_for(columns: set[str], extra: Mapping[str, Group] | None = None) -> set[str]:
    """The groups (common and ``extra``) that compute ``columns``."""
    groups: set[str] = set()
    for col in columns:
        groups |= DERIVED_GROUPS.get(col, set())
        groups |= {g for g, cols in GROUP_COLUMNS.items() if col in cols}
        groups |= {g for g, grp in (extra or {}).items() if col in grp.columns}
    for g in list(groups):
        if extra and g in extra:
            groups |= groups_for(set(extra[g].needs)) - {g}
    return groups


def municipality_columns(objects: gpd.GeoDataFrame, ctx: Context) -> dict[str, pd.Series]:
    """``gemeentecode`` (the objects' own, else assigned from the municipalities) and
    ``gemeentenaam``, aligned to ``objects``."""
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
    # Map the few distinct codes, not a million rows.
    codes, uniques = pd.factorize(code, use_na_sentinel=True)
    names = np.array([ctx.names.get(str(u)) for u in uniques] + [None], dtype=object)
    return {
        "gemeentecode": code.astype(object).rename("gemeentecode"),
        "gemeentenaam": pd.Series(names[codes], index=objects.index, name="gemeentenaam"),
    }


def group_tasks(
    objects: gpd.GeoDataFrame, ctx: Context, groups: set[str] | frozenset[str]
) -> list[Callable[[], dict[str, pd.Series]]]:
    """The computations of the common ``groups`` for ``objects``, independent of each other
    (each returns its columns; run them with :func:`concurrently`), costliest first."""

    def owner() -> dict[str, pd.Series]:
        # the parcels stage looked the owner up for the open parcels only (missing: not looked up)
        owner = (
            objects["owner_class"]
            if "owner_class" in objects
            else pd.Series(None, index=objects.index, dtype=object)
        )
        todo = owner.isna().to_numpy()
        if todo.any():
            owner = owner.astype(object).copy()
            owner.iloc[np.flatnonzero(todo)] = fov.owner_class(
                objects.iloc[np.flatnonzero(todo)],
                ctx.ownership,
                min_share=ctx.params.owner_min_share,
            ).to_numpy()
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

    def nature() -> dict[str, pd.Series]:
        kind = ctx.zones["kind"] if len(ctx.zones) else pd.Series([], dtype=object)
        targets = geometry_array(ctx.zones)[kind.to_numpy(dtype=object) == "stikstofgevoelig"]
        return {
            "dist_stikstofgevoelig_m": polygon_distance(
                objects, targets, name="dist_stikstofgevoelig_m"
            )
        }

    def proximity() -> dict[str, pd.Series]:
        # Proximity is measured from the reference point (the centroid): compute it once.
        points = gpd.GeoDataFrame(
            geometry=reference_points(geometry_array(objects)), index=objects.index, crs=CRS
        )
        out: dict[str, pd.Series] = {}
        if "transit" in groups:
            for kind in STOP_KINDS:
                out[f"dist_{kind}_m"] = fprox.distance_to_stop(points, ctx.stops, kinds=kind)
            out["dist_rail_m"] = fmin(out, ("trein", "metro", "tram"), "dist_rail_m")
            out["dist_station_m"] = out["dist_trein_m"].rename("dist_station_m")
            out["dist_hov_m"] = fmin(out, ("bus", "tram", "metro"), "dist_hov_m")
            out["dist_ov_m"] = dist_ov(out, ctx.stops)
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
        return noise_columns(objects, ctx)

    tasks: list[Callable[[], dict[str, pd.Series]]] = []
    if "zoning" in groups:
        tasks.append(zoning)
    if "zones" in groups:
        tasks.append(zones)
    if "noise" in groups:
        tasks.append(noise)
    if groups & {"transit", "amenities", "mixed"}:
        tasks.append(proximity)
    if "nature" in groups:
        tasks.append(nature)
    if "owner" in groups:
        tasks.append(owner)
    return tasks


def common_features(
    objects: gpd.GeoDataFrame, ctx: Context, *, groups: set[str] | frozenset[str] = ALL_GROUPS
) -> pd.DataFrame:
    """The columns every feature table shares (contracts §E.2), aligned to ``objects``.

    ``gemeentecode`` and ``gemeentenaam`` always; the other columns per group in ``groups``
    (see :data:`GROUP_COLUMNS`). Independent groups are computed on two threads.
    """
    cols = municipality_columns(objects, ctx)
    for part in concurrently(*group_tasks(objects, ctx, groups)):
        cols.update(part)
    order = [c for c in _COMMON_ORDER if c in cols]
    return pd.DataFrame({c: cols[c] for c in order}, index=objects.index)


def noise_columns(objects: gpd.GeoDataFrame, ctx: Context) -> dict[str, pd.Series]:
    """Mean noise per source and what it means for new homes (contracts §E.2).

    ``noise_<source>_db`` per raster; ``geluid_boven_grenswaarde`` and
    ``geluid_boven_standaardwaarde`` list the sources above their limit value, and above their
    standard value but not their limit, as Dutch text (``""`` when none); ``noise_excess =
    max_s clip((L_s − standard_s) / (limit_s − standard_s), 0, 1)`` over the sources with a
    value (NaN when none has one). The values come from the config's ``noise`` block.
    """
    index = objects.index
    n = len(objects)
    means = (
        mean_noise_many(objects, ctx.noise_grids) if ctx.noise_grids else pd.DataFrame(index=index)
    )
    out: dict[str, pd.Series] = {}
    for col in NOISE_COLUMNS:
        values = means[col] if col in means else pd.Series(np.full(n, np.nan), index=index)
        out[col] = values.rename(col)
    excess = np.full(n, np.nan)
    over_limit = np.full(n, "", dtype=object)
    over_standard = np.full(n, "", dtype=object)
    for src in ctx.noise_sources.values():
        level = out[src.column].to_numpy(dtype=float)
        has = ~np.isnan(level)
        if not has.any():
            continue
        frac = np.clip((level - src.standard_db) / (src.limit_db - src.standard_db), 0.0, 1.0)
        excess = np.where(has, np.fmax(excess, frac), excess)
        rounded = np.round(np.where(has, level, 0.0)).astype(np.int64)
        above_limit = has & (level > src.limit_db)
        above_std = has & (level > src.standard_db) & ~above_limit
        for mask, target, what, value in (
            (above_limit, over_limit, "grenswaarde", src.limit_db),
            (above_std, over_standard, "standaardwaarde", src.standard_db),
        ):
            if not mask.any():
                continue
            texts = np.char.add(
                np.char.add(f"{src.label} ", rounded[mask].astype(str)),
                f" dB ({what} {value:g} dB)",
            ).astype(object)
            sep = np.where(target[mask] == "", "", "; ").astype(object)
            target[mask] = target[mask] + sep + texts
    out["geluid_boven_grenswaarde"] = pd.Series(over_limit, index=index, dtype=object)
    out["geluid_boven_standaardwaarde"] = pd.Series(over_standard, index=index, dtype=object)
    out["noise_excess"] = pd.Series(excess, index=index)
    return out


def polygon_distance(objects: gpd.GeoDataFrame, targets: np.ndarray, *, name: str) -> pd.Series:
    """Distance (m) from each object's geometry to the nearest target polygon (0 if they touch).

    Beyond :data:`MAX_POLYGON_DISTANCE_M` the distance is reported as that value; NaN without
    any target (:func:`pipeline.features.proximity.nearest_polygon_distance`).
    """
    out = fprox.nearest_polygon_distance(
        geometry_array(objects), targets, cap=MAX_POLYGON_DISTANCE_M
    )
    return pd.Series(out, index=objects.index, name=name)


def fill_rows(frame: pd.DataFrame, index: pd.Index, positions: np.ndarray) -> pd.DataFrame:
    """``frame`` (the rows at ``positions`` of ``index``) spread out to all of ``index``.

    The other rows get NaN, missing (booleans: pandas' nullable ``boolean``, so a rule such as
    ``is_false`` never fires on a value that was not computed), 0 or None by dtype. Placed by
    position: no lookup of ids. The columns are the new arrays themselves (no block of all
    float columns copied together: 0.7 s for the province's sites), and a text column is
    spread out by Arrow with its dtype (what pandas would infer from the texts and Nones).
    """
    n = len(index)
    cols: dict[str, Any] = {}
    spread: pa.Array | None = None  # the Arrow take indices: null for the other rows
    for col in frame.columns:
        values = frame[col]
        dtype = values.dtype
        if pd.api.types.is_bool_dtype(dtype):
            data = np.zeros(n, dtype=bool)
            data[positions] = values.to_numpy(dtype=bool, na_value=False)
            unknown = np.ones(n, dtype=bool)
            unknown[positions] = values.isna().to_numpy()
            out: Any = pd.arrays.BooleanArray(data, unknown)
        elif pd.api.types.is_integer_dtype(dtype):
            out = np.zeros(n, dtype=np.int64)
            out[positions] = values.to_numpy(dtype=np.int64, na_value=0)
        elif pd.api.types.is_float_dtype(dtype):
            out = np.full(n, np.nan)
            out[positions] = values.to_numpy(dtype=float, na_value=np.nan)
        elif dtype == _STR and values.notna().any():
            # all texts or missing, one text at least: pandas infers ``str`` from them
            if spread is None:
                take = np.zeros(n, dtype=np.int64)
                take[positions] = np.arange(len(positions))
                other = np.ones(n, dtype=bool)
                other[positions] = False
                spread = pa.array(take, mask=other)
            out = pd.array(pc.take(pa.array(values), spread), dtype=dtype)
        else:
            out = np.full(n, None, dtype=object)
            filled = values.to_numpy(dtype=object, copy=True)
            filled[values.isna().to_numpy()] = None
            out[positions] = filled
        cols[col] = out
    return pd.DataFrame(cols, index=index, columns=frame.columns, copy=False)


#: pandas' default text dtype (``str``: Arrow storage, NaN for missing).
_STR = pd.StringDtype(na_value=np.nan)


def with_common(
    objects: gpd.GeoDataFrame,
    base: pd.DataFrame,
    ctx: Context,
    type_config: TypeConfig | None,
    derive: Callable[[pd.DataFrame], pd.DataFrame],
    *,
    explain: np.ndarray | None = None,
    on_first: Callable[[pd.DataFrame, np.ndarray], bool] | None = None,
    extra: Mapping[str, Group] | None = None,
) -> pd.DataFrame:
    """``base`` + the common (and ``extra``) columns + derived columns, in rounds (§E.1).

    The rules of the type are evaluated in rounds: first the rules on ``base`` columns, then
    on the groups of rank 1 (the overlays but the zoning), 2 (zoning, distances), 3 (noise,
    polygon distances, net area). Each round computes its groups only for the rows that passed the rules evaluated
    so far; a row excluded in a round keeps the columns computed up to then, and NaN, 0,
    False or None in the rest (it is not a candidate, so no criterion reads them), and its
    reasons are those of the rules evaluated up to that round.

    ``explain`` (boolean mask): rows that go through every round whatever the rules say (the
    office and shop buildings ``uitgesloten_panden`` lists with all their reasons).

    ``on_first(table, keep)`` is called once every exclusion column is known, with the
    positions of the rows that pass the rules, before the other columns are computed (the
    scan hands the excluded parcels to the writer there). When it returns ``True`` the
    excluded rows are done with: the other columns are computed for the rows at ``keep`` (and
    the ``explain`` rows) only, and the returned table holds only those rows.
    """
    from pipeline.scoring import evaluate_exclusions

    extra = dict(extra or {})
    rank = {**GROUP_RANK, **{g: grp.rank for g, grp in extra.items()}}
    every = set(ALL_GROUPS) | set(extra)
    rules = list(type_config.exclusions) if type_config is not None else []
    n = len(objects)
    force = np.zeros(n, dtype=bool) if explain is None else np.asarray(explain, dtype=bool)
    t = pd.concat([base, pd.DataFrame(municipality_columns(objects, ctx))], axis=1)
    t = derive(t)
    done: set[str] = set()

    def compute(groups: set[str], rows: np.ndarray) -> None:
        nonlocal t
        everyone = len(rows) == n
        subset = objects if everyone else objects.iloc[rows]
        own = sorted(groups & set(extra))
        view = t.iloc[rows] if own and not everyone else t

        def extra_task(g: str) -> Callable[[], dict[str, pd.Series]]:
            return lambda: {str(c): v for c, v in extra[g].compute(subset, view).items()}

        # every group of the round (common and the table's own) on the two threads at once
        common = group_tasks(subset, ctx, groups & ALL_GROUPS)
        results = concurrently(*common, *(extra_task(g) for g in own))
        cols: dict[str, pd.Series] = {}
        for result in results[: len(common)]:
            cols.update(result)
        cols = {c: cols[c] for c in _COMMON_ORDER if c in cols}
        for result in results[len(common) :]:
            cols.update(result)
        part = pd.DataFrame(cols, index=subset.index)
        t = pd.concat([t, part if everyone else fill_rows(part, objects.index, rows)], axis=1)
        t = derive(t)
        done.update(groups)

    active = np.ones(n, dtype=bool)
    needed = groups_for({r.column for r in rules}, extra) if rules else set()
    levels = sorted({rank[g] for g in needed})
    waiting = list(rules)
    # round 0: the rules on the base columns
    for level in [0, *levels]:
        if level:
            todo = {g for g in needed if rank[g] == level} - done
            if todo:
                compute(todo, np.flatnonzero(active | force))
        # a column, once there, keeps its values: each rule is evaluated once, when ready
        ready = [r for r in waiting if r.column in t.columns]
        waiting = [r for r in waiting if r.column not in t.columns]
        if ready:
            active &= ~evaluate_exclusions(t, ready, texts=False)["excluded"].to_numpy(bool)
    if not {r.column for r in rules} <= set(t.columns):
        # a rule on a column no group computes (a typo is caught by the config's validation)
        compute(every - done, np.arange(n))
        return t
    keep = np.flatnonzero(active)
    if on_first is not None and on_first(t, keep):
        rows = np.flatnonzero(active | force)
        t, objects, force, n = t.iloc[rows], objects.iloc[rows], force[rows], len(rows)
        active = np.ones(n, dtype=bool)
    rest = every - done
    if rest:
        compute(rest, np.flatnonzero(active | force))
    return t
