"""Reading and writing result GeoPackages for the analysis commands (diff, report, sensitivity).

The scan writes results through :mod:`pipeline.export`; this module reads them back — the
scored layers (selected columns), the exclusion layers and ``run_metadata`` — with clear errors
naming the file and the fix, and writes the analysis outputs atomically (temp file, rename).
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import yaml

from pipeline import _yaml
from pipeline.errors import InputError, Problem

#: Scored layers of a result and their opportunity type (contracts §C).
SCORED_LAYERS = {
    "tijdelijke_locaties": "tijdelijke_locatie",
    "kantoren": "kantoortransformatie",
    "plinten": "plinttransformatie",
}


@dataclass
class ResultFile:
    """A result GeoPackage read back: scored layers, exclusion layers and run metadata."""

    path: Path
    layers: dict[str, gpd.GeoDataFrame]
    metadata: dict[str, Any]
    excluded: dict[str, pd.DataFrame] = field(default_factory=dict)
    gemeenten: gpd.GeoDataFrame | None = None

    @property
    def config(self) -> dict[str, Any]:
        """The scan config the run used (parsed, not validated: an old run may predate a rule)."""
        text = self.metadata.get("config_yaml") or ""
        try:
            data = _yaml.safe_load(text) if text else {}
        except yaml.YAMLError:
            return {}
        return data if isinstance(data, dict) else {}

    def weights(self, opportunity_type: str) -> dict[str, float]:
        """``{criterion id: weight}`` of a type in the run's config (empty when unknown)."""
        block = (self.config.get("types") or {}).get(opportunity_type) or {}
        out: dict[str, float] = {}
        for c in block.get("criteria") or []:
            if isinstance(c, dict) and "id" in c and isinstance(c.get("weight"), int | float):
                out[str(c["id"])] = float(c["weight"])
        return out


def _layers_of(path: Path) -> set[str]:
    try:
        return {str(name) for name, _ in pyogrio.list_layers(path)}
    except Exception as exc:
        raise InputError(
            Problem(
                f"cannot be opened as a GeoPackage ({exc})",
                "pass the result of `kansenkaart scan` (a .gpkg file)",
                file=str(path),
            )
        ) from None


def _metadata(path: Path) -> dict[str, Any]:
    table = pyogrio.read_dataframe(path, layer="run_metadata", read_geometry=False)
    out: dict[str, Any] = {}
    for key, value in zip(table["key"], table["value"], strict=True):
        try:
            out[str(key)] = json.loads(value)
        except (TypeError, ValueError):
            out[str(key)] = value
    return out


def read_result(
    path: Path,
    *,
    layers: Sequence[str] = tuple(SCORED_LAYERS),
    columns: Sequence[str] | None = None,
    geometry: bool = True,
    excluded: bool = False,
    gemeenten: Sequence[str] | None = None,
) -> ResultFile:
    """Read a result GeoPackage (contracts §C).

    Parameters
    ----------
    path
        The result of ``kansenkaart scan``.
    layers
        Scored layers to read (a layer the file lacks is read as empty).
    columns
        Only these columns (plus ``site_id`` and ``gemeentecode``; ``c_*``/``p_*`` patterns are
        not expanded here: ``None`` reads every column but ``explanation``).
    geometry
        Read the geometries.
    excluded
        Also read ``uitgesloten_percelen``/``uitgesloten_panden`` (ids and reason codes only).
    gemeenten
        Keep only these municipality codes.

    Raises
    ------
    InputError
        The file is missing or not a result (no ``run_metadata`` or no scored layer).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            Problem("does not exist", "pass the path of a result GeoPackage", file=str(path))
        )
    present = _layers_of(path)
    if "run_metadata" not in present or not present & set(SCORED_LAYERS):
        raise InputError(
            Problem(
                "is not a Kansenkaart result (no run_metadata table or no scored layer)",
                "pass a GeoPackage written by `kansenkaart scan`",
                file=str(path),
            )
        )
    codes = set(gemeenten or ())
    out: dict[str, gpd.GeoDataFrame] = {}
    for name in layers:
        if name not in present:
            out[name] = gpd.GeoDataFrame({"site_id": pd.Series(dtype=object)}, geometry=[])
            continue
        fields = [str(f) for f in pyogrio.read_info(path, layer=name)["fields"]]
        wanted = (
            [f for f in fields if f != "explanation"]
            if columns is None
            else [f for f in fields if f in {*columns, "site_id", "gemeentecode"}]
        )
        df = pyogrio.read_dataframe(
            path, layer=name, columns=wanted, read_geometry=geometry, use_arrow=True
        )
        if not isinstance(df, gpd.GeoDataFrame):
            df = gpd.GeoDataFrame(df)
        if codes:
            df = df[df["gemeentecode"].isin(codes)]
        out[name] = df.reset_index(drop=True)
    excl: dict[str, pd.DataFrame] = {}
    if excluded:
        for name, cols in (
            ("uitgesloten_percelen", ["parcel_id", "gemeentecode", "reason_codes"]),
            (
                "uitgesloten_panden",
                ["pand_id", "gemeentecode", "kantoor_reason_codes", "plint_reason_codes"],
            ),
        ):
            if name in present:
                have = {str(f) for f in pyogrio.read_info(path, layer=name)["fields"]}
                df = pyogrio.read_dataframe(
                    path,
                    layer=name,
                    columns=[c for c in cols if c in have],
                    read_geometry=False,
                    use_arrow=True,
                )
                excl[name] = df
    gem = None
    if "gemeenten" in present:
        gem = pyogrio.read_dataframe(path, layer="gemeenten", read_geometry=geometry)
        if codes:
            gem = gem[gem["gemeentecode"].isin(codes)]
    return ResultFile(path=path, layers=out, metadata=_metadata(path), excluded=excl, gemeenten=gem)


def explanations(path: Path, layer: str, site_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The parsed ``explanation`` JSON of some sites of a layer (read by id, not the whole layer)."""
    if not site_ids:
        return {}
    con = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    try:
        out: dict[str, dict[str, Any]] = {}
        ids = list(site_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = con.execute(
                f'SELECT site_id, explanation FROM "{layer}" WHERE site_id IN ({marks})', chunk
            ).fetchall()
            for sid, text in rows:
                try:
                    out[str(sid)] = json.loads(text) if text else {}
                except ValueError:
                    out[str(sid)] = {}
        return out
    finally:
        con.close()


def write_layer_atomically(
    gdf: gpd.GeoDataFrame, out: Path, *, layer: str, disclaimer: str | None = None
) -> Path:
    """Write one layer to a new GeoPackage: a temp file next to ``out``, then rename.

    With ``disclaimer`` the layer's ``gpkg_contents.description`` says what it is and then
    the framing (as every layer of a scan result does), before the file gets its name.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}.gpkg")
    try:
        pyogrio.write_dataframe(gdf, tmp, layer=layer, driver="GPKG")
        if disclaimer is not None:
            from pipeline.export import describe_layers

            describe_layers(tmp, disclaimer)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def write_text_atomically(text: str | bytes, out: Path) -> Path:
    """Write a file through a temp name and a rename (a failed run leaves no half file)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        if isinstance(text, bytes):
            tmp.write_bytes(text)
        else:
            tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
