"""Helpers shared by the readers: problem collection bound to a file, column lookup."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.errors import Problem
from pipeline.schemas import CRS


@dataclass
class Issues:
    """Problems and warnings of one source, bound to its file, layer and sources.yaml key."""

    file: str
    source: str
    layer: str | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: canonical layer name -> the file's layer it was read from (when a source gives several)
    layer_of: dict[str, str] = field(default_factory=dict)

    def problem(
        self,
        message: str,
        fix: str = "",
        *,
        column: str | None = None,
        row: str | int | None = None,
        layer: str | None = None,
        file: str | None = None,
    ) -> None:
        """Record a problem (it is raised later, together with all the others)."""
        self.problems.append(
            Problem(
                message,
                fix,
                file=file or self.file,
                layer=layer or self.layer,
                column=column,
                row=row,
                source=self.source,
            )
        )

    def warn(self, message: str) -> None:
        """Record a warning (shown by ``kansenkaart check`` and kept in the run report)."""
        self.warnings.append(f"[{self.source}] {message}")


def find_column(df: pd.DataFrame, candidates: Iterable[str]) -> str | None:
    """The first of ``candidates`` present in ``df`` (case-insensitive), or ``None``."""
    lower = {str(c).lower(): str(c) for c in df.columns}
    for cand in candidates:
        if cand in df.columns:
            return cand
        if cand.lower() in lower:
            return lower[cand.lower()]
    return None


def require_column(
    df: pd.DataFrame, candidates: list[str], issues: Issues, *, what: str
) -> str | None:
    """Like :func:`find_column`, but a missing column is a problem naming the alternatives."""
    found = find_column(df, candidates)
    if found is None:
        present = [str(c) for c in df.columns if c != "geometry"]
        close = difflib.get_close_matches(candidates[0], present, n=1, cutoff=0.6)
        hint = f" — did you mean '{close[0]}'?" if close else ""
        issues.problem(
            f"required column for {what} is missing{hint} (columns present: "
            f"{', '.join(present[:15]) or 'none'})",
            fix=f"name a column {' or '.join(repr(c) for c in candidates)}",
            column=candidates[0],
        )
    return found


def _as_str(values: pd.Series) -> pd.Series:
    """``values`` as pandas' ``str`` dtype, missing values missing (no copy when it is one)."""
    if values.dtype == _STR:
        return values
    return values.astype("str").where(values.notna())


def strip_prefix(values: pd.Series, prefix: str) -> pd.Series:
    """Remove an id prefix like ``NL.IMBAG.Pand.`` (vectorised; free when no value has it)."""
    text = _as_str(values)
    if not pc.any(pc.starts_with(to_arrow(text), prefix)).as_py():
        return text
    return text.str.removeprefix(prefix)


def text_column(df: pd.DataFrame, column: str | None) -> pd.Series:
    """A text column (or all-missing when ``column`` is None), stripped of whitespace."""
    if column is None:
        return pd.Series(pd.NA, index=df.index, dtype="str")
    values = df[column]
    if pd.api.types.is_float_dtype(values) or pd.api.types.is_integer_dtype(values):
        present = values.notna()
        return values.astype("Int64").astype("str").where(present)
    return _as_str(values).str.strip()


def frame(df: pd.DataFrame, columns: dict[str, pd.Series]) -> gpd.GeoDataFrame:
    """Build a canonical GeoDataFrame from column series and ``df``'s geometry (kept in place)."""
    out = pd.DataFrame(columns, index=df.index)
    if isinstance(df, gpd.GeoDataFrame):
        return gpd.GeoDataFrame(out, geometry=df.geometry.values, crs=df.crs)
    return gpd.GeoDataFrame(out)


def to_rd(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Reproject to EPSG:28992 (no-op when already there)."""
    if gdf.crs is None or gdf.crs.equals(CRS):
        return gdf
    return gdf.to_crs(CRS)


_STR = pd.StringDtype("pyarrow", na_value=np.nan)


def to_arrow(values: pd.Series) -> pa.Array:
    """A text column as a pyarrow string array (zero-copy for pandas' arrow-backed ``str``)."""
    if not isinstance(values.dtype, pd.StringDtype):
        values = values.astype("str").where(values.notna())
    return pa.array(values, from_pandas=True)


def from_arrow(array: pa.Array | pa.ChunkedArray, index: pd.Index) -> pd.Series:
    """A pyarrow string array back as a pandas ``str`` column."""
    out = array.to_pandas(types_mapper=lambda t: _STR)
    out.index = index
    return out


def isin(values: pd.Series, candidates: pd.Series | list[str]) -> np.ndarray:
    """``values.isin(candidates)`` for large text columns, via pyarrow (pandas' arrow-string
    ``isin`` iterates in Python)."""
    cand = candidates if isinstance(candidates, pd.Series) else pd.Series(candidates, dtype="str")
    mask = pc.is_in(to_arrow(values), value_set=to_arrow(cand).unique())
    return np.asarray(mask.fill_null(False), dtype=bool)
