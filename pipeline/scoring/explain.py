"""Per-criterion raw value, sub-score, weight and Dutch reason, built column-wise from templates.

For every candidate and every criterion this module produces the raw value (``c_<id>_raw``),
the sub-score (``c_<id>_score``), a Dutch sentence, and from those the ``explanation`` JSON
and the ``reasons`` text of docs/contracts.md §C.

Missing data: a part whose raw value is missing (NaN, null, or a categorical
``missing_values`` entry such as ``onbekend``) is left out of its criterion's combination;
when every part is missing the criterion gets its neutral ``missing_score`` (default 0.5) and
a sentence saying the data is missing.

The flat ``c_<id>_raw`` of a criterion made of several parts is the raw value of the part that
decided the sub-score (``combine: max`` / ``min``), or of the first available part
(``combine: mean``); ``explanation.criteria[].parts`` lists every part.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.scoring.config import (
    Criterion,
    Part,
    Penalty,
    TypeConfig,
    format_value,
    transfer_params,
)
from pipeline.scoring.text import (
    Coded,
    Piece,
    bool_coded,
    concat,
    concat_coded,
    format_scores_coded,
    format_values,
    format_values_coded,
    full,
    joint_codes,
    json_numbers_coded,
    json_strings,
    render,
    scatter,
    where,
)
from pipeline.scoring.transfer import apply_transfer

DEFAULT_MISSING_REASON = "Geen gegevens over {label}; neutrale deelscore {score}."


@dataclass
class PartResult:
    part: Part
    raw: pd.Series
    raw_text: Coded
    subscore: np.ndarray  # NaN where missing
    reason: Coded


@dataclass
class CriterionResult:
    criterion: Criterion
    raw: pd.Series
    raw_text: Coded
    subscore: np.ndarray  # never NaN
    missing: np.ndarray
    reason: Coded
    parts: list[PartResult]


def _constants(part: Part) -> dict[str, str]:
    consts = {
        k: format_value(v, part.unit, part.decimals)
        for k, v in transfer_params(part.transfer).items()
    }
    consts["label"] = part.label
    return consts


def evaluate_part(table: pd.DataFrame, part: Part, *, missing_score: float) -> PartResult:
    """Sub-score and sentence of one part (column + transfer) for every row of ``table``."""
    n = len(table)
    raw = table[part.column].reset_index(drop=True)
    sub = apply_transfer(raw, part.transfer)
    missing = np.isnan(sub)
    raw_text = format_values_coded(raw, part.unit, part.decimals)
    # On the 0–100 scale of the panel's table and the score ("deelscore 30", not "0,3").
    score_text = format_scores_coded(np.round(np.where(missing, missing_score, sub) * 100))
    consts = _constants(part)

    choice = np.zeros(n, dtype="int8")  # 0 reason, 1 full, 2 zero, 3 missing
    if part.reason_full is not None:
        choice[(sub >= 1.0) & ~missing] = 1
    if part.reason_zero is not None:
        choice[(sub <= 0.0) & ~missing] = 2
    choice[missing] = 3
    templates = [
        part.reason,
        part.reason_full or part.reason,
        part.reason_zero or part.reason,
        part.reason_missing or DEFAULT_MISSING_REASON,
    ]
    # The sentence depends only on (raw text, score text, template): fill each distinct
    # combination once.
    joint, (raw_codes, score_codes, choices) = joint_codes(
        [raw_text.codes, score_text.codes, choice]
    )
    k = len(choices)
    rows = {
        "raw": raw_text.texts.take(pa.array(raw_codes)),
        "score": score_text.texts.take(pa.array(score_codes)),
    }
    distinct = full(k, "")
    for t, template in enumerate(templates):
        mask = choices == t
        if mask.all():
            distinct = render(template, k, rows=rows, constants=consts)
        elif mask.any():
            keep = pa.array(mask)
            sub_rows = {key: val.filter(keep) for key, val in rows.items()}
            sentences = render(template, int(mask.sum()), rows=sub_rows, constants=consts)
            distinct = scatter(distinct, mask, sentences)
    reason = Coded(distinct, joint)
    return PartResult(part, raw, raw_text, sub, reason)


@dataclass
class PenaltyResult:
    penalty: Penalty
    raw: pd.Series
    raw_text: Coded
    fraction: np.ndarray  # 0–1; 0 where the value is missing
    points: np.ndarray  # points subtracted
    reason: Coded


def penalty_points(table: pd.DataFrame, penalty: Penalty) -> np.ndarray:
    """``points × t(column)`` per row (0 where the value is missing)."""
    frac = apply_transfer(table[penalty.column], penalty.transfer)
    return penalty.points * np.nan_to_num(np.clip(frac, 0.0, 1.0), nan=0.0)


def evaluate_penalty(table: pd.DataFrame, penalty: Penalty) -> PenaltyResult:
    """Points subtracted and the Dutch sentence of one penalty for every row of ``table``."""
    n = len(table)
    raw = table[penalty.column].reset_index(drop=True)
    frac = apply_transfer(raw, penalty.transfer)
    missing = np.isnan(frac)
    fraction = np.where(missing, 0.0, np.clip(frac, 0.0, 1.0))
    points = penalty.points * fraction
    raw_text = format_values_coded(raw, penalty.unit, penalty.decimals)
    points_text = format_values_coded(np.round(points, 1), "", 1)
    consts = {
        k: format_value(v, penalty.unit, penalty.decimals)
        for k, v in transfer_params(penalty.transfer).items()
    }
    consts["label"] = penalty.label
    choice = np.zeros(n, dtype="int8")  # 0 reason, 1 zero (no penalty), 2 missing
    if penalty.reason_zero is not None:
        choice[(points <= 0.0) & ~missing] = 1
    choice[missing] = 2
    templates = [
        penalty.reason,
        penalty.reason_zero or penalty.reason,
        penalty.reason_missing or "Geen gegevens over {label}; geen aftrek.",
    ]
    joint, (raw_codes, point_codes, choices) = joint_codes(
        [raw_text.codes, points_text.codes, choice]
    )
    k = len(choices)
    rows = {
        "raw": raw_text.texts.take(pa.array(raw_codes)),
        "points": points_text.texts.take(pa.array(point_codes)),
        "score": points_text.texts.take(pa.array(point_codes)),
    }
    distinct = full(k, "")
    for c, template in enumerate(templates):
        mask = choices == c
        if mask.any():
            keep = pa.array(mask)
            sub_rows = {key: val.filter(keep) for key, val in rows.items()}
            distinct = scatter(
                distinct, mask, render(template, int(mask.sum()), rows=sub_rows, constants=consts)
            )
    return PenaltyResult(penalty, raw, raw_text, fraction, points, Coded(distinct, joint))


def _combine(stack: np.ndarray, combine: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(combined sub-score with NaN where all parts miss, all-missing mask, deciding part)."""
    n = stack.shape[0]
    missing = np.all(np.isnan(stack), axis=1)
    filled = np.where(np.isnan(stack), -np.inf if combine == "max" else np.inf, stack)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if combine == "max":
            pick = np.argmax(filled, axis=1)
            combined = np.take_along_axis(stack, pick[:, None], axis=1)[:, 0]
        elif combine == "min":
            pick = np.argmin(filled, axis=1)
            combined = np.take_along_axis(stack, pick[:, None], axis=1)[:, 0]
        else:
            combined = np.nanmean(stack, axis=1) if n else np.zeros(0)
            pick = np.argmax(~np.isnan(stack), axis=1) if n else np.zeros(0, dtype=int)
    return combined, missing, pick


