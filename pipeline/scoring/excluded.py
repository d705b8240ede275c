"""The exclusion layers: every parcel and office/shop building that is not a candidate, with why.

``uitgesloten_percelen`` and ``uitgesloten_panden`` of docs/contracts.md §C, built from the
exclusion reasons :func:`pipeline.scoring.score_table` returns.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.features._spatial import geometry_array, lookup_positions
from pipeline.schemas import CRS
from pipeline.scoring.aggregate import capacity_units
from pipeline.scoring.config import TypeConfig
from pipeline.scoring.exclusions import exclusion_texts, group_reasons


def excluded_parcels(
    excluded: pd.DataFrame,
    parcels: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    candidate_pos: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """One row per parcel of every excluded site (merged sites expand to their parcels).

    ``candidate_pos`` (the candidate sites' positions in ``sites``; ``excluded`` then holds
    the other sites, in their order) allows a path without looking up every id.
    """
    cols = ["parcel_id", "gemeentecode", "reason_codes", "reasons"]
    if len(excluded) == 0:
        return gpd.GeoDataFrame(
            {c: pd.Series(dtype=object) for c in cols}, geometry=gpd.GeoSeries([], crs=CRS), crs=CRS
        )
    if candidate_pos is not None:
        site_of = _site_of_parcel(parcels, sites)
        is_excl = np.ones(len(sites), dtype=bool)
        is_excl[candidate_pos] = False
        if site_of is not None and np.array_equal(
            excluded.index.to_numpy(dtype=object), sites.index.to_numpy(dtype=object)[is_excl]
        ):
            # Parcels and sites are both sorted by id: the excluded parcels in parcel order
            # are those sorted by id. No lookup of a million string ids.
            ppos = np.flatnonzero(is_excl[site_of])
            row = (np.cumsum(is_excl) - 1)[site_of[ppos]]  # the parcel's row of ``excluded``
            frame = pd.DataFrame(
                {
                    "parcel_id": parcels.index.to_numpy(dtype=object)[ppos],
                    "gemeentecode": parcels["gemeentecode"].array.take(ppos),
                    "reason_codes": excluded["reason_codes"].array.take(row),
                    "reasons": excluded["reasons"].array.take(row),
                }
            )
            return gpd.GeoDataFrame(frame, geometry=geometry_array(parcels)[ppos], crs=CRS)
    site_ids = excluded.index.to_numpy(dtype=object)
    pos = lookup_positions(sites.index, site_ids)
    n = sites["n_parcels"].to_numpy()[pos]
    parcel_ids = site_ids.copy()
    multi = np.flatnonzero(n > 1)
    reps = np.ones(len(site_ids), dtype=np.int64)
    if len(multi):
        split = [str(v).split(",") for v in sites["parcel_ids"].to_numpy(dtype=object)[pos[multi]]]
        reps[multi] = [len(x) for x in split]
    site_rep = np.repeat(np.arange(len(site_ids)), reps)
    pid = np.repeat(parcel_ids, reps)
    if len(multi):
        starts = np.cumsum(reps) - reps
        for k, parts in zip(multi, split, strict=True):
            pid[starts[k] : starts[k] + len(parts)] = parts
    ppos = lookup_positions(parcels.index, pid)
    frame = pd.DataFrame(
        {
            "parcel_id": pid,
            "gemeentecode": parcels["gemeentecode"].to_numpy(dtype=object, na_value=None)[ppos],
            "reason_codes": excluded["reason_codes"].to_numpy(dtype=object)[site_rep],
            "reasons": excluded["reasons"].to_numpy(dtype=object)[site_rep],
        }
    )
    order = np.argsort(pid.astype(str), kind="stable")
    frame = frame.iloc[order]
    geoms = geometry_array(parcels)[ppos[order]]
    return gpd.GeoDataFrame(frame[cols].reset_index(drop=True), geometry=geoms, crs=CRS)


def _site_of_parcel(parcels: gpd.GeoDataFrame, sites: gpd.GeoDataFrame) -> np.ndarray | None:
    """The position in ``sites`` of each parcel's site, or ``None`` when the tables are not
    the scan's (parcels and sites sorted by id, a site indexed by its first parcel's id).

    The parcels of the merged sites (a few thousand) are looked up by id; the other parcels
    are the unmerged sites, in the same order.
    """
    n = len(parcels)
    if not (parcels.index.is_monotonic_increasing and sites.index.is_monotonic_increasing):
        return None
    merged = np.flatnonzero(sites["merged"].to_numpy(bool))
    site_of = np.full(n, -1, dtype=np.int64)
    if len(merged):
        parts = [str(v).split(",") for v in sites["parcel_ids"].to_numpy(dtype=object)[merged]]
        ids = np.array([pid for part in parts for pid in part], dtype=object)
        pos = np.minimum(parcels.index.searchsorted(ids), max(n - 1, 0))
        if n == 0 or not (parcels.index.to_numpy(dtype=object)[pos] == ids).all():
            return None
        site_of[pos] = np.repeat(merged, [len(p) for p in parts])
    rest = np.flatnonzero(site_of < 0)
    single = np.flatnonzero(~sites["merged"].to_numpy(bool))
    if len(rest) != len(single) or not np.array_equal(
        parcels.index.to_numpy(dtype=object)[rest], sites.index.to_numpy(dtype=object)[single]
    ):
        return None
    site_of[rest] = single
    return site_of


def excluded_buildings(
    buildings: gpd.GeoDataFrame,
    building_table: gpd.GeoDataFrame,
    kantoor_excluded: pd.DataFrame,
    plint_excluded: pd.DataFrame,
    unit_table: gpd.GeoDataFrame,
    candidate_pos: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """Every scanned office or shop building that is not a ``kantoren`` candidate.

    ``candidate_pos`` (positions of the candidates in ``building_table``) saves a lookup of
    every building id.

    A building is in scope of the building types when it has office floor area (it could be
    a ``kantoortransformatie``) or hosts a shop unit (its units could be
    ``plinttransformatie``); each such non-candidate keeps both reason sets. Buildings with
    neither (homes, sheds, schools, …) are outside both types by definition; they are not
    listed one by one (over 95 % of all buildings), the api explains them with one rule.
    """
    n = len(building_table)
    office = building_table["office_floor_m2"].to_numpy(float) if n else np.zeros(0)
    has_shop = np.zeros(n, dtype=bool)
    shop_pos = lookup_positions(
        building_table.index, unit_table["pand_id"].dropna().unique().astype(object)
    )
    has_shop[shop_pos[shop_pos >= 0]] = True
    if candidate_pos is None:
        is_excluded = building_table.index.isin(kantoor_excluded.index)
    else:
        is_excluded = np.ones(n, dtype=bool)
        is_excluded[candidate_pos] = False
    excl_pos = np.flatnonzero(is_excluded)  # the rows of kantoor_excluded, in its order
    keep_pos = np.flatnonzero(is_excluded & ((np.nan_to_num(office) > 0) | has_shop))
    if len(excl_pos) != len(kantoor_excluded):
        raise RuntimeError("excluded buildings do not match the building table")
    in_excl = np.searchsorted(excl_pos, keep_pos)
    keep = building_table.index[keep_pos]
    out = pd.DataFrame(index=keep)
    out.index.name = "pand_id"
    out["gemeentecode"] = building_table["gemeentecode"].to_numpy(dtype=object)[keep_pos]
    reason_codes = kantoor_excluded["reason_codes"].to_numpy(dtype=object, na_value="")
    reasons = kantoor_excluded["reasons"].to_numpy(dtype=object, na_value="")
    out["kantoor_reason_codes"] = reason_codes[in_excl]
    out["kantoor_reasons"] = reasons[in_excl]
    if len(plint_excluded):
        pe = plint_excluded.copy()
        if "pand_id" not in pe.columns:
            pe["pand_id"] = unit_table["pand_id"].reindex(pe.index).to_numpy()
        pe = pe[pe["pand_id"].notna()]
        grouped = group_reasons(
            pd.DataFrame(pe[["pand_id", "reason_codes", "reasons"]]), by="pand_id"
        )
    else:
        grouped = pd.DataFrame(
            {"reason_codes": pd.Series(dtype=object), "reasons": pd.Series(dtype=object)}
        )
    out["plint_reason_codes"] = grouped["reason_codes"].reindex(keep).fillna("").to_numpy()
    out["plint_reasons"] = grouped["reasons"].reindex(keep).fillna("").to_numpy()
    out = out.reset_index()
    if len(buildings) == n and buildings.index.equals(building_table.index):
        geoms = geometry_array(buildings)[keep_pos]
    else:
        geoms = geometry_array(buildings)[buildings.index.get_indexer(keep)]
    return gpd.GeoDataFrame(out, geometry=geoms, crs=CRS)


def empty_reasons() -> pd.DataFrame:
    """An empty table of exclusion reasons (``reason_codes``, ``reasons``)."""
    return pd.DataFrame(
        {"reason_codes": pd.Series(dtype=object), "reasons": pd.Series(dtype=object)}
    )


def early_exclusion_possible(type_config: TypeConfig) -> bool:
    """Whether the excluded sites are known from their exclusion columns alone: not when a
    rule is on the configured capacity (decided by scoring)."""
    return not any(r.column == "capacity_units" for r in type_config.exclusions)


def early_excluded_parcels(
    table: pd.DataFrame, keep: np.ndarray, type_config: TypeConfig, parcels: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """The ``uitgesloten_percelen`` layer as soon as the exclusion columns are known.

    ``table`` holds the exclusion columns of every site and ``keep`` the positions the rules
    keep. The excluded parcels (nine in ten) can then go to the writer before the other
    features and the scoring of the candidates are computed. Only when
    :func:`early_exclusion_possible`; the rules must keep the rows at ``keep``.
    """
    rules = list(type_config.exclusions)
    work = table.assign(capacity_units=capacity_units(table, type_config.capacity))
    # the texts of the excluded rows only (no columns of every row to take them from)
    is_excl, codes, reasons = exclusion_texts(work, rules)
    del work
    if not np.array_equal(np.flatnonzero(~is_excl), keep):
        raise RuntimeError("the exclusion rules keep other sites than the feature rounds did")
    live = keep
    pos = np.flatnonzero(is_excl)
    excl = pd.DataFrame(
        {
            "n_parcels": table["n_parcels"].to_numpy()[pos],
            "parcel_ids": table["parcel_ids"].to_numpy(dtype=object)[pos],
            "reason_codes": codes.categorical(),
            "reasons": reasons.categorical(),
        },
        index=table.index[pos],
    )
    return excluded_parcels(excl, parcels, table, candidate_pos=live)
