"""Transfer functions: a raw feature value -> a sub-score in [0, 1], vectorised.

Each function takes a pandas Series (or array) and returns a float array of the same length,
with ``NaN`` where the raw value is missing (the caller decides the neutral score).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.scoring.config import Boolean, Categorical, Decreasing, IdealRange, Increasing, Steps


def _as_float(values: Any) -> np.ndarray:
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )


def increasing(values: Any, *, zero_at: float, full_at: float) -> np.ndarray:
    """``clip((x - zero_at) / (full_at - zero_at), 0, 1)``: 0 at/below zero_at, 1 at/above full_at."""
    x = _as_float(values)
    return np.clip((x - zero_at) / (full_at - zero_at), 0.0, 1.0)


def decreasing(values: Any, *, full_at: float, zero_at: float) -> np.ndarray:
    """``clip((zero_at - x) / (zero_at - full_at), 0, 1)``: 1 at/below full_at, 0 at/above zero_at."""
    x = _as_float(values)
    return np.clip((zero_at - x) / (zero_at - full_at), 0.0, 1.0)


def ideal_range(
    values: Any, *, zero_below: float, low: float, high: float, zero_above: float
) -> np.ndarray:
    """1 inside ``[low, high]``; linear ramps to 0 at ``zero_below`` and ``zero_above``.

    A ramp of zero width is a step: ``zero_below == low`` gives 0 below ``low``.
    """
    x = _as_float(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(
            x >= low, 1.0, (x - zero_below) / (low - zero_below) if low > zero_below else 0.0
        )
        down = np.where(
            x <= high, 1.0, (zero_above - x) / (zero_above - high) if zero_above > high else 0.0
        )
    out = np.clip(np.minimum(up, down), 0.0, 1.0)
    out[np.isnan(x)] = np.nan
    return out


def steps(values: Any, *, froms: list[float], scores: list[float], below: float) -> np.ndarray:
    """The score of the last step whose ``from`` is <= x, else ``below``."""
    x = _as_float(values)
    table = np.asarray([below, *scores], dtype="float64")
    idx = np.searchsorted(np.asarray(froms, dtype="float64"), x, side="right")
    out = table[np.clip(idx, 0, len(froms))]
    out[np.isnan(x)] = np.nan
    return out


def categorical(
    values: Any,
    *,
    scores: dict[str, float],
    default: float,
    missing_values: list[str] = (),  # type: ignore[assignment]
) -> np.ndarray:
    """``scores[value]``; unlisted values get ``default``; null or ``missing_values`` give NaN."""
    s = pd.Series(values)
    isna = s.isna().to_numpy()
    text = s.astype("string").fillna("")
    out = text.map(scores).to_numpy(dtype="float64", na_value=np.nan)
    out = np.where(np.isnan(out), default, out)
    missing = isna | text.isin(list(missing_values)).to_numpy()
    out[missing] = np.nan
    return out


def boolean(values: Any, *, if_true: float, if_false: float) -> np.ndarray:
    """``if_true`` where the value is true, ``if_false`` where false, NaN where null."""
    s = pd.Series(values)
    isna = s.isna().to_numpy()
    truth = s.fillna(False).astype(bool).to_numpy()
    out = np.where(truth, if_true, if_false).astype("float64")
    out[isna] = np.nan
    return out


def apply_transfer(values: Any, transfer: Any) -> np.ndarray:
    """Apply a transfer model of :mod:`pipeline.scoring.config` to raw values."""
    if isinstance(transfer, Increasing):
        return increasing(values, zero_at=transfer.zero_at, full_at=transfer.full_at)
    if isinstance(transfer, Decreasing):
        return decreasing(values, full_at=transfer.full_at, zero_at=transfer.zero_at)
    if isinstance(transfer, IdealRange):
        return ideal_range(
            values,
            zero_below=transfer.zero_below,
            low=transfer.low,
            high=transfer.high,
            zero_above=transfer.zero_above,
        )
    if isinstance(transfer, Steps):
        return steps(
            values,
            froms=[s.from_ for s in transfer.steps],
            scores=[s.score for s in transfer.steps],
            below=transfer.below,
        )
    if isinstance(transfer, Categorical):
        return categorical(
            values,
            scores=transfer.scores,
            default=transfer.default,
            missing_values=transfer.missing_values,
        )
    if isinstance(transfer, Boolean):
        return boolean(values, if_true=transfer.if_true, if_false=transfer.if_false)
    raise TypeError(f"unknown transfer {transfer!r}")  # pragma: no cover