def criterion_subscores(
    table: pd.DataFrame, criterion: Criterion, *, missing_score: float
) -> np.ndarray:
    """The criterion's sub-scores only (no texts): what :func:`evaluate_criterion` computes."""
    neutral = criterion.missing_score if criterion.missing_score is not None else missing_score
    subs = [apply_transfer(table[p.column], p.transfer) for p in criterion.parts]
    stack = np.column_stack(subs) if len(table) else np.zeros((0, len(subs)))
    combined, missing, _pick = _combine(stack, criterion.combine)
    return np.where(missing, neutral, combined)


def evaluate_criterion(
    table: pd.DataFrame, criterion: Criterion, *, missing_score: float
) -> CriterionResult:
    """Combine the parts of a criterion (max / mean / min over the available parts).

    Parameters
    ----------
    table
        The candidates (feature table rows).
    criterion
        The criterion config.
    missing_score
        The type's neutral score, used unless the criterion sets its own.
    """
    neutral = criterion.missing_score if criterion.missing_score is not None else missing_score
    parts = [evaluate_part(table, p, missing_score=neutral) for p in criterion.parts]
    n = len(table)
    if len(parts) == 1:
        p = parts[0]
        missing = np.isnan(p.subscore)
        subscore = np.where(missing, neutral, p.subscore)
        return CriterionResult(criterion, p.raw, p.raw_text, subscore, missing, p.reason, parts)

    stack = np.column_stack([p.subscore for p in parts]) if n else np.zeros((0, len(parts)))
    combined, missing, pick = _combine(stack, criterion.combine)
    subscore = np.where(missing, neutral, combined)

    raws = [p.raw for p in parts]
    if all(
        pd.api.types.is_numeric_dtype(r.dtype) and not pd.api.types.is_bool_dtype(r.dtype)
        for r in raws
    ):
        raw_stack = (
            np.column_stack([r.astype("float64").to_numpy() for r in raws])
            if n
            else np.zeros((0, len(parts)))
        )
        raw = pd.Series(
            np.take_along_axis(raw_stack, pick[:, None], axis=1)[:, 0] if n else np.zeros(0)
        )
    else:
        raw_stack_o = (
            np.column_stack([r.astype(object).to_numpy() for r in raws])
            if n
            else np.zeros((0, len(parts)), dtype=object)
        )
        raw = pd.Series(
            np.take_along_axis(raw_stack_o, pick[:, None], axis=1)[:, 0]
            if n
            else np.zeros(0, dtype=object),
            dtype=object,
        )

    text_pieces: list[str | Coded] = []
    reason_pieces: list[str | Coded] = []
    for i, p in enumerate(parts):
        text_pieces += [("; " if i else "") + (p.part.label or p.part.column) + ": ", p.raw_text]
        reason_pieces += [" " if i else "", p.reason]
    raw_text = concat_coded(text_pieces, n)
    reason = concat_coded(reason_pieces, n)
    return CriterionResult(criterion, raw, raw_text, subscore, missing, reason, parts)


