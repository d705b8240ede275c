"""Dutch sentences from templates, vectorised.

Numbers are formatted once per distinct (rounded) value and then taken by index, and
templates are filled by concatenating whole columns, so the cost grows with the number of
distinct values, not with a Python loop over the rows.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pipeline.scoring.config import UNITS, format_nl, format_value

MISSING_TEXT = "onbekend"


def _take_formatted(keys: pd.Series, fmt: Any) -> np.ndarray:
    codes, uniques = pd.factorize(keys, use_na_sentinel=True)
    texts = np.array([fmt(u) for u in uniques] + [MISSING_TEXT], dtype=object)
    return texts[codes]  # sentinel -1 takes the last entry: "onbekend"


def _take_numeric(x: np.ndarray, fmt: Any, missing: str = MISSING_TEXT) -> np.ndarray:
    """Format each distinct finite value once (numpy unique), NaN -> ``missing``."""
    out = np.full(len(x), missing, dtype=object)
    ok = ~np.isnan(x)
    if ok.any():
        uniq, inv = np.unique(x[ok], return_inverse=True)
        texts = np.array([fmt(float(u)) for u in uniq], dtype=object)
        out[ok] = texts[inv.reshape(-1)]
    return out


def _numeric_array(values: Any) -> np.ndarray | None:
    """A float64 array when ``values`` is numeric (not bool), else ``None``."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        return values.astype("float64", copy=False)
    if (
        isinstance(values, pd.Series)
        and values.dtype.kind != "b"
        and pd.api.types.is_numeric_dtype(values.dtype)
    ):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    return None


def format_values(values: Any, unit: str = "", decimals: int | None = None) -> np.ndarray:
    """Raw values as Dutch text with their unit (``1.500 m²``, ``0,6``, ``ja``, ``onbekend``).

    Parameters
    ----------
    values
        A Series or array: numbers, booleans or text; null/NaN becomes ``onbekend``.
    unit, decimals
        A key of :data:`pipeline.scoring.config.UNITS` and an optional number of decimals.
    """
    x = _numeric_array(values)
    if x is not None:
        scale, dec, _suffix, _group = UNITS[unit]
        if decimals is not None:
            dec = decimals
        num = x * scale
        # half away from zero on the display grid, like format_nl
        step = 10.0**dec
        rounded = np.sign(num) * np.floor(np.abs(num) * step + 0.5 + 1e-9) / step / scale
        return _take_numeric(rounded, lambda v: format_value(v, unit, decimals))
    s = pd.Series(values).reset_index(drop=True)
    if pd.api.types.is_bool_dtype(s.dtype):
        return np.where(s.fillna(False).astype(bool).to_numpy(), "ja", "nee").astype(object)
    # object/string columns: text as is, booleans as ja/nee, numbers formatted
    return _take_formatted(
        s.astype(object).where(s.notna(), None),
        lambda v: format_value(v, unit, decimals) if not isinstance(v, str) else v,
    )


def format_scores(scores: np.ndarray) -> np.ndarray:
    """Sub-scores 0–1 as Dutch text with up to two decimals (``0,6``, ``1``, ``0,85``)."""

    def fmt(v: float) -> str:
        text = format_nl(v, 2)
        return text.rstrip("0").rstrip(",") if "," in text else text

    return _take_numeric(np.round(np.asarray(scores, dtype="float64"), 2), fmt)


def template_fields(template: str) -> list[tuple[str, str | None]]:
    """``"Op {raw} van"`` -> ``[("Op ", "raw"), (" van", None)]``."""
    return [(lit, field) for lit, field, _spec, _conv in string.Formatter().parse(template)]


def render(
    template: str,
    n: int,
    *,
    rows: Mapping[str, np.ndarray],
    constants: Mapping[str, str],
) -> np.ndarray:
    """Fill a template for ``n`` rows: ``rows`` are per-row texts, ``constants`` fixed texts."""
    out = np.full(n, "", dtype=object)
    const = ""
    for literal, field in template_fields(template):
        const += literal
        if field is None:
            continue
        if field in constants:
            const += constants[field]
            continue
        if const:
            out = out + const
            const = ""
        out = out + rows[field]
    if const:
        out = out + const
    return out


def json_strings(values: np.ndarray) -> np.ndarray:
    """Each text as a JSON string literal (escaped once per distinct value)."""
    return _take_formatted(
        pd.Series(values, dtype=object), lambda v: json.dumps(v, ensure_ascii=False)
    )


def json_numbers(values: Any, *, decimals: int = 4) -> np.ndarray:
    """Numbers (or text, or booleans) as JSON literals; NaN/None become ``null``."""
    x = _numeric_array(values)
    if x is not None:
        return _take_numeric(np.round(x, decimals), _num_json, missing="null")
    s = pd.Series(values).reset_index(drop=True)
    if pd.api.types.is_bool_dtype(s.dtype):
        return np.where(s.to_numpy(), "true", "false").astype(object)
    obj = s.astype(object).where(s.notna(), None)
    codes, uniques = pd.factorize(obj, use_na_sentinel=True)
    texts = np.array(
        [json.dumps(_plain(u), ensure_ascii=False) for u in uniques] + ["null"], dtype=object
    )
    return texts[codes]


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def _num_json(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)
