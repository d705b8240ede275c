"""Coded texts (each distinct text built once) give exactly the row-by-row results.

The references below are the straightforward implementations the fast paths replaced:
every row formatted, every rule's sentence scattered into full-length columns, pandas
explode + groupby for :func:`group_reasons`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.scoring import score_table
from pipeline.scoring.config import Exclusion, format_nl, format_value
from pipeline.scoring.exclusions import evaluate_exclusions, group_reasons, rule_mask
from pipeline.scoring.text import (
    coded,
    concat,
    concat_coded,
    dutch_numbers,
    format_scores,
    format_values,
    joint_codes,
    json_numbers,
    json_strings,
    render,
)

from .conftest import make_table

# ----------------------------------------------------------------------------- references


def reference_exclusions(table: pd.DataFrame, rules: list[Exclusion]) -> pd.DataFrame:
    """Every rule's sentence for every hit row, joined in config order (no shortcuts)."""
    n = len(table)
    codes: list[list[str]] = [[] for _ in range(n)]
    reasons: list[list[str]] = [[] for _ in range(n)]
    for rule in rules:
        mask = rule_mask(table, rule)
        col = table[rule.column]
        if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            sub: object = col.to_numpy(dtype="float64", na_value=np.nan)[mask]
        else:
            sub = col.iloc[np.flatnonzero(mask)]
        raw = format_values(sub, rule.unit, rule.decimals).to_pylist()
        if isinstance(rule.value, list):
            value = ", ".join(rule.value)
        elif rule.value is None:
            value = ""
        else:
            value = format_value(rule.value, rule.unit, rule.decimals)
        for i, text in zip(np.flatnonzero(mask), raw, strict=True):
            codes[i].append(rule.code)
            reasons[i].append(rule.reason.format(raw=text, value=value))
    return pd.DataFrame(
        {
            "excluded": [bool(c) for c in codes],
            "reason_codes": [",".join(c) for c in codes],
            "reasons": ["\n".join(r) for r in reasons],
        },
        index=table.index,
    )


def reference_group_reasons(excluded: pd.DataFrame, *, by: str) -> pd.DataFrame:
    """The pandas explode/drop_duplicates/groupby implementation."""
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


# ----------------------------------------------------------------------------- helpers

numbers = st.one_of(
    st.floats(-1e9, 1e9),
    st.sampled_from([0.0, -0.0, 0.5, -0.5, 1.0, 0.125, 999.5, 1e6, np.inf, -np.inf, np.nan]),
)


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(numbers, min_size=0, max_size=40),
    decimals=st.integers(0, 3),
    grouping=st.booleans(),
)
def test_coded_dutch_numbers_equal_the_scalar_formatter(values, decimals, grouping) -> None:
    x = np.array(values, dtype="float64")
    out = dutch_numbers(x, decimals, grouping=grouping).to_pylist()
    for v, text in zip(values, out, strict=True):
        if np.isfinite(v) and abs(v) * 10**decimals < 1e13:
            assert text == format_nl(v, decimals, grouping=grouping)
        elif not np.isfinite(v):
            assert text == "onbekend"


@settings(max_examples=80, deadline=None)
@given(values=st.lists(numbers, min_size=1, max_size=40))
def test_coded_formatting_is_row_by_row(values) -> None:
    """Formatting all rows at once equals formatting each row alone (no cross-row effects)."""
    x = np.array(values, dtype="float64")
    for unit in ("", "m2", "procent", "dB", "m", "aantal"):
        whole = format_values(x, unit).to_pylist()
        assert whole == [format_values(x[i : i + 1], unit).to_pylist()[0] for i in range(len(x))]
    scores = np.clip(x / 1e9, -1, 1)
    assert format_scores(scores).to_pylist() == [
        format_scores(scores[i : i + 1]).to_pylist()[0] for i in range(len(x))
    ]
    assert json_numbers(x, decimals=3).to_pylist() == [
        json_numbers(x[i : i + 1], decimals=3).to_pylist()[0] for i in range(len(x))
    ]


def test_format_values_of_text_and_booleans() -> None:
    assert format_values(pd.Series(["a", None, "a", "b"])).to_pylist() == [
        "a",
        "onbekend",
        "a",
        "b",
    ]
    assert format_values(pd.Series([True, False, True])).to_pylist() == ["ja", "nee", "ja"]


@settings(max_examples=60, deadline=None)
@given(
    a=st.lists(st.integers(0, 5), min_size=1, max_size=30),
    data=st.data(),
)
def test_joint_codes_number_the_distinct_combinations(a, data) -> None:
    b = data.draw(st.lists(st.integers(0, 3), min_size=len(a), max_size=len(a)))
    joint, (ca, cb) = joint_codes([np.array(a), np.array(b)])
    pairs = list(zip(a, b, strict=True))
    # same pair <-> same code, codes numbered in first-seen order, components match
    first_seen = list(dict.fromkeys(pairs))
    assert joint.tolist() == [first_seen.index(p) for p in pairs]
    assert list(zip(ca.tolist(), cb.tolist(), strict=True)) == first_seen


def test_concat_and_render_over_coded_texts_equal_the_plain_versions() -> None:
    x = coded(pa.array(["a", "b", "a", None, "c", "b"]))
    y = coded(pa.array(["1", "1", "2", "2", "1", "1"]))
    n = len(x)
    plain = concat(["<", x.decode(), "|", y.decode(), ">"], n)
    assert concat_coded(["<", x, "|", y, ">"], n).decode().equals(plain)
    single = concat_coded(["(", x, ")"], n).decode()
    assert single.equals(concat(["(", x.decode(), ")"], n))
    assert x.map(json_strings).decode().equals(json_strings(x.decode()))
    tpl = render("{raw} en {score}", n, rows={"raw": x.decode(), "score": y.decode()}, constants={})
    assert tpl.to_pylist()[0] == "a en 1"