def explanation_json(
    results: list[CriterionResult],
    *,
    type_config: TypeConfig,
    scores: np.ndarray,
    tiers: np.ndarray,
    row_notes: pa.Array | None = None,
    penalties: list[PenaltyResult] | None = None,
    tier_cap: pa.Array | None = None,
    capacity: pa.Array | None = None,
    aandachtspunten: pa.Array | None = None,
    availability: pa.Array | None = None,
    rent_note: str | None = None,
) -> pa.Array:
    """The ``explanation`` JSON text of every row, assembled from per-criterion columns.

    ``{"criteria": [{"id", "label", "weight", "raw", "raw_text", "subscore", "reason",
    "missing", ["combine", "parts": [...]]}], "penalties": [...], "aggregation", "score",
    "tier", "tier_cap", "capacity", "aandachtspunten", ["availability"], "notes": [...],
    "disclaimer"}`` (docs/contracts.md §C). ``tier_cap``, ``capacity``, ``aandachtspunten``
    and ``availability`` are JSON texts per row (``null`` / ``[]`` when absent).
    """
    import json

    def js(value: object) -> str:
        return json.dumps(value, ensure_ascii=False)

    n = len(scores)
    pieces: list[Piece] = ['{"criteria": [']
    for i, r in enumerate(results):
        c = r.criterion
        # one criterion object per distinct combination of its values, then one take
        obj: list[str | Coded] = [
            (", " if i else "")
            + f'{{"id": {js(c.id)}, "label": {js(c.label)}, "weight": {js(c.weight)}, "raw": ',
            json_numbers_coded(r.raw),
            ', "raw_text": ',
            r.raw_text.map(json_strings),
            ', "subscore": ',
            json_numbers_coded(r.subscore, decimals=3),
            ', "reason": ',
            r.reason.map(json_strings),
            ', "missing": ',
            bool_coded(r.missing, "true", "false"),
        ]
        if len(r.parts) > 1:
            obj.append(f', "combine": {js(c.combine)}, "parts": [')
            for j, p in enumerate(r.parts):
                obj += [
                    (", " if j else "")
                    + f'{{"column": {js(p.part.column)}, "label": {js(p.part.label)}, "raw": ',
                    json_numbers_coded(p.raw),
                    ', "raw_text": ',
                    p.raw_text.map(json_strings),
                    ', "subscore": ',
                    json_numbers_coded(p.subscore, decimals=3),
                    "}",
                ]
            obj.append("]")
        obj.append("}")
        pieces += _row_pieces(obj, n)
    pieces.append('], "penalties": [')
    for i, pr in enumerate(penalties or []):
        pen = pr.penalty
        obj = [
            (", " if i else "")
            + f'{{"id": {js(pen.id)}, "label": {js(pen.label)}, "points": {js(pen.points)}, "raw": ',
            json_numbers_coded(pr.raw),
            ', "raw_text": ',
            pr.raw_text.map(json_strings),
            ', "penalty": ',
            json_numbers_coded(np.round(pr.points, 1), decimals=1),
            ', "reason": ',
            pr.reason.map(json_strings),
            "}",
        ]
        pieces += _row_pieces(obj, n)
    note = rent_note if rent_note is not None else type_config.rent_note
    static_notes = [*type_config.notes, *([note] if note else [])]
    notes_head = ", ".join(js(t) for t in static_notes)
    pieces += [
        f'], "aggregation": {js(type_config.aggregation)}, "score": ',
        json_numbers_coded(scores, decimals=1).decode(),
        ', "tier": ',
        json_strings(tiers),
        ', "tier_cap": ',
        tier_cap if tier_cap is not None else "null",
        ', "capacity": ',
        capacity if capacity is not None else "null",
        ', "aandachtspunten": ',
        aandachtspunten if aandachtspunten is not None else "[]",
    ]
    if availability is not None:
        pieces += [', "availability": ', availability]
    pieces.append(', "notes": [' + notes_head)
    if row_notes is not None:
        has = pc.not_equal(row_notes, "").to_numpy(zero_copy_only=False)
        sep = ", " if notes_head else ""
        pieces.append(where(has, concat([sep, json_strings(row_notes)], n), ""))
    disclaimer = type_config.disclaimer
    if disclaimer:
        sep_d = ", " if (notes_head or row_notes is not None) else ""
        if row_notes is not None and not notes_head:
            has = pc.not_equal(row_notes, "").to_numpy(zero_copy_only=False)
            pieces.append(where(has, ", ", ""))
            sep_d = ""
        pieces.append(f"{sep_d}{js(disclaimer)}")
    pieces.append(f'], "disclaimer": {js(disclaimer) if disclaimer else "null"}}}')
    return concat(pieces, n)


