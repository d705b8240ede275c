"""Hard exclusions: every rule evaluated on the whole table at once, every reason kept."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.scoring.config import Exclusion, format_value
from pipeline.scoring.text import format_values, full, render, scatter, to_pandas


def rule_mask(table: pd.DataFrame, rule: Exclusion) -> np.ndarray:
    """True where ``rule`` excludes the row (``column op value``; NaN -> ``when_missing``)."""
    s = table[rule.column]
    isna = s.isna().to_numpy()
    op = rule.op
    if op in ("is_true", "is_false"):
        truth = s.fillna(False).astype(bool).to_numpy()
        hit = truth if op == "is_true" else ~truth
    elif op in ("in", "not_in"):
        assert isinstance(rule.value, list)
        inside = s.astype("string").isin(rule.value).to_numpy(dtype=bool, na_value=False)
        hit = inside if op == "in" else ~inside
    elif op in ("==", "!="):
        if isinstance(rule.value, str):
            eq = (s.astype("string") == rule.value).to_numpy(dtype=bool, na_value=False)
        else:
            eq = (pd.to_numeric(s, errors="coerce") == rule.value).to_numpy(
                dtype=bool, na_value=False
            )
        hit = eq if op == "==" else ~eq
    else:
        x = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        isna = isna | np.isnan(x)
        with np.errstate(invalid="ignore"):
            hit = {
                ">": x > rule.value,
                ">=": x >= rule.value,
                "<": x < rule.value,
                "<=": x <= rule.value,
            }[op]
    hit = np.asarray(hit, dtype=bool)
    return np.where(isna, rule.when_missing == "exclude", hit)


def rule_reasons(table: pd.DataFrame, rule: Exclusion, mask: np.ndarray) -> pa.Array:
    """The Dutch sentence of ``rule`` for the rows in ``mask`` (``mask.sum()`` texts)."""
    col = table[rule.column]
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        sub: object = col.to_numpy(dtype="float64", na_value=np.nan)[mask]
    else:
        sub = col.iloc[np.flatnonzero(mask)]
    raw = format_values(sub, rule.unit, rule.decimals)
    if isinstance(rule.value, list):
        value_text = ", ".join(rule.value)
    elif rule.value is None:
        value_text = ""
    else:
        value_text = format_value(rule.value, rule.unit, rule.decimals)
    return render(rule.reason, int(mask.sum()), rows={"raw": raw}, constants={"value": value_text})


def evaluate_exclusions(table: pd.DataFrame, rules: Sequence[Exclusion]) -> pd.DataFrame:
    """Evaluate every rule on every row and keep all reasons of an excluded row.

    Parameters
    ----------
    table
        A feature table (contracts §E) holding the rules' columns.
    rules
        The type's exclusion rules, in config order.

    Returns
    -------
    DataFrame
        Aligned to ``table.index``: ``excluded`` (bool), ``reason_codes`` (codes joined with
        ``,`` in config order, ``""`` when not excluded) and ``reasons`` (the Dutch sentences
        joined with ``\\n``).
    """
    n = len(table)
    excluded = np.zeros(n, dtype=bool)
    code_cols: list[pa.Array] = []
    reason_cols: list[pa.Array] = []
    nulls = pa.nulls(n, pa.string())
    for rule in rules:
        mask = rule_mask(table, rule)
        if not mask.any():
            continue
        reason_cols.append(scatter(nulls, mask, rule_reasons(table, rule, mask)))
        code_cols.append(
            pc.if_else(pa.array(mask), pa.scalar(rule.code), pa.scalar(None, pa.string()))
        )
        excluded |= mask
    codes, reasons = full(n, ""), full(n, "")
    if code_cols:
        # Join only the excluded rows (each has at least one non-null entry; pyarrow's
        # null_handling="skip" drops rows that are null everywhere), then put them back.
        keep = pa.array(excluded)
        joined_codes = pc.binary_join_element_wise(
            *(c.filter(keep) for c in code_cols), ",", null_handling="skip"
        )
        joined_reasons = pc.binary_join_element_wise(
            *(r.filter(keep) for r in reason_cols), "\n", null_handling="skip"
        )
        codes = scatter(codes, excluded, joined_codes)
        reasons = scatter(reasons, excluded, joined_reasons)
    return pd.DataFrame(
        {
            "excluded": excluded,
            "reason_codes": to_pandas(codes, table.index),
            "reasons": to_pandas(reasons, table.index),
        },
        index=table.index,
    )


def group_reasons(excluded: pd.DataFrame, *, by: str) -> pd.DataFrame:
    """Merge the reasons of several rows per ``by`` key (e.g. shop units per ``pand_id``).

    Distinct codes and sentences are kept in first-seen order (rows sorted by index first, so
    the result does not depend on row order).

    Returns
    -------
    DataFrame
        Indexed by ``by``: ``reason_codes`` (comma-separated) and ``reasons`` (``\\n``-joined).
    """
    if len(excluded) == 0:
        return pd.DataFrame(
            {"reason_codes": pd.Series(dtype=object), "reasons": pd.Series(dtype=object)},
            index=pd.Index([], name=by),
        )
    frame = pd.DataFrame(
        {
            "key": excluded[by].to_numpy(),
            "code": excluded["reason_codes"].to_numpy(),
            "reason": excluded["reasons"].to_numpy(),
        },
        index=excluded.index,
    ).sort_index(kind="mergesort")
    codes = frame[["key", "code"]].assign(code=frame["code"].str.split(",")).explode("code")
    codes = codes[codes["code"].astype(bool)].drop_duplicates()
    reasons = (
        frame[["key", "reason"]].assign(reason=frame["reason"].str.split("\n")).explode("reason")
    )
    reasons = reasons[reasons["reason"].astype(bool)].drop_duplicates()
    out = pd.DataFrame(
        {
            "reason_codes": codes.groupby("key", sort=True)["code"].agg(",".join),
            "reasons": reasons.groupby("key", sort=True)["reason"].agg("\n".join),
        }
    )
    out.index.name = by
    return out
