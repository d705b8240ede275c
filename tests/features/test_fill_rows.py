"""Spreading a round's columns out to every row (with_common's rounds): values by position,
the others missing, and the dtypes pandas gives the same values written out one by one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.features.common import fill_rows


def _one_by_one(frame: pd.DataFrame, index: pd.Index, positions: np.ndarray) -> pd.DataFrame:
    """The plain way: every column as a Python object array or a NaN-filled float array."""
    cols = {}
    for col in frame.columns:
        values = frame[col]
        if pd.api.types.is_bool_dtype(values.dtype):
            out = pd.array([pd.NA] * len(index), dtype="boolean")
            out[positions] = values.to_numpy(dtype=bool, na_value=False)
            out[positions[values.isna().to_numpy()]] = pd.NA
        elif pd.api.types.is_integer_dtype(values.dtype):
            out = np.zeros(len(index), dtype=np.int64)
            out[positions] = values.to_numpy(dtype=np.int64, na_value=0)
        elif pd.api.types.is_float_dtype(values.dtype):
            out = np.full(len(index), np.nan)
            out[positions] = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            out = np.full(len(index), None, dtype=object)
            for k, v in zip(positions, values.tolist(), strict=True):
                out[k] = (
                    None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v
                )
        cols[col] = out
    return pd.DataFrame(cols, index=index)


@pytest.mark.parametrize("positions", [[4, 1, 6], [0, 2], []])
def test_fill_rows_spreads_values_with_the_dtypes_pandas_infers(positions: list[int]) -> None:
    pos = np.array(positions, dtype=np.int64)
    k = len(pos)
    frame = pd.DataFrame(
        {
            "flag": pd.array([True, False, None][:k], dtype="boolean"),
            "plain_flag": np.array([True, False, True][:k], dtype=bool),
            "count": np.arange(k, dtype=np.int64),
            "share": np.array([0.5, np.nan, 1.0][:k]),
            "text": pd.array(["wonen", None, "groen"][:k], dtype="str"),
            "no_text": pd.array([None, None, None][:k], dtype="str"),
            "mixed": np.array(["a", 3, None][:k], dtype=object),
            "nothing": np.array([None, None, None][:k], dtype=object),
            "nullable_text": pd.array(["x", None, "y"][:k], dtype="string"),
        },
        index=[f"s{p}" for p in positions],
    )
    index = pd.Index([f"p{j}" for j in range(7)], name="parcel_id")
    got = fill_rows(frame, index, pos)
    want = _one_by_one(frame, index, pos)
    pd.testing.assert_frame_equal(got, want)
    if k:
        assert got["text"].dtype == "str" and got["text"].iloc[positions[0]] == "wonen"
        texts = sum(v is not None for v in ["wonen", None, "groen"][:k])
        assert got["text"].notna().sum() == texts  # the texts only: the other rows are missing