# ----------------------------------------------------------------------------- exclusions

RULES = [
    Exclusion(code="te_klein", column="area_m2", op="<", value=1500, unit="m2", reason="{raw} < {value}"),
    Exclusion(code="bebouwd", column="built_up_fraction", op=">", value=0.1, unit="procent", reason="bebouwd {raw}"),
    Exclusion(code="geluid", column="noise_db", op=">", value=70, unit="dB", reason="geluid {raw}"),
    Exclusion(code="wonen", column="zoning_wonen_realised", op="is_true", reason="wonen"),
    Exclusion(code="bestemming", column="zoning_hoofdgroep", op="in", value=["water", "verkeer"], reason="bestemming {raw} ({value})"),
    Exclusion(code="eigenaar", column="owner_class", op="==", value="rijk", reason="eigenaar {raw}", when_missing="exclude"),
]  # fmt: skip


def random_table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    area = rng.choice([800.0, 1200.0, 1499.6, 2000.0, np.nan], n)
    return make_table(
        "tijdelijke_locatie",
        n,
        area_m2=area,
        built_up_fraction=rng.choice([0.0, 0.05, 0.25, 0.5, np.nan], n),
        noise_db=rng.uniform(50, 80, n).round(1),
        zoning_wonen_realised=rng.random(n) < 0.3,
        zoning_hoofdgroep=rng.choice(["water", "wonen", "verkeer", "agrarisch", None], n),
        owner_class=rng.choice(["rijk", "gemeente", None], n),
        ids=[f"p{i:04d}" for i in rng.permutation(n)],
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evaluate_exclusions_equals_the_row_by_row_reference(seed) -> None:
    table = random_table(400, seed)
    got = evaluate_exclusions(table, RULES)
    want = reference_exclusions(table, RULES)
    assert got["excluded"].tolist() == want["excluded"].tolist()
    assert got["reason_codes"].tolist() == want["reason_codes"].tolist()
    assert got["reasons"].tolist() == want["reasons"].tolist()
    assert got.index.equals(table.index)


def test_texts_false_gives_the_same_mask_without_texts() -> None:
    table = random_table(300, 5)
    fast = evaluate_exclusions(table, RULES, texts=False)
    full_texts = evaluate_exclusions(table, RULES)
    assert list(fast.columns) == list(full_texts.columns)
    assert fast.index.equals(table.index)
    assert fast["excluded"].tolist() == full_texts["excluded"].tolist()
    assert (fast["reason_codes"] == "").all() and (fast["reasons"] == "").all()


def test_no_rule_hits_and_no_rules() -> None:
    table = make_table("tijdelijke_locatie", 3, area_m2=5000.0)
    for rules in ([], RULES[:1]):
        out = evaluate_exclusions(table, rules)
        assert not out["excluded"].any()
        assert (out["reason_codes"] == "").all() and (out["reasons"] == "").all()


def test_score_table_excluded_texts_match_the_reference(config) -> None:
    table = random_table(300, 7)
    rules = config.types["tijdelijke_locatie"].exclusions
    _, excl = score_table(table, config.types["tijdelijke_locatie"], type_name="tijdelijke_locatie")
    want = reference_exclusions(table, rules)
    want = want[want["excluded"]].sort_index(kind="mergesort")
    assert excl.index.tolist() == want.index.tolist()
    assert excl["reason_codes"].tolist() == want["reason_codes"].tolist()
    assert excl["reasons"].tolist() == want["reasons"].tolist()


# ----------------------------------------------------------------------------- group_reasons


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["b1", "b2", "b3", "b10"]),
            st.lists(st.sampled_from(["x", "y", "z"]), max_size=3),
            st.lists(st.sampled_from(["Zin x.", "Zin y.", "Zin z."]), max_size=3),
        ),
        min_size=1,
        max_size=25,
    ),
    order=st.randoms(use_true_random=False),
)
def test_group_reasons_equals_the_pandas_reference(rows, order) -> None:
    ids = [f"u{i:03d}" for i in range(len(rows))]
    order.shuffle(ids)
    excluded = pd.DataFrame(
        {
            "pand_id": [r[0] for r in rows],
            "reason_codes": [",".join(r[1]) for r in rows],
            "reasons": ["\n".join(r[2]) for r in rows],
        },
        index=pd.Index(ids, name="vbo_id"),
    )
    got = group_reasons(excluded, by="pand_id")
    want = reference_group_reasons(excluded, by="pand_id")
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_group_reasons_keeps_first_seen_order_per_key() -> None:
    excluded = pd.DataFrame(
        {
            "pand_id": ["b", "a", "b", "a"],
            "reason_codes": ["y,x", "z", "x,w", "z,y"],
            "reasons": ["Y.\nX.", "Z.", "X.\nW.", "Z.\nY."],
        },
        index=pd.Index(["u1", "u2", "u3", "u4"]),
    )
    got = group_reasons(excluded, by="pand_id")
    assert got.to_dict("index") == {
        "a": {"reason_codes": "z,y", "reasons": "Z.\nY."},
        "b": {"reason_codes": "y,x,w", "reasons": "Y.\nX.\nW."},
    }
    assert pc.equal(pa.array(got.index.tolist()), pa.array(["a", "b"])).to_pylist() == [
        True,
        True,
    ]