def _row_pieces(pieces: list[str | Coded], n: int) -> list[Piece]:
    """Pieces for the final row-wise join: one column when the pieces take few distinct
    combinations (joined once per combination), else each piece on its own (no extra copy)."""
    rows = [p for p in pieces if not isinstance(p, str)]
    joint, parts = joint_codes([r.codes for r in rows])
    if len(parts[0]) * 4 <= n:
        taken = iter([r.texts.take(pa.array(c)) for r, c in zip(rows, parts, strict=True)])
        distinct = [p if isinstance(p, str) else next(taken) for p in pieces]
        return [Coded(concat(distinct, len(parts[0])), joint).decode()]
    return [p if isinstance(p, str) else p.decode() for p in pieces]


def merged_notes(table: pd.DataFrame) -> pa.Array | None:
    """A note for merged sites: "Samengevoegd uit 3 aangrenzende percelen van dezelfde eigenaar."."""
    if "merged" not in table.columns:
        return None
    merged = table["merged"].fillna(False).astype(bool).to_numpy()
    notes = full(len(table), "")
    if merged.any():
        n_parcels = (
            table["n_parcels"].to_numpy(dtype="float64", na_value=np.nan)[merged]
            if "n_parcels" in table.columns
            else np.full(int(merged.sum()), np.nan)
        )
        counts = format_values(n_parcels, "aantal")
        sentences = concat(
            [
                "Samengevoegd uit ",
                counts,
                " aangrenzende percelen van dezelfde eigenaar tot één locatie.",
            ],
            int(merged.sum()),
        )
        notes = scatter(notes, merged, sentences)
    return notes
