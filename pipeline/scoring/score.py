"""Score one feature table for one opportunity type: exclusions, criteria, score, tier, rank."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.errors import ConfigError
from pipeline.scoring.aggregate import aggregate, assign_tiers, capacity_units, rank_within
from pipeline.scoring.config import TypeConfig
from pipeline.scoring.exclusions import exclusion_texts
from pipeline.scoring.explain import (
    criterion_subscores,
    evaluate_criterion,
    explanation_json,
    merged_notes,
)
from pipeline.scoring.text import STR_DTYPE, Piece, concat, to_pandas

SITE_PREFIX = {
    "tijdelijke_locatie": "TL",
    "kantoortransformatie": "KT",
    "plinttransformatie": "PL",
}
#: Identifying columns copied to the excluded table when present.
EXCLUDED_KEEP = ("gemeentecode", "pand_id", "parcel_ids", "n_parcels", "merged")


def _check_columns(table: pd.DataFrame, type_config: TypeConfig, type_name: str) -> None:
    missing = [(key, col) for key, col in type_config.columns_used() if col not in table.columns]
    if missing:
        lines = "\n".join(
            f"  - types.{type_name}.{key}: the {type_name} feature table has no column '{col}'"
            for key, col in missing
        )
        raise ConfigError(
            f"the scan config refers to columns the feature table does not have:\n{lines}\n"
            "    fix: use the feature columns of docs/contracts.md §E, or remove these entries"
        )


def site_ids(index: pd.Index, type_name: str) -> np.ndarray:
    """``TL-<id>``, ``KT-<id>``, ``PL-<id>`` (ids that already carry the prefix are kept)."""
    prefix = SITE_PREFIX.get(type_name, type_name[:2].upper()) + "-"
    ids = pd.Series(index.astype(str), dtype=object)
    has = ids.str.startswith(prefix)
    return np.where(has, ids, prefix + ids).astype(object)


def score_table(
    table: pd.DataFrame, type_config: TypeConfig, *, type_name: str
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Score a feature table (contracts §E) for one opportunity type.

    Parameters
    ----------
    table
        Feature table indexed by the object id (``parcel_id``/site id, ``pand_id`` or
        ``vbo_id``), with geometry and the columns the config refers to.
    type_config
        The type's block of :class:`pipeline.scoring.config.ScanConfig`.
    type_name
        ``tijdelijke_locatie``, ``kantoortransformatie`` or ``plinttransformatie``.

    Returns
    -------
    candidates : GeoDataFrame
        The rows that no exclusion hit, with every input column plus ``site_id``,
        ``opportunity_type``, ``capacity_units`` (from the config's capacity rule), ``score``
        (0–100, one decimal), ``tier`` (A–E), ``rank`` (1 = best within ``gemeentecode``; ties
        by id), ``explanation`` (JSON), ``reasons`` (Dutch sentences joined by ``\\n``) and
        ``c_<criterion>_raw`` / ``c_<criterion>_score``. Sorted by municipality and rank.
    excluded : DataFrame
        The excluded rows (a GeoDataFrame when ``table`` has geometry), sorted by id, with
        ``reason_codes`` (comma-separated, config order), ``reasons`` (``\\n``-joined Dutch
        sentences) and the identifying columns ``gemeentecode``/``pand_id``/… when present.

    Raises
    ------
    ConfigError
        When the config refers to a column the table does not have.
    """
    _check_columns(table, type_config, type_name)
    work = table.copy(deep=False)  # copy-on-write: adding a column leaves ``table`` alone
    work["capacity_units"] = capacity_units(work, type_config.capacity)
    is_excl, excl_codes, excl_reasons = exclusion_texts(work, type_config.exclusions)

    keep = [c for c in EXCLUDED_KEEP if c in work.columns]
    excl_pos = np.flatnonzero(is_excl)
    excluded = work[keep].iloc[excl_pos].copy()
    excluded["reason_codes"] = pd.array(excl_codes.decode(), dtype=STR_DTYPE)
    excluded["reasons"] = pd.array(excl_reasons.decode(), dtype=STR_DTYPE)
    if isinstance(work, gpd.GeoDataFrame):
        excluded = gpd.GeoDataFrame(excluded, geometry=work.geometry.array[excl_pos], crs=work.crs)
    excluded = excluded.sort_index(kind="mergesort")

    # Pass 1, numbers only: sub-scores -> score -> rank -> the output order.
    cand_pos = np.flatnonzero(~is_excl)
    needed = {p.column for c in type_config.criteria for p in c.parts} | {"gemeentecode"}
    pre = work.iloc[cand_pos, [i for i, c in enumerate(work.columns) if c in needed]]
    missing_score = type_config.missing_score
    n = len(cand_pos)
    subscores = (
        np.column_stack(
            [criterion_subscores(pre, c, missing_score=missing_score) for c in type_config.criteria]
        )
        if n
        else np.zeros((0, len(type_config.criteria)))
    )
    weights = [c.weight for c in type_config.criteria]
    scores = aggregate(subscores, weights, method=type_config.aggregation)
    groups = pre["gemeentecode"] if "gemeentecode" in pre.columns else None
    ranks = rank_within(pd.Series(scores), groups, pre.index)
    group_keys = (
        groups.astype("string").fillna("").to_numpy() if groups is not None else np.full(n, "")
    )
    # (municipality, rank) is unique: rank_within already broke score ties by id
    group_order = pd.factorize(group_keys, sort=True)[0]  # integer keys sort faster
    order = np.lexsort((ranks, group_order))

    # Pass 2, in output order: texts and explanations.
    cand = work.iloc[cand_pos[order]]
    scores, ranks = scores[order], ranks[order]
    assert type_config.tiers is not None
    tiers = assign_tiers(scores, type_config.tiers.as_dict())
    results = [
        evaluate_criterion(cand, c, missing_score=missing_score) for c in type_config.criteria
    ]
    new: dict[str, Any] = {
        "site_id": site_ids(cand.index, type_name)
        if "site_id" not in cand.columns
        else cand["site_id"].to_numpy(),
        "opportunity_type": np.full(n, type_name, dtype=object),
        "score": scores,
        "tier": tiers,
        "rank": ranks,
    }
    reason_pieces: list[Piece] = []
    for i, r in enumerate(results):
        reason_pieces += ["\n" if i else "", r.reason.decode()]
        raw = r.raw
        if pd.api.types.is_bool_dtype(raw.dtype):
            raw = raw.astype("float64")
        new[f"c_{r.criterion.id}_raw"] = raw.to_numpy()
        new[f"c_{r.criterion.id}_score"] = np.round(r.subscore, 4)
    new["reasons"] = to_pandas(concat(reason_pieces, n), cand.index)
    new["explanation"] = to_pandas(
        explanation_json(
            results,
            type_config=type_config,
            scores=scores,
            tiers=tiers,
            row_notes=merged_notes(cand),
        ),
        cand.index,
    )
    added = pd.DataFrame(new, index=cand.index)
    cand = pd.concat([cand.drop(columns=[c for c in new if c in cand.columns]), added], axis=1)
    if not isinstance(cand, gpd.GeoDataFrame):
        cand = gpd.GeoDataFrame(cand)
    return cand, excluded
