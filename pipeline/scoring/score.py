"""Score one feature table for one opportunity type: exclusions, criteria, score, tier, rank."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.errors import ConfigError
from pipeline.scoring.aggregate import (
    aggregate,
    assign_tiers,
    cap_scores,
    capacity_columns,
    rank_within,
)
from pipeline.scoring.config import STUDY_COLUMN, TIER_NAMES, TypeConfig
from pipeline.scoring.exclusions import attention_texts, exclusion_texts, rule_mask, rule_reasons
from pipeline.scoring.explain import (
    criterion_subscores,
    evaluate_criterion,
    evaluate_penalty,
    explanation_json,
    merged_notes,
    penalty_points,
)
from pipeline.scoring.explain_extra import availability_json, capacity_json
from pipeline.scoring.text import STR_DTYPE, Piece, concat, full, json_strings, to_pandas, where

SITE_PREFIX = {
    "tijdelijke_locatie": "TL",
    "kantoortransformatie": "KT",
    "plinttransformatie": "PL",
}
#: Identifying columns copied to the excluded table when present.
EXCLUDED_KEEP = ("gemeentecode", "pand_id", "parcel_ids", "n_parcels", "merged")


def _check_columns(table: pd.DataFrame, type_config: TypeConfig, type_name: str) -> None:
    missing = [
        (key, col)
        for key, col in type_config.columns_used()
        if col not in table.columns and col != STUDY_COLUMN
    ]
    if missing:
        lines = "\n".join(
            f"  - types.{type_name}.{key}: the {type_name} feature table has no column '{col}'"
            for key, col in missing
        )
        raise ConfigError(
            f"the scan config refers to columns the feature table does not have:\n{lines}\n"
            "    fix: use the feature columns of docs/contracts.md §E, or remove these entries"
        )


def study_count(table: pd.DataFrame, type_config: TypeConfig) -> np.ndarray:
    """``n_onderzoeken``: per row the number of ``study: true`` aandachtspunten that apply.

    Each such aandachtspunt is a study or procedure before a permit (contracts §E.6); the
    count feeds the ``onderzoeken`` penalty. The same rules, evaluated the same way, list the
    aandachtspunten, so the count always equals the studies listed in the explanation.
    """
    count = np.zeros(len(table), dtype="float64")
    for rule in type_config.attention:
        if rule.study:
            count += rule_mask(table, rule)
    return count


def site_ids(index: pd.Index, type_name: str) -> np.ndarray:
    """``TL-<id>``, ``KT-<id>``, ``PL-<id>`` (ids that already carry the prefix are kept)."""
    prefix = SITE_PREFIX.get(type_name, type_name[:2].upper()) + "-"
    ids = pd.Series(index.astype(str), dtype=object)
    has = ids.str.startswith(prefix)
    return np.where(has, ids, prefix + ids).astype(object)


def _tier_cap_mask(table: pd.DataFrame, type_config: TypeConfig) -> np.ndarray:
    """Per row the worst tier a tier cap allows (``""`` without a cap)."""
    order = np.array(["", *TIER_NAMES[1:], "E"], dtype=object)  # "", B, C, D, E
    rank = np.zeros(len(table), dtype="int64")
    for rule in type_config.tier_caps:
        level = int(np.flatnonzero(order == rule.max_tier)[0])
        rank = np.where(rule_mask(table, rule), np.maximum(rank, level), rank)
    return order[rank]


def score_table(
    table: pd.DataFrame,
    type_config: TypeConfig,
    *,
    type_name: str,
    rent_note: str | None = None,
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
    rent_note
        The rent check's sentence for the scan's reference year (default: the config's
        latest year).

    Returns
    -------
    candidates : GeoDataFrame
        The rows that no exclusion hit, with every input column plus ``site_id``,
        ``opportunity_type``, ``capacity_units`` (from the config's capacity rule), ``score``
        (0–100, one decimal: weighted criteria minus penalties, capped by tier caps), ``tier``
        (A–E), ``rank`` (1 = best within ``gemeentecode``; ties by id), ``capacity_low``/
        ``capacity_high``, ``aandachtspunten`` (JSON list) and ``aandachtspunt_codes``,
        ``explanation`` (JSON), ``reasons`` (Dutch sentences joined by ``\\n``),
        ``c_<criterion>_raw`` / ``c_<criterion>_score`` and ``p_<penalty>_raw`` /
        ``p_<penalty>_points``. Sorted by municipality and rank.
    excluded : DataFrame
        The excluded rows (a GeoDataFrame when ``table`` has geometry), sorted by id, with
        ``reason_codes`` (comma-separated, config order), ``reasons`` (``\\n``-joined Dutch
        sentences) and the identifying columns ``gemeentecode``/``pand_id``/… when present.

    Raises
    ------
    ConfigError
        When the config refers to a column the table does not have.
    """
    work = table.copy(deep=False)  # copy-on-write: adding a column leaves ``table`` alone
    if type_config.capacity.column in work.columns:
        for col, values in capacity_columns(work, type_config.capacity).items():
            work[col] = values
    _check_columns(work, type_config, type_name)
    work[STUDY_COLUMN] = study_count(work, type_config)
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
    needed = (
        {p.column for c in type_config.criteria for p in c.parts}
        | {p.column for p in type_config.penalties}
        | {r.column for r in type_config.tier_caps}
        | {"gemeentecode"}
    )
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
    penalty = (
        np.sum([penalty_points(pre, pen) for pen in type_config.penalties], axis=0)
        if type_config.penalties and n
        else None
    )
    scores = aggregate(subscores, weights, method=type_config.aggregation, penalty=penalty)
    assert type_config.tiers is not None
    thresholds = type_config.tiers.as_dict()
    capped = _tier_cap_mask(pre, type_config) if type_config.tier_caps else np.full(n, "")
    if type_config.tier_caps:
        scores = cap_scores(scores, capped, thresholds)
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
    scores, ranks, capped = scores[order], ranks[order], capped[order]
    tiers = assign_tiers(scores, thresholds)
    results = [
        evaluate_criterion(cand, c, missing_score=missing_score) for c in type_config.criteria
    ]
    pen_results = [evaluate_penalty(cand, pen) for pen in type_config.penalties]
    att_hit, att_codes, att_json = attention_texts(cand, type_config.attention)
    att_pos = np.flatnonzero(att_hit)
    aandachtspunten = where(att_hit, "", "[]")
    codes_text = full(n, "")
    if len(att_pos):
        from pipeline.scoring.text import scatter

        aandachtspunten = scatter(
            aandachtspunten, att_hit, concat(["[", att_json.decode(), "]"], len(att_pos))
        )
        codes_text = scatter(codes_text, att_hit, att_codes.decode())
    tier_cap_json = _tier_cap_json(cand, type_config, capped)
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
    for pr in pen_results:
        reason_pieces += ["\n" if reason_pieces else "", pr.reason.decode()]
        raw = pr.raw
        if pd.api.types.is_bool_dtype(raw.dtype):
            raw = raw.astype("float64")
        new[f"p_{pr.penalty.id}_raw"] = raw.to_numpy()
        new[f"p_{pr.penalty.id}_points"] = np.round(pr.points, 1)
    new["aandachtspunten"] = to_pandas(aandachtspunten, cand.index)
    new["aandachtspunt_codes"] = to_pandas(codes_text, cand.index)
    new["reasons"] = to_pandas(concat(reason_pieces, n), cand.index)
    new["explanation"] = to_pandas(
        explanation_json(
            results,
            type_config=type_config,
            scores=scores,
            tiers=tiers,
            row_notes=merged_notes(cand),
            penalties=pen_results,
            tier_cap=tier_cap_json,
            capacity=capacity_json(cand),
            aandachtspunten=aandachtspunten,
            availability=availability_json(cand),
            rent_note=rent_note,
        ),
        cand.index,
    )
    added = pd.DataFrame(new, index=cand.index)
    cand = pd.concat([cand.drop(columns=[c for c in new if c in cand.columns]), added], axis=1)
    if not isinstance(cand, gpd.GeoDataFrame):
        cand = gpd.GeoDataFrame(cand)
    return cand, excluded


def _tier_cap_json(
    cand: pd.DataFrame, type_config: TypeConfig, capped: np.ndarray
) -> pa.Array | None:
    """``{"code", "max_tier", "reason"}`` of the cap that decided each row (``null`` if none)."""
    n = len(cand)
    if not type_config.tier_caps or n == 0:
        return None
    import json

    out = full(n, "null")
    for rule in type_config.tier_caps:
        hit = rule_mask(cand, rule) & (capped == rule.max_tier)
        if hit.any():
            from pipeline.scoring.text import scatter

            head = f'{{"code": {json.dumps(rule.code)}, "max_tier": "{rule.max_tier}", "reason": '
            texts = concat([head, json_strings(rule_reasons(cand, rule, hit)), "}"], int(hit.sum()))
            out = scatter(out, hit, texts)
            capped = np.where(hit, "", capped)  # the first matching rule explains the cap
    return out
