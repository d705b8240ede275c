"""Dutch sentences and JSON text from templates, vectorised with pyarrow compute.

Texts are pyarrow string arrays. Numbers are written the Dutch way (``1.500``, ``0,6``) by
integer arithmetic on whole columns; templates and JSON documents are assembled by one
element-wise join of all their pieces (``pyarrow.compute.binary_join_element_wise``), linear in
the text length; JSON string escaping is a handful of vectorised replacements. No Python code
runs per row (text columns with few distinct values, such as categories, are formatted once per
distinct value).

Texts that repeat a lot (a rounded number, a category, a sentence made from them) are built as
:class:`Coded` texts: each distinct text once, plus one index per row. Formatting and template
filling then run over the distinct values only, and one ``take`` turns them into full columns.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.scoring.config import UNITS, format_value

MISSING_TEXT = "onbekend"
STR_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)

#: A piece of text to join: a constant, or one text per row.
Piece: TypeAlias = pa.Array | str

#: Key of values that are not finite numbers (never a rounded number's key).
_NOT_OK = np.iinfo("int64").min
#: Key of NaN where it is written differently from other non-finite values.
_NAN = _NOT_OK + 1


@dataclass(frozen=True)
class Coded:
    """Texts as a table of (distinct) texts plus, per row, an index into that table."""

    texts: pa.Array
    codes: np.ndarray  # int64, one per row

    def __len__(self) -> int:
        return len(self.codes)

    def decode(self) -> pa.Array:
        """The full column: one text per row."""
        return self.texts.take(pa.array(self.codes, type=pa.int64()))

    def map(self, fn: Callable[[pa.Array], pa.Array]) -> Coded:
        """Apply an element-wise text function to the distinct texts only."""
        return Coded(as_arrow(fn(self.texts)), self.codes)

    def take(self, positions: np.ndarray) -> Coded:
        """The rows at ``positions`` (the text table is shared)."""
        return Coded(self.texts, self.codes[positions])

    def categorical(self) -> pd.Categorical:
        """The column as a pandas ``Categorical``: each distinct text once and a small integer
        per row, not a text per row (a million exclusion reasons in megabytes; the writer
        decodes them slice by slice)."""
        texts = np.asarray(self.texts.to_pandas(), dtype=object)
        # the table may repeat a text or hold nulls; categories are distinct, nulls code -1
        distinct, categories = pd.factorize(texts, use_na_sentinel=True)
        return pd.Categorical.from_codes(
            distinct[self.codes], categories=pd.Index(categories, dtype=object)
        )


def factorize(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, uniques)`` of an integer key array: ``uniques[codes] == keys``."""
    if len(keys) == 0:
        return np.zeros(0, dtype="int64"), np.asarray(keys)[:0]
    codes, uniques = pd.factorize(keys)
    return codes.astype("int64", copy=False), np.asarray(uniques)


