"""Hard exclusions: every rule evaluated on the whole table at once, every reason kept."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.scoring.config import Attention, Exclusion, format_value
from pipeline.scoring.text import (
    Coded,
    concat,
    constant,
    format_values_coded,
    full,
    joint_codes,
    json_strings,
    render_coded,
    to_pandas,
)


def rule_mask(table: pd.DataFrame, rule: Exclusion) -> np.ndarray:
    """True where ``rule`` excludes the row (``column op value``; NaN -> ``when_missing``)."""
    s = table[rule.column]
    op = rule.op
    if op in ("in", "not_in") or (op in ("==", "!=") and isinstance(rule.value, str)):
        # text comparisons: decide once per distinct value (columns of few categories)
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        text = pd.Series(uniques).astype("string")
        if op in ("in", "not_in"):
            assert isinstance(rule.value, list)
            inside = text.isin(rule.value).to_numpy(dtype=bool, na_value=False)
            hit_u = inside if op == "in" else ~inside
        else:
            eq = (text == rule.value).to_numpy(dtype=bool, na_value=False)
            hit_u = eq if op == "==" else ~eq
        hit_u = np.append(np.asarray(hit_u, dtype=bool), rule.when_missing == "exclude")
        return hit_u[np.where(codes < 0, len(uniques), codes)]
    isna = s.isna().to_numpy()
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


def _rule_value_text(rule: Exclusion) -> str:
    if isinstance(rule.value, list):
        return ", ".join(rule.value)
    if rule.value is None:
        return ""
    return format_value(rule.value, rule.unit, rule.decimals)


def rule_reasons_coded(table: pd.DataFrame, rule: Exclusion, mask: np.ndarray) -> Coded:
    """:func:`rule_reasons` as :class:`Coded` texts: one sentence per distinct raw value."""
    col = table[rule.column]
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        sub: object = col.to_numpy(dtype="float64", na_value=np.nan)[mask]
    else:
        sub = col.iloc[np.flatnonzero(mask)]
    raw = format_values_coded(sub, rule.unit, rule.decimals)
    return render_coded(
        rule.reason,
        len(raw),
        rows={"raw": raw},
        constants={"value": _rule_value_text(rule)},
    )


def rule_reasons(table: pd.DataFrame, rule: Exclusion, mask: np.ndarray) -> pa.Array:
    """The Dutch sentence of ``rule`` for the rows in ``mask`` (``mask.sum()`` texts)."""
    return rule_reasons_coded(table, rule, mask).decode()


def exclusion_texts(
    table: pd.DataFrame, rules: Sequence[Exclusion]
) -> tuple[np.ndarray, Coded, Coded]:
    """Evaluate the rules, with texts for the excluded rows only.

    Returns
    -------
    (excluded, codes, reasons)
        ``excluded`` is the row mask; ``codes`` and ``reasons`` hold one text per excluded
        row, in row order: the codes joined with ``,``, the sentences with ``\n``, both in
        config order.
    """
    return rule_texts(table, rules, sep="\n")


def attention_texts(
    table: pd.DataFrame, rules: Sequence[Attention]
) -> tuple[np.ndarray, Coded, Coded]:
    """Evaluate aandachtspunt rules: ``(hit, codes, json)`` for the rows any rule hits.

    ``json`` holds, per hit row, the rules' objects ``{"code", "text", "source"}`` joined with
    ``, `` in config order (wrap it in ``[`` ``]`` for the JSON list).
    """

    def as_json(rule: Exclusion, sentences: Coded) -> Coded:
        source = rule.source if isinstance(rule, Attention) else ""
        head = f'{{"code": {json.dumps(rule.code)}, "text": '
        tail = f', "source": {json.dumps(source, ensure_ascii=False)}}}'
        return sentences.map(lambda texts: concat([head, json_strings(texts), tail], len(texts)))

    return rule_texts(table, rules, sep=", ", render=as_json)


def rule_texts(
    table: pd.DataFrame,
    rules: Sequence[Exclusion],
    *,
    sep: str,
    render: Callable[[Exclusion, Coded], Coded] | None = None,
) -> tuple[np.ndarray, Coded, Coded]:
    """Evaluate ``column op value`` rules, with texts for the rows any rule hits.

    Returns ``(hit, codes, texts)``: the row mask, and per hit row the codes joined with
    ``,`` and each rule's sentence (``render(rule, sentences)`` when given) joined with ``sep``,
    in config order.
    """
    n = len(table)
    masks: list[tuple[Exclusion, np.ndarray]] = []
    excluded = np.zeros(n, dtype=bool)
    for rule in rules:
        mask = rule_mask(table, rule)
        if mask.any():
            masks.append((rule, mask))
            excluded |= mask
    if not masks:
        return excluded, constant(0, ""), constant(0, "")
    pos = np.flatnonzero(excluded)
    m = len(pos)
    # A row's texts depend only on the sentence each rule gives it (0: the rule does not
    # hit): join the codes and sentences once per distinct combination.
    components = []
    sentences = []
    for rule, mask in masks:
        rule_sentences = rule_reasons_coded(table, rule, mask)
        if render is not None:
            rule_sentences = render(rule, rule_sentences)
        component = np.zeros(m, dtype="int64")
        component[mask[pos]] = rule_sentences.codes + 1
        components.append(component)
        sentences.append(pa.concat_arrays([pa.nulls(1, pa.string()), rule_sentences.texts]))
    joint, parts = joint_codes(components)
    null = pa.scalar(None, pa.string())
    code_columns = [
        pc.if_else(pa.array(part > 0), pa.scalar(rule.code), null)
        for (rule, _mask), part in zip(masks, parts, strict=True)
    ]
    reason_columns = [
        texts.take(pa.array(part)) for texts, part in zip(sentences, parts, strict=True)
    ]
    return (
        excluded,
        Coded(_join(code_columns, ","), joint),
        Coded(_join(reason_columns, sep), joint),
    )


def _join(columns: list[pa.Array], sep: str) -> pa.Array:
    """Element-wise join with ``sep``, skipping nulls."""
    if len(columns) == 1:
        return columns[0]
    return pc.binary_join_element_wise(*columns, sep, null_handling="skip")


def _spread(n: int, positions: np.ndarray, values: pa.Array, fill: str) -> pa.Array:
    """A column of ``n`` texts: ``values`` at ``positions`` (in order), ``fill`` elsewhere."""
    if len(positions) == n:
        return values
    idx = np.full(n, len(values), dtype="int64")
    idx[positions] = np.arange(len(positions))
    return pa.concat_arrays([values, pa.array([fill], type=pa.string())]).take(pa.array(idx))


def evaluate_exclusions(
    table: pd.DataFrame, rules: Sequence[Exclusion], *, texts: bool = True
) -> pd.DataFrame:
    """Evaluate every rule on every row and keep all reasons of an excluded row.

    Parameters
    ----------
    table
        A feature table (contracts §E) holding the rules' columns.
    rules
        The type's exclusion rules, in config order.
    texts
        ``False``: only compute ``excluded`` (fast); ``reason_codes`` and ``reasons`` are
        then ``""`` on every row.

    Returns
    -------
    DataFrame
        Aligned to ``table.index``: ``excluded`` (bool), ``reason_codes`` (codes joined with
        ``,`` in config order, ``""`` when not excluded) and ``reasons`` (the Dutch sentences
        joined with ``\n``).
    """
    n = len(table)
    if not texts:
        excluded = np.zeros(n, dtype=bool)
        for rule in rules:
            excluded |= rule_mask(table, rule)
        codes = reasons = full(n, "")
    else:
        excluded, coded_codes, coded_reasons = exclusion_texts(table, rules)
        pos = np.flatnonzero(excluded)
        codes = _spread(n, pos, coded_codes.decode(), "")
        reasons = _spread(n, pos, coded_reasons.decode(), "")
    return pd.DataFrame(
        {
            "excluded": excluded,
            "reason_codes": to_pandas(codes, table.index),
            "reasons": to_pandas(reasons, table.index),
        },
        index=table.index,
    )


def _distinct_per_key(
    key_codes: np.ndarray, texts: pa.Array, sep: str
) -> tuple[np.ndarray, pa.Array]:
    """Split each text on ``sep`` and join the distinct non-empty items per key.

    Items keep their first-seen order (row order, then order within the text). Returns the
    key codes that have at least one item (ascending) and their joined texts.
    """
    lists = pc.split_pattern(texts, sep)
    items = pc.list_flatten(lists)
    parent = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    keep = pc.fill_null(pc.not_equal(items, ""), False).to_numpy(zero_copy_only=False)
    item_codes, _uniques = factorize_texts(items)
    item_keys = key_codes[parent]
    # the first occurrence of every (key, item) pair, in item order
    pair = joint_codes([item_keys, item_codes])[0]
    first = np.zeros(len(pair), dtype=bool)
    first[np.unique(pair, return_index=True)[1]] = True
    first &= keep
    pos = np.flatnonzero(first)
    order = pos[np.argsort(item_keys[pos], kind="stable")]  # by key, first-seen within a key
    sorted_keys = item_keys[order]
    groups, starts = np.unique(sorted_keys, return_index=True)
    offsets = np.append(starts, len(order)).astype("int32")
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), items.take(order)), sep)
    return groups, joined


def factorize_texts(texts: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """``(codes, distinct)`` of a text array (null is a value of its own)."""
    enc = pc.dictionary_encode(texts, null_encoding="encode")
    return enc.indices.to_numpy(zero_copy_only=False).astype("int64"), enc.dictionary


#: The dtype pandas infers for a column of texts (``str`` in pandas 3, ``object`` before).
_TEXT_DTYPE = pd.Series(["text"]).dtype


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
    order = np.argsort(excluded.index.to_numpy(), kind="mergesort")
    keys = pd.Series(excluded[by].to_numpy()[order])  # the key dtype as pandas infers it
    key_codes, key_values = pd.factorize(keys, sort=True, use_na_sentinel=True)
    present = key_codes >= 0  # rows without a key are left out
    key_codes = key_codes[present]
    rows = order[present]
    columns = {}
    for name, sep in (("reason_codes", ","), ("reasons", "\n")):
        texts = pa.array(
            np.asarray(excluded[name].to_numpy(), dtype=object)[rows],
            type=pa.string(),
            from_pandas=True,
        )
        groups, joined = _distinct_per_key(key_codes, texts, sep)
        columns[name] = pd.Series(
            joined.to_numpy(zero_copy_only=False),
            index=pd.Index(key_values).take(groups),
            dtype=_TEXT_DTYPE,
        )
    out = pd.DataFrame(columns)
    out.index.name = by
    return out
