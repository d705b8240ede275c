"""Sub-scores -> score 0–100 -> tier -> rank within the municipality; and capacity in homes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from pipeline.scoring.config import TIER_NAMES, Capacity

TIERS = (*TIER_NAMES, "E")


def weighted_sum(subscores: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """``100 × Σ wᵢ sᵢ`` over the criteria (columns of ``subscores``, each in [0, 1]).

    Parameters
    ----------
    subscores
        Array of shape (n_rows, n_criteria) without NaN.
    weights
        One weight per criterion, summing to 1.
    """
    s = np.clip(np.asarray(subscores, dtype="float64"), 0.0, 1.0)
    return np.clip(100.0 * (s @ np.asarray(weights, dtype="float64")), 0.0, 100.0)


def weighted_geometric_mean(subscores: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """``100 × Π sᵢ^wᵢ``: one zero sub-score gives 0 (a weakness cannot be compensated)."""
    s = np.clip(np.asarray(subscores, dtype="float64"), 0.0, 1.0)
    w = np.asarray(weights, dtype="float64")
    with np.errstate(divide="ignore"):
        logs = np.log(s) @ w  # -inf where any sᵢ = 0
    return np.clip(100.0 * np.exp(logs), 0.0, 100.0)


def aggregate(
    subscores: np.ndarray,
    weights: Sequence[float],
    *,
    method: str,
    penalty: np.ndarray | None = None,
) -> np.ndarray:
    """The score 0–100, rounded to one decimal, by ``weighted_sum`` or ``weighted_geometric_mean``.

    ``score = round(clip(aggregate − penalty, 0, 100))`` with ``penalty`` the points the
    penalties subtract per row (contracts §E.6); rounding half up on the decimal grid.
    """
    if method == "weighted_sum":
        raw = weighted_sum(subscores, weights)
    elif method == "weighted_geometric_mean":
        raw = weighted_geometric_mean(subscores, weights)
    else:  # pragma: no cover - the config model forbids this
        raise ValueError(f"unknown aggregation {method!r}")
    if penalty is not None and len(raw):
        raw = np.clip(raw - np.nan_to_num(np.asarray(penalty, dtype="float64")), 0.0, 100.0)
    # Round half away from zero on a decimal grid, robust to 64.94999… float noise.
    return np.floor(raw * 10.0 + 0.5 + 1e-9) / 10.0


def cap_scores(
    scores: np.ndarray, max_tier: np.ndarray, thresholds: Mapping[str, float]
) -> np.ndarray:
    """Scores capped by a tier cap: at most 0.1 below the threshold of the tier above ``max_tier``.

    ``max_tier`` holds per row the worst tier a cap allows (``""`` = no cap); e.g. ``B`` with
    A ≥ 80 caps the score at 79.9, so score, tier and rank agree.
    """
    out = np.asarray(scores, dtype="float64").copy()
    order = list(TIERS)
    for tier in order[1:]:
        hit = max_tier == tier
        if hit.any():
            ceiling = thresholds[order[order.index(tier) - 1]] - 0.1
            out[hit] = np.minimum(out[hit], ceiling)
    return out


def assign_tiers(scores: np.ndarray, thresholds: Mapping[str, float]) -> np.ndarray:
    """Tier A–E: the first tier whose lower bound the score reaches, else E."""
    s = np.asarray(scores, dtype="float64")
    bounds = [thresholds[t] for t in TIER_NAMES]
    conditions = [s >= b for b in bounds]
    return np.select(conditions, list(TIER_NAMES), default="E").astype(object)


def rank_within(
    scores: pd.Series, groups: pd.Series | None, ids: pd.Series | pd.Index
) -> np.ndarray:
    """Rank 1 = highest score within each group; equal scores ordered by id (ascending).

    Deterministic and independent of row order: the order is (group, -score, id).
    """
    n = len(scores)
    if n == 0:
        return np.zeros(0, dtype="int64")
    frame = pd.DataFrame(
        {
            "g": (
                groups.astype("string").fillna("").to_numpy()
                if groups is not None
                else np.full(n, "")
            ),
            "s": -np.asarray(scores, dtype="float64"),
            "id": pd.Index(ids).astype(str).to_numpy(),
            "pos": np.arange(n),
        }
    )
    frame = frame.sort_values(["g", "s", "id"], kind="mergesort")
    ranks = frame.groupby("g", sort=False).cumcount().to_numpy() + 1
    out = np.empty(n, dtype="int64")
    out[frame["pos"].to_numpy()] = ranks
    return out


def capacity_units(
    table: pd.DataFrame, rule: Capacity, *, estimate: str = "central", column: str | None = None
) -> np.ndarray:
    """Homes: ``min(max_units, max(min_units, floor(column × efficiency / area_per_unit)))``.

    ``area_per_unit`` is ``m2_per_unit``, or ``10 000 / units_per_ha``, of the ``central``,
    ``low`` or ``high`` estimate; a missing (NaN) column gives 0.
    """
    area = pd.to_numeric(table[column or rule.column], errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )
    units = np.floor(area * rule.efficiency / rule.area_per_unit_at(estimate) + 1e-9)
    units = np.where(np.isnan(units), 0.0, np.maximum(units, rule.min_units))
    if rule.max_units is not None:
        units = np.minimum(units, rule.max_units)
    return np.maximum(units, 0).astype("int64")


def capacity_columns(table: pd.DataFrame, rule: Capacity) -> dict[str, np.ndarray]:
    """``capacity_units``, ``capacity_low``, ``capacity_high`` (equal to the central estimate
    without a ``range``) and, when configured, ``capacity_whole_building``."""
    out = {
        "capacity_units": capacity_units(table, rule),
        "capacity_low": capacity_units(table, rule, estimate="low"),
        "capacity_high": capacity_units(table, rule, estimate="high"),
    }
    if rule.whole_building_column is not None:
        out["capacity_whole_building"] = capacity_units(
            table, rule, column=rule.whole_building_column
        )
    return out


def summarise_gemeenten(
    municipalities: pd.DataFrame,
    candidates: Mapping[str, pd.DataFrame],
    *,
    dwelling_stock: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """The ``gemeenten`` summary of contracts §C: counts and capacity per type and tier.

    Parameters
    ----------
    municipalities
        The municipalities (GeoDataFrame with ``gemeentecode``, ``gemeentenaam``, geometry).
    candidates
        Scored candidates per opportunity type name (``tijdelijke_locatie`` …), each with
        ``gemeentecode``, ``tier`` and ``capacity_units`` (sites also ``area_m2``).
    dwelling_stock
        The number of current homes (BAG units with woonfunctie) per municipality code.

    Returns
    -------
    DataFrame (GeoDataFrame when the input is one)
        One row per municipality: ``n_<type>``, ``n_<type>_<tier>``, ``capacity_<type>``,
        ``capacity_<type>_<tier>`` for every type and tier A–E, and ``capacity_ab`` (all
        types, tiers A and B), ``dwelling_stock``, ``capacity_ab_share`` (``capacity_ab /
        dwelling_stock``, NaN for no stock), ``candidate_area_m2`` (summed ``area_m2`` of the
        sites) and ``area_m2`` (the municipality's area). Types absent from ``candidates``
        count 0.
    """
    from pipeline.scoring.config import TYPE_NAMES

    out = municipalities[["gemeentecode", "gemeentenaam"]].copy()
    codes = pd.Index(out["gemeentecode"].astype(str).to_numpy(dtype=object))
    n_gem, n_tier = len(codes), len(TIERS)
    capacity_ab = np.zeros(n_gem, dtype="int64")
    cols: dict[str, np.ndarray] = {}
    for type_name in TYPE_NAMES:
        counts = np.zeros((n_gem, n_tier), dtype="int64")
        caps = np.zeros((n_gem, n_tier), dtype="int64")
        cand = candidates.get(type_name)
        if cand is not None and len(cand):
            # Integer group-by: municipality position x tier position, summed with bincount.
            gpos = codes.get_indexer(pd.Index(cand["gemeentecode"].astype(str)))
            tpos = pd.Index(TIERS).get_indexer(pd.Index(cand["tier"].astype(str)))
            ok = (gpos >= 0) & (tpos >= 0)
            cell = gpos[ok] * n_tier + tpos[ok]
            cap = pd.to_numeric(cand["capacity_units"]).fillna(0).to_numpy(float)[ok]
            size = n_gem * n_tier
            counts = np.bincount(cell, minlength=size).reshape(n_gem, n_tier).astype("int64")
            caps = (
                np.rint(np.bincount(cell, weights=cap, minlength=size))
                .reshape(n_gem, n_tier)
                .astype("int64")
            )
        cols[f"n_{type_name}"] = counts.sum(axis=1)
        for k, t in enumerate(TIERS):
            cols[f"n_{type_name}_{t}"] = counts[:, k]
        cols[f"capacity_{type_name}"] = caps.sum(axis=1)
        for k, t in enumerate(TIERS):
            cols[f"capacity_{type_name}_{t}"] = caps[:, k]
        capacity_ab += caps[:, TIERS.index("A")] + caps[:, TIERS.index("B")]
    out = pd.concat([out, pd.DataFrame(cols, index=out.index)], axis=1)
    out["capacity_ab"] = capacity_ab
    stock = np.array([int((dwelling_stock or {}).get(str(c), 0)) for c in codes], dtype="int64")
    out["dwelling_stock"] = stock
    with np.errstate(divide="ignore", invalid="ignore"):
        out["capacity_ab_share"] = np.where(stock > 0, capacity_ab / np.maximum(stock, 1), np.nan)
    sites = candidates.get("tijdelijke_locatie")
    area = np.zeros(n_gem)
    if sites is not None and len(sites) and "area_m2" in sites.columns:
        gpos = codes.get_indexer(pd.Index(sites["gemeentecode"].astype(str)))
        ok = gpos >= 0
        area = np.bincount(
            gpos[ok], weights=pd.to_numeric(sites["area_m2"]).to_numpy(float)[ok], minlength=n_gem
        ).astype("float64")
    out["candidate_area_m2"] = area
    if "geometry" in municipalities.columns:
        import shapely

        out["area_m2"] = shapely.area(np.asarray(municipalities.geometry.array, dtype=object))
    else:
        out["area_m2"] = np.nan
    if "geometry" in municipalities.columns:
        import geopandas as gpd

        return gpd.GeoDataFrame(
            out,
            geometry=municipalities.geometry.to_numpy(),
            crs=getattr(municipalities, "crs", None),
        )
    return out