def joint_codes(codes: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """One code per distinct combination of several code arrays.

    Returns
    -------
    (joint, components)
        ``joint`` numbers the distinct combinations (0…k-1, first-seen order);
        ``components[i][j]`` is the ``i``-th input's code in combination ``j``.
    """
    n = len(codes[0])
    if n == 0:
        return np.zeros(0, dtype="int64"), [np.zeros(0, dtype="int64") for _ in codes]
    arrays = [np.asarray(c, dtype="int64") for c in codes]
    joint = np.zeros(n, dtype="int64")
    bound = 1  # joint < bound: a mixed-radix number, renumbered only when it would overflow
    for c in arrays:
        size = int(c.max()) + 1
        if bound * size >= 2**62:
            joint, uniques = factorize(joint)
            bound = len(uniques)
        joint = joint * size + c
        bound *= size
    joint, uniques = factorize(joint)
    first = np.empty(len(uniques), dtype="int64")
    first[joint[::-1]] = np.arange(n - 1, -1, -1)  # the last write wins: first occurrence
    return joint, [c[first] for c in arrays]


def constant(n: int, text: str) -> Coded:
    """``n`` copies of one text."""
    return Coded(pa.array([text], type=pa.string()), np.zeros(n, dtype="int64"))


def coded(values: pa.Array | Coded) -> Coded:
    """A plain text column as :class:`Coded` (distinct texts found by dictionary encoding)."""
    if isinstance(values, Coded):
        return values
    enc = pc.dictionary_encode(as_arrow(values), null_encoding="encode")
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    return Coded(
        enc.dictionary, enc.indices.to_numpy(zero_copy_only=False).astype("int64", copy=False)
    )


def concat_coded(pieces: Sequence[str | Coded], n: int) -> Coded:
    """:func:`concat` over coded texts: each distinct combination is joined once."""
    rows = [p for p in pieces if not isinstance(p, str)]
    if not rows:
        return constant(n, "".join(p for p in pieces if isinstance(p, str)))
    if len(rows) == 1:  # fill in the distinct texts, keep the codes
        texts = [p if isinstance(p, str) else p.texts for p in pieces]
        return Coded(concat(texts, len(rows[0].texts)), rows[0].codes)
    joint, parts = joint_codes([r.codes for r in rows])
    taken = iter([r.texts.take(pa.array(c)) for r, c in zip(rows, parts, strict=True)])
    distinct: list[Piece] = [p if isinstance(p, str) else next(taken) for p in pieces]
    return Coded(concat(distinct, len(parts[0])), joint)


def render_coded(
    template: str,
    n: int,
    *,
    rows: Mapping[str, Coded],
    constants: Mapping[str, str],
) -> Coded:
    """:func:`render` over coded texts: the template is filled once per distinct combination."""
    pieces: list[str | Coded] = []
    for literal, field in template_fields(template):
        pieces.append(literal)
        if field is not None:
            pieces.append(constants[field] if field in constants else rows[field])
    return concat_coded(pieces, n)


def as_arrow(values: Any) -> pa.Array:
    """Any sequence of texts as a pyarrow string array (null stays null)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == pa.string() else pc.cast(values, pa.string())
    if isinstance(values, pd.Series):
        values = values.array
        if hasattr(values, "_pa_array"):
            return as_arrow(values._pa_array)
        values = np.asarray(values, dtype=object)
    return pa.array(np.asarray(values, dtype=object), type=pa.string(), from_pandas=True)


def to_pandas(values: pa.Array, index: pd.Index | None = None) -> pd.Series:
    """A pyarrow string array as a pandas ``str`` Series (no copy of the text)."""
    return pd.Series(pd.array(values, dtype=STR_DTYPE), index=index)


def full(n: int, text: str) -> pa.Array:
    """``n`` copies of one text."""
    return pc.fill_null(pa.nulls(n, pa.string()), text)


def concat(pieces: Sequence[Piece], n: int) -> pa.Array:
    """Join texts element-wise: each piece is a constant ``str`` or an array of ``n`` texts."""
    args: list[Any] = []
    const = ""
    for p in pieces:
        if isinstance(p, str):
            const += p
            continue
        if const:
            args.append(pa.scalar(const, pa.string()))
            const = ""
        args.append(as_arrow(p))
    if const:
        args.append(pa.scalar(const, pa.string()))
    if not any(isinstance(a, pa.Array) for a in args):
        return full(n, const)
    if len(args) == 1:
        return args[0]
    return pc.binary_join_element_wise(*args, "")


def where(mask: np.ndarray, when_true: Piece, when_false: Piece) -> pa.Array:
    """Element-wise choice between two texts (arrays of the mask's length, or constants)."""
    a = when_true if isinstance(when_true, pa.Array) else pa.scalar(when_true, pa.string())
    b = when_false if isinstance(when_false, pa.Array) else pa.scalar(when_false, pa.string())
    out = pc.if_else(pa.array(np.asarray(mask, dtype=bool)), a, b)
    return out if isinstance(out, pa.Array) else full(len(mask), out.as_py())


def scatter(base: pa.Array, mask: np.ndarray, values: pa.Array) -> pa.Array:
    """``base`` with the positions in ``mask`` replaced, in order, by ``values``."""
    if not np.any(mask):
        return base
    return pc.replace_with_mask(base, pa.array(np.asarray(mask, dtype=bool)), as_arrow(values))


def _dutch_keys(x: np.ndarray, decimals: int) -> np.ndarray:
    """The rounded value that decides a number's Dutch text: ±(|x|·10^decimals rounded).

    Non-finite values get the key ``_NOT_OK``; a negative number that rounds to zero gets 0.
    """
    ok = np.isfinite(x)
    scale = 10**decimals
    total = np.zeros(len(x), dtype="int64")
    total[ok] = np.floor(np.abs(x[ok]) * scale + 0.5 + 1e-9).astype("int64")
    key = np.where(ok & (x < 0), -total, total)
    key[~ok] = _NOT_OK
    return key


def _dutch_text(key: np.ndarray, decimals: int, grouping: bool, missing: str) -> pa.Array:
    """The Dutch text of each key of :func:`_dutch_keys` (``missing`` for non-finite keys)."""
    ok = key > _NAN
    total = np.where(ok, np.abs(np.where(ok, key, 0)), 0)
    negative = ok & (key < 0)
    scale = 10**decimals
    whole = total // scale
    frac = total % scale
    if grouping:
        text = pc.cast(pa.array(whole % 1000), pa.string())
        rest = whole // 1000
        text = pc.if_else(pa.array(rest > 0), pc.utf8_lpad(text, 3, "0"), text)
        while (rest > 0).any():
            higher = rest // 1000
            group = pc.cast(pa.array(rest % 1000), pa.string())
            group = pc.if_else(pa.array(higher > 0), pc.utf8_lpad(group, 3, "0"), group)
            text = pc.if_else(
                pa.array(rest > 0), pc.binary_join_element_wise(group, text, "."), text
            )
            rest = higher
    else:
        text = pc.cast(pa.array(whole), pa.string())
    if decimals > 0:
        frac_text = pc.utf8_lpad(pc.cast(pa.array(frac), pa.string()), decimals, "0")
        text = pc.binary_join_element_wise(text, frac_text, ",")
    text = pc.if_else(pa.array(negative), pc.binary_join_element_wise("-", text, ""), text)
    return pc.if_else(pa.array(ok), text, pa.scalar(missing, pa.string()))


def dutch_numbers_coded(
    values: np.ndarray, decimals: int = 0, *, grouping: bool = True, missing: str = MISSING_TEXT
) -> Coded:
    """:func:`dutch_numbers` as :class:`Coded` texts (each distinct rounded value once)."""
    codes, uniques = factorize(_dutch_keys(np.asarray(values, dtype="float64"), decimals))
    return Coded(_dutch_text(uniques, decimals, grouping, missing), codes)


def dutch_numbers(
    values: np.ndarray, decimals: int = 0, *, grouping: bool = True, missing: str = MISSING_TEXT
) -> pa.Array:
    """Numbers as Dutch text (``1.234.567,89``), rounded half away from zero; NaN -> ``missing``.

    Equal to :func:`pipeline.scoring.config.format_nl` value by value, for
    |x|·10^decimals < 1e13 (beyond that float64 cannot resolve the half-way point).
    """
    return dutch_numbers_coded(values, decimals, grouping=grouping, missing=missing).decode()


def _numeric_array(values: Any) -> np.ndarray | None:
    """A float64 array when ``values`` is numeric (not bool), else ``None``."""
    if isinstance(values, np.ndarray):
        return values.astype("float64", copy=False) if values.dtype.kind in "fiu" else None
    if (
        isinstance(values, pd.Series)
        and pd.api.types.is_numeric_dtype(values.dtype)
        and not pd.api.types.is_bool_dtype(values.dtype)
    ):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    return None


def _take_formatted_coded(keys: pd.Series, fmt: Any, missing: str = MISSING_TEXT) -> Coded:
    """Format each distinct value once; for text columns with few distinct values."""
    codes, uniques = pd.factorize(keys, use_na_sentinel=True)
    texts = pa.array([fmt(u) for u in uniques] + [missing], type=pa.string())
    return Coded(texts, np.where(codes < 0, len(uniques), codes).astype("int64"))


def _take_formatted(keys: pd.Series, fmt: Any, missing: str = MISSING_TEXT) -> pa.Array:
    """Format each distinct value once, then take; for text columns with few distinct values."""
    return _take_formatted_coded(keys, fmt, missing).decode()


def bool_coded(truth: np.ndarray, when_true: str, when_false: str) -> Coded:
    """:func:`where` with two constant texts, as :class:`Coded` texts."""
    return Coded(
        pa.array([when_false, when_true], type=pa.string()),
        np.asarray(truth, dtype=bool).astype("int64"),
    )


#: Units with a singular form (Dutch: "1 woning", "2 woningen").
SINGULAR_SUFFIX = {" woningen": " woning", " bouwlagen": " bouwlaag"}


def format_values_coded(values: Any, unit: str = "", decimals: int | None = None) -> Coded:
    """:func:`format_values` as :class:`Coded` texts (each distinct text formatted once)."""
    x = _numeric_array(values)
    if x is not None:
        scale, dec, suffix, grouping = UNITS[unit]
        if decimals is not None:
            dec = decimals
        key = _dutch_keys(x * scale, dec)
        if suffix:
            key[np.isnan(x)] = _NAN  # NaN: "onbekend" without the unit
        codes, uniques = factorize(key)
        text = _dutch_text(uniques, dec, grouping, MISSING_TEXT)
        if suffix:
            # "1 woning", "2 woningen": the singular where the number reads exactly "1".
            singular = SINGULAR_SUFFIX.get(suffix)
            one = np.asarray(pc.equal(text, "1").fill_null(False), dtype=bool)
            unit_text = where(one, singular, suffix) if singular and one.any() else suffix
            text = where(uniques == _NAN, MISSING_TEXT, concat([text, unit_text], len(uniques)))
        return Coded(text, codes)
    s = pd.Series(values).reset_index(drop=True)
    if pd.api.types.is_bool_dtype(s.dtype):
        return bool_coded(s.fillna(False).astype(bool).to_numpy(), "ja", "nee")
    # object/string columns: text as is, booleans as ja/nee, numbers formatted
    return _take_formatted_coded(
        s.astype(object).where(s.notna(), None),
        lambda v: format_value(v, unit, decimals) if not isinstance(v, str) else v,
    )


def format_values(values: Any, unit: str = "", decimals: int | None = None) -> pa.Array:
    """Raw values as Dutch text with their unit (``1.500 m²``, ``0,6``, ``ja``, ``onbekend``).

    Parameters
    ----------
    values
        A Series or array: numbers, booleans or text; null/NaN becomes ``onbekend``.
    unit, decimals
        A key of :data:`pipeline.scoring.config.UNITS` and an optional number of decimals.
    """
    return format_values_coded(values, unit, decimals).decode()


def _score_text(key: np.ndarray) -> pa.Array:
    """The text of each key ±hundredths of :func:`format_scores_coded`."""
    ok = key > _NAN
    hundredths = np.where(ok, np.abs(np.where(ok, key, 0)), 0)
    whole = pc.cast(pa.array(hundredths // 100), pa.string())
    frac = hundredths % 100
    two = pc.utf8_lpad(pc.cast(pa.array(frac), pa.string()), 2, "0")
    one = pc.cast(pa.array(frac // 10), pa.string())
    decimals = pc.if_else(pa.array(frac % 10 == 0), one, two)
    text = pc.if_else(pa.array(frac == 0), whole, pc.binary_join_element_wise(whole, decimals, ","))
    negative = ok & (key < 0)
    text = pc.if_else(pa.array(negative), pc.binary_join_element_wise("-", text, ""), text)
    return pc.if_else(pa.array(ok), text, pa.scalar(MISSING_TEXT, pa.string()))


def format_scores_coded(scores: np.ndarray) -> Coded:
    """:func:`format_scores` as :class:`Coded` texts (at most ~100 distinct texts)."""
    codes, uniques = factorize(_dutch_keys(np.asarray(scores, dtype="float64"), 2))
    return Coded(_score_text(uniques), codes)


def format_scores(scores: np.ndarray) -> pa.Array:
    """Sub-scores 0–1 as Dutch text with up to two decimals (``0,6``, ``1``, ``0,85``)."""
    return format_scores_coded(scores).decode()


def template_fields(template: str) -> list[tuple[str, str | None]]:
    """``"Op {raw} van"`` -> ``[("Op ", "raw"), (" van", None)]``."""
    return [(lit, field) for lit, field, _spec, _conv in string.Formatter().parse(template)]


def render(
    template: str,
    n: int,
    *,
    rows: Mapping[str, pa.Array],
    constants: Mapping[str, str],
) -> pa.Array:
    """Fill a template for ``n`` rows: ``rows`` are per-row texts, ``constants`` fixed texts."""
    pieces: list[Piece] = []
    for literal, field in template_fields(template):
        pieces.append(literal)
        if field is not None:
            pieces.append(constants[field] if field in constants else rows[field])
    return concat(pieces, n)


_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"
#: Characters a JSON string literal must escape.
_SPECIAL = r'[\x00-\x1f"\\]'


def json_strings(values: Any) -> pa.Array:
    """Each text as a JSON string literal (``"…"``, escaped; null -> ``null``).

    Control characters other than newline, carriage return and tab become spaces.
    """
    arr = as_arrow(values)
    if not pc.any(pc.match_substring_regex(arr, _SPECIAL)).as_py():
        return pc.fill_null(pc.binary_join_element_wise('"', arr, '"', ""), "null")
    for plain, escaped in (
        ("\\", "\\\\"),
        ('"', '\\"'),
        ("\n", "\\n"),
        ("\r", "\\r"),
        ("\t", "\\t"),
    ):
        if pc.any(pc.match_substring(arr, plain)).as_py():  # a scan is cheaper than a copy
            arr = pc.replace_substring(arr, plain, escaped)
    if not pc.all(pc.utf8_is_printable(arr)).as_py():
        arr = pc.replace_substring_regex(arr, _CONTROL, " ")
    arr = pc.binary_join_element_wise('"', arr, '"', "")
    return pc.fill_null(arr, "null")


def json_numbers_coded(values: Any, *, decimals: int = 4) -> Coded:
    """:func:`json_numbers` as :class:`Coded` texts (each distinct rounded number once)."""
    x = _numeric_array(values)
    if x is not None:
        rounded = np.round(x, decimals) + 0.0  # no "-0"
        codes, uniques = factorize(rounded.view("int64"))
        arr = pa.array(uniques.view("float64"), from_pandas=True)  # NaN -> null
        return Coded(pc.fill_null(pc.cast(arr, pa.string()), "null"), codes)
    s = pd.Series(values).reset_index(drop=True)
    if pd.api.types.is_bool_dtype(s.dtype):
        return bool_coded(s.to_numpy(dtype=bool), "true", "false")
    obj = s.astype(object).where(s.notna(), None)
    return _take_formatted_coded(obj, lambda v: json.dumps(_plain(v), ensure_ascii=False), "null")


def json_numbers(values: Any, *, decimals: int = 4) -> pa.Array:
    """Numbers (or text, or booleans) as JSON literals; NaN/None become ``null``."""
    return json_numbers_coded(values, decimals=decimals).decode()


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v
