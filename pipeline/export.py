"""Write the result GeoPackage (docs/contracts.md §C) atomically, with run metadata and QGIS styles.

Layers ``tijdelijke_locaties``, ``kantoren``, ``plinten``, ``gemeenten``,
``uitgesloten_percelen``, ``uitgesloten_panden``, the attribute tables ``run_metadata`` and
``layer_styles`` (QGIS's own table: the layers open coloured by tier). Everything is written with
pyogrio (``use_arrow=True``) into a temporary file in the target folder, which then replaces the
target with :func:`os.replace`: a failed or interrupted run leaves the previous result as it was.

The ``result`` passed to :func:`write_result` is the scan's ``ScanResult``; this module reads
only these attributes (each layer either as an attribute or in a ``layers`` mapping):

- ``tijdelijke_locaties``, ``kantoren``, ``plinten``: scored candidates (output of
  :func:`pipeline.scoring.score_table` plus the per-layer columns of contracts §C);
- ``gemeenten``: the municipalities (if it lacks the summary columns they are computed here with
  :func:`pipeline.scoring.summarise_gemeenten`);
- ``uitgesloten_percelen``, ``uitgesloten_panden``: the excluded objects with their reasons;
- optional run information: ``run_id``, ``started_at``, ``finished_at`` (datetimes, UTC),
  ``gemeente_codes`` (codes scanned), ``feature_counts`` (dict), ``tiers`` (dict).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sized
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import yaml

from pipeline._gpkg_writer import (
    GPKG_DATASET_OPTIONS,
    create_indexes,
    unsynced_sqlite,
    write_layer_table,
)
from pipeline.schemas import CRS
from pipeline.search_index import INDEX_COLUMNS, NAME_COLUMNS, WATER_COLUMNS
from pipeline.stages import release_free_memory
from pipeline.styles.qml import capacity_qml, tier_qml

#: Opportunity type -> scored layer name.
TYPE_LAYERS = {
    "tijdelijke_locatie": "tijdelijke_locaties",
    "kantoortransformatie": "kantoren",
    "plinttransformatie": "plinten",
}
SCORED_LAYERS = tuple(TYPE_LAYERS.values())
COMMON_COLUMNS = (
    "site_id",
    "opportunity_type",
    "gemeentecode",
    "gemeentenaam",
    "score",
    "tier",
    "rank",
    "capacity_units",
    "capacity_low",
    "capacity_high",
    "owner_class",
    "label",
    "aandachtspunten",
    "aandachtspunt_codes",
    "explanation",
    "reasons",
)
#: Documented columns per layer (contracts §C); scored layers also get every ``c_*`` column.
LAYER_COLUMNS: dict[str, tuple[str, ...]] = {
    "tijdelijke_locaties": (
        *COMMON_COLUMNS,
        "parcel_ids",
        "n_parcels",
        "area_m2",
        "net_area_m2",
        "merged",
        "beschikbaarheid",
        "beschikbaar_tot",
        "beschikbaar_jaren",
        "plan_id",
        "plan_naam",
        "plan_status",
        "plan_startjaar",
        "plan_woningen",
        "in_bsd",
        "dist_bsd_m",
    ),
    "kantoren": (
        *COMMON_COLUMNS,
        "pand_id",
        "bouwjaar",
        "office_floor_m2",
        "vacant_office_floor_m2",
        "vacant_share",
        "vacant_years",
        "energielabel",
        "capacity_whole_building",
    ),
    "plinten": (
        *COMMON_COLUMNS,
        "vbo_id",
        "pand_id",
        "oppervlakte_m2",
        "straatnaam",
        "vacant_years",
        "winkelligging",
    ),
    "uitgesloten_percelen": ("parcel_id", "gemeentecode", "reason_codes", "reasons"),
    "uitgesloten_panden": (
        "pand_id",
        "gemeentecode",
        "kantoor_reason_codes",
        "kantoor_reasons",
        "plint_reason_codes",
        "plint_reasons",
    ),
    # search index and orientation (pipeline/search_index.py)
    "zoekindex": INDEX_COLUMNS,
    "orientatie_namen": NAME_COLUMNS,
    "orientatie_water": WATER_COLUMNS,
}
#: Layers of pipeline/search_index.py, and the SQLite indexes the api's search uses (made
#: when their layer is written).
INDEX_LAYERS = ("zoekindex", "orientatie_namen", "orientatie_water")
SEARCH_INDEXES = {
    "zoekindex_postcode": ("zoekindex", ("postcode", "huisnummer")),
    "zoekindex_straat": ("zoekindex", ("straat", "huisnummer")),
    "zoekindex_perceel": ("zoekindex", ("akr_code", "sectie", "perceelnummer")),
    "zoekindex_parcel_id": ("zoekindex", ("parcel_id",)),
}


def layer_indexes(name: str) -> dict[str, tuple[str, ...]]:
    """The search indexes of layer ``name`` (index name → columns; :data:`SEARCH_INDEXES`)."""
    return {index: cols for index, (table, cols) in SEARCH_INDEXES.items() if table == name}


GEOMETRY_TYPES = {
    "tijdelijke_locaties": "MultiPolygon",
    "kantoren": "MultiPolygon",
    "plinten": "Point",
    "gemeenten": "MultiPolygon",
    "uitgesloten_percelen": "MultiPolygon",
    "uitgesloten_panden": "MultiPolygon",
    "zoekindex": "Point",
    "orientatie_namen": "Point",
    "orientatie_water": "MultiPolygon",
}
LAYER_ORDER = (
    "tijdelijke_locaties",
    "kantoren",
    "plinten",
    "gemeenten",
    "uitgesloten_percelen",
    "uitgesloten_panden",
    *INDEX_LAYERS,
)
METADATA_KEYS = (
    "run_id",
    "started_at",
    "finished_at",
    "software_version",
    "config_yaml",
    "config_sha256",
    "inputs",
    "feature_counts",
    "repaired_geometries",
    "gemeenten",
    "synthetic",
    "tiers",
    "warnings",
    "reference_date",
    "disclaimer",
    "fetch",
)
#: The framing every layer description and the run metadata carry when the result has none.
DEFAULT_DISCLAIMER = (
    "Verkenning, geen besluit. Vertrouwelijk: alleen voor de betrokken overheden en "
    "corporaties; niet verspreiden."
)
#: What each layer of the result is (``gpkg_contents.description``, followed by the disclaimer).
LAYER_DESCRIPTIONS = {
    "tijdelijke_locaties": "Kansenkaart flexwonen: kansrijke tijdelijke woonlocaties",
    "kantoren": "Kansenkaart flexwonen: (deels) leegstaande kantoren voor transformatie",
    "plinten": "Kansenkaart flexwonen: leegstaande winkelplinten buiten het kernwinkelgebied",
    "gemeenten": "Kansenkaart flexwonen: samenvatting per gemeente",
    "uitgesloten_percelen": "Kansenkaart flexwonen: percelen die geen kandidaat zijn, met reden",
    "uitgesloten_panden": "Kansenkaart flexwonen: kantoor- en winkelpanden die geen kandidaat zijn, met reden",
    "run_metadata": "Kansenkaart flexwonen: gegevens van de scanrun",
    "layer_styles": "Kansenkaart flexwonen: QGIS-stijlen",
    "zoekindex": "Kansenkaart flexwonen: zoekindex van adressen (BAG) en percelen (BRK)",
    "orientatie_namen": "Kansenkaart flexwonen: plaats- en straatnamen om de kaart te lezen",
    "orientatie_water": "Kansenkaart flexwonen: water uit de bestemmingsplannen",
    "verschillen": "Kansenkaart flexwonen: verschillen tussen twee scanruns, met hun oorzaken",
}
INT_COLUMNS = (
    "rank",
    "capacity_units",
    "capacity_low",
    "capacity_high",
    "capacity_whole_building",
    "n_parcels",
    "merged",
    "bouwjaar",
    "beschikbaar_tot",
    "beschikbaar_jaren",
    "plan_startjaar",
    "plan_woningen",
    "huisnummer",
    "n",
)


# --------------------------------------------------------------------------- layers


def _layer(result: Any, name: str) -> gpd.GeoDataFrame | None:
    layers = getattr(result, "layers", None)
    if isinstance(layers, Mapping) and name in layers:
        return layers[name]
    return getattr(result, name, None)


def _attr(result: Any, name: str, default: Any = None) -> Any:
    meta = getattr(result, "metadata", None)
    if isinstance(meta, Mapping) and name in meta:
        return meta[name]
    return getattr(result, name, default)


def _empty_layer(name: str) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {c: pd.Series(dtype=object) for c in LAYER_COLUMNS.get(name, ())},
        geometry=gpd.GeoSeries([], crs=CRS),
        crs=CRS,
    )


def _prepare_scored(name: str, gdf: gpd.GeoDataFrame, names: Mapping[str, str]) -> gpd.GeoDataFrame:
    gdf = gdf.reset_index(drop=gdf.index.name in gdf.columns or gdf.index.name is None)
    if "gemeentenaam" not in gdf.columns and "gemeentecode" in gdf.columns:
        gdf["gemeentenaam"] = gdf["gemeentecode"].map(names)
    if "label" not in gdf.columns:
        gdf["label"] = default_labels(name, gdf)
    if "owner_class" not in gdf.columns:
        gdf["owner_class"] = "onbekend"
    crit = [
        c
        for c in gdf.columns
        if (c.startswith("c_") and c.endswith(("_raw", "_score")))
        or (c.startswith("p_") and c.endswith(("_raw", "_points")))
    ]
    return _select(name, gdf, extra=crit)


def _select(
    name: str, gdf: gpd.GeoDataFrame, *, extra: tuple[str, ...] | list[str] = ()
) -> gpd.GeoDataFrame:
    if gdf.index.name in LAYER_COLUMNS.get(name, ()) and gdf.index.name not in gdf.columns:
        gdf = gdf.reset_index()
    wanted = list(LAYER_COLUMNS.get(name, ()))
    missing = [c for c in wanted if c not in gdf.columns]
    if missing:
        raise ValueError(
            f"result layer '{name}' lacks the documented column(s) {missing} (docs/contracts.md §C)"
        )
    # copy-on-write: the columns changed below are new columns of ``out``, never ``gdf``'s
    out = gpd.GeoDataFrame(
        gdf[wanted + list(extra)], geometry=gdf.geometry.to_numpy(), crs=gdf.crs or CRS
    )
    for col in INT_COLUMNS:
        if col in out.columns:
            vals = out[col]
            if pd.api.types.is_bool_dtype(vals.dtype) or pd.api.types.is_numeric_dtype(vals.dtype):
                out[col] = pd.array(pd.to_numeric(vals.astype("float64")).round(), dtype="Int64")
            elif vals.dtype == object:
                out[col] = pd.array(pd.to_numeric(vals, errors="coerce").round(), dtype="Int64")
    if "score" in out.columns:
        out["score"] = out["score"].astype("float64").round(1)
    for col in out.columns:
        # mixed text/number raw values (categorical criteria) stay text
        if (
            out[col].dtype == object
            and col != "geometry"
            and not all(isinstance(v, str) for v in _first_values(out[col], 50))
        ):
            out[col] = out[col].map(lambda v: v if v is None or isinstance(v, str) else str(v))
    return out


def _first_values(values: pd.Series, k: int) -> list[Any]:
    """The first ``k`` non-missing values of a column (without scanning all of a long one)."""
    head = values.iloc[: 20 * k].dropna()
    if len(head) < k and len(values) > 20 * k:
        head = values.dropna()
    return head.iloc[:k].tolist()


def default_labels(name: str, gdf: pd.DataFrame) -> np.ndarray:
    """A short Dutch label per feature when the scan did not set one ("Perceel 5260…, 2.300 m²")."""
    from pipeline.scoring.text import format_values

    n = len(gdf)
    if n == 0:
        return np.zeros(0, dtype=object)
    needs = {
        "kantoren": ("pand_id", "office_floor_m2"),
        "plinten": ("straatnaam", "oppervlakte_m2"),
    }
    if any(c not in gdf.columns for c in needs.get(name, ())):
        return (
            gdf["site_id"].astype(str).to_numpy(dtype=object)
            if "site_id" in gdf
            else np.full(n, "")
        )
    if name == "tijdelijke_locaties":
        id_col = "parcel_ids" if "parcel_ids" in gdf.columns else "site_id"
        ids = gdf[id_col].astype(str).to_numpy(dtype=object)
        area = format_values(gdf["area_m2"], "m2") if "area_m2" in gdf.columns else np.full(n, "")
        nparc = gdf["n_parcels"].to_numpy() if "n_parcels" in gdf.columns else np.ones(n)
        head = np.where(np.asarray(nparc, dtype="float64") > 1, "Percelen ", "Perceel ").astype(
            object
        )
        return head + ids + ", " + area
    if name == "kantoren":
        floor = format_values(gdf["office_floor_m2"], "m2")
        return (
            "Kantoorpand "
            + gdf["pand_id"].astype(str).to_numpy(dtype=object)
            + ", "
            + floor
            + " kantoor"
        )
    street = gdf["straatnaam"].fillna("onbekende straat").astype(str).to_numpy(dtype=object)
    return "Winkelruimte " + street + ", " + format_values(gdf["oppervlakte_m2"], "m2")


def _gemeenten_layer(result: Any) -> gpd.GeoDataFrame:
    from pipeline.scoring import summarise_gemeenten

    gem = _layer(result, "gemeenten")
    if gem is None:
        raise ValueError("the scan result has no 'gemeenten' layer")
    if gem.index.name == "gemeentecode" and "gemeentecode" not in gem.columns:
        gem = gem.reset_index()
    if "capacity_ab" not in gem.columns:
        candidates = {}
        for type_name, layer_name in TYPE_LAYERS.items():
            lay = _layer(result, layer_name)
            if lay is not None:
                candidates[type_name] = lay
        gem = summarise_gemeenten(gem, candidates)
    cols = [c for c in gem.columns if c != gem.geometry.name]
    out = gpd.GeoDataFrame(gem[cols].copy(), geometry=gem.geometry.to_numpy(), crs=gem.crs or CRS)
    return out.sort_values("gemeentecode", kind="mergesort").reset_index(drop=True)


def prepare_layer(
    name: str, gdf: gpd.GeoDataFrame | None, names: Mapping[str, str]
) -> gpd.GeoDataFrame:
    """One result layer exactly as it is written (documented columns, in order).

    ``names`` maps ``gemeentecode`` to ``gemeentenaam`` for scored layers that lack it;
    ``gemeenten`` is passed through as given (see :func:`_gemeenten_layer`).
    """
    if name in SCORED_LAYERS:
        return _empty_layer(name) if gdf is None else _prepare_scored(name, gdf, names)
    if name in ("uitgesloten_percelen", "uitgesloten_panden", *INDEX_LAYERS):
        return _empty_layer(name) if gdf is None else _select(name, gdf)
    return gdf


def result_layers(result: Any) -> dict[str, gpd.GeoDataFrame]:
    """The six spatial layers exactly as they are written (documented columns, in order)."""
    gemeenten = _gemeenten_layer(result)
    names = dict(zip(gemeenten["gemeentecode"], gemeenten["gemeentenaam"], strict=False))
    return {
        name: gemeenten if name == "gemeenten" else prepare_layer(name, _layer(result, name), names)
        for name in (*SCORED_LAYERS, "gemeenten", "uitgesloten_percelen", "uitgesloten_panden")
    }


# --------------------------------------------------------------------------- metadata


def _jsonable(value: Any) -> Any:
    if hasattr(value, "as_dict") and callable(value.as_dict):
        return _jsonable(value.as_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _iso(value: Any) -> str:
    if value is None:
        return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def run_metadata(
    result: Any,
    layers: Mapping[str, Sized],
    *,
    report: Any,
    config_text: str,
) -> pd.DataFrame:
    """The ``run_metadata`` table: one row per key, JSON-encoded values (contracts §C)."""
    from pipeline import __version__

    tiers = _attr(result, "tiers")
    if tiers is None:
        try:
            tiers = (yaml.safe_load(config_text) or {}).get("tiers")
        except yaml.YAMLError:
            tiers = None
    codes = _attr(result, "gemeente_codes")
    if codes is None:
        gemeenten = layers["gemeenten"]
        assert isinstance(gemeenten, pd.DataFrame), "run_metadata needs the gemeenten layer itself"
        codes = sorted(gemeenten["gemeentecode"].astype(str).tolist())
    counts = _attr(result, "feature_counts")
    output_counts = {name: len(df) for name, df in layers.items()}
    feature_counts = {
        "input": _jsonable(getattr(report, "counts", {}) or {}),
        "output": output_counts,
        **({"scan": _jsonable(counts)} if counts else {}),
    }
    values: dict[str, Any] = {
        "run_id": str(_attr(result, "run_id") or uuid.uuid4().hex),
        "started_at": _iso(_attr(result, "started_at")),
        "finished_at": _iso(_attr(result, "finished_at")),
        "software_version": __version__,
        "config_yaml": config_text,
        "config_sha256": hashlib.sha256(config_text.encode("utf-8")).hexdigest(),
        "inputs": _jsonable(list(getattr(report, "inputs", []) or [])),
        "feature_counts": feature_counts,
        "repaired_geometries": _jsonable(getattr(report, "repaired", {}) or {}),
        "gemeenten": list(codes),
        "synthetic": bool(getattr(report, "synthetic", False)),
        "tiers": _jsonable(tiers),
        "warnings": _jsonable(
            [*(getattr(report, "warnings", []) or []), *(_attr(result, "warnings") or [])]
        ),
        "reference_date": _attr(result, "reference_date") or None,
        "disclaimer": _attr(result, "disclaimer") or DEFAULT_DISCLAIMER,
        # what `kansenkaart fetch` downloaded (URL, time, count, sha256), or null
        "fetch": _jsonable(getattr(report, "fetch", None)),
    }
    return pd.DataFrame(
        {
            "key": list(METADATA_KEYS),
            "value": [
                json.dumps(values[k], ensure_ascii=False, sort_keys=k != "config_yaml")
                for k in METADATA_KEYS
            ],
        }
    )


# --------------------------------------------------------------------------- QGIS styles


def layer_styles(
    layers: Mapping[str, gpd.GeoDataFrame], *, tiers: Mapping[str, float] | None
) -> pd.DataFrame:
    """Rows of QGIS's ``layer_styles`` table: one default style per scored layer and gemeenten.

    ``update_time`` is a timezone-aware UTC time, which GDAL writes in the form the GeoPackage
    standard asks of a DATETIME column (``YYYY-MM-DDTHH:MM:SS.SSSZ``).
    """
    now = datetime.now(UTC).replace(microsecond=0)
    rows = []
    for name in (*SCORED_LAYERS, "gemeenten"):
        if name == "gemeenten":
            qml = capacity_qml(layers["gemeenten"]["capacity_ab"])
            style_name, desc = (
                "kansenkaart_capaciteit",
                "Capaciteit (woningen in klasse A en B) per gemeente",
            )
        else:
            qml = tier_qml(name, point=GEOMETRY_TYPES[name] == "Point", tiers=tiers)
            style_name, desc = "kansenkaart_klasse", "Kansen gekleurd naar klasse A–E"
        rows.append(
            {
                "f_table_catalog": "",
                "f_table_schema": "",
                "f_table_name": name,
                "f_geometry_column": "geom",
                "styleName": style_name,
                "styleQML": qml,
                "styleSLD": "",
                "useAsDefault": True,
                "description": desc,
                "owner": "",
                "ui": "",
                "update_time": now,
            }
        )
    df = pd.DataFrame(rows)
    df["update_time"] = pd.to_datetime(df["update_time"])
    return df


# --------------------------------------------------------------------------- writing


def _remove_quietly(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(str(path) + suffix).unlink()


#: WKB prefix that turns one little-endian Polygon WKB into a MultiPolygon of that one part.
_MULTI_PREFIX = {3: b"\x01\x06\x00\x00\x00\x01\x00\x00\x00"}
#: Rows per Arrow batch handed to the background writer (bounds its memory).
IPC_BATCH_ROWS = 65_536
#: Layers with at least this many rows are handed to the background writer process.
BACKGROUND_MIN_ROWS = 50_000


def layer_table(gdf: gpd.GeoDataFrame, geometry_type: str) -> pa.Table:
    """The layer as an Arrow table with WKB geometry in column ``geometry``, ready for GDAL.

    Single polygons are promoted to one-part MultiPolygons at the byte level when the layer
    is declared ``MultiPolygon`` (the same geometries ``promote_to_multi`` gives, without
    building shapely objects); points are encoded straight from their coordinates. Columns
    are converted one by one as ``pyogrio.write_dataframe`` does (no copy of the frame).
    """
    import shapely

    geoms = np.asarray(gdf.geometry.array, dtype=object)
    geometry = _point_wkb(geoms) if geometry_type == "Point" else None
    if geometry is None:
        wkb = shapely.to_wkb(geoms, byte_order=1)
        if geometry_type == "MultiPolygon" and len(wkb):
            types = shapely.get_type_id(geoms)
            single = np.flatnonzero(types == 3)
            if len(single):
                prefix = _MULTI_PREFIX[3]
                wkb[single] = [prefix + w for w in wkb[single].tolist()]
        geometry = pa.array(wkb, type=pa.binary())
    columns: dict[str, pa.Array] = {}
    for col in gdf.columns:
        if col == gdf.geometry.name:
            continue
        values = gdf[col]
        if values.dtype == object:
            kind = pd.api.types.infer_dtype(values, skipna=True)
            if kind not in ("string", "empty"):
                values = values.astype("string")
        arr = pa.array(values, from_pandas=True)
        if pa.types.is_dictionary(arr.type):  # a pandas Categorical: GDAL gets the texts
            arr = arr.dictionary_decode()
        columns[col] = arr.cast(pa.string()) if pa.types.is_null(arr.type) else arr
    columns["geometry"] = geometry
    return pa.table(columns)


#: Little-endian WKB of a 2D point: byte order, type 1, x, y.
_POINT_WKB = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])


def _point_wkb(geoms: np.ndarray) -> pa.Array | None:
    """The WKB (little endian) of 2D points made from their coordinates, as ``shapely.to_wkb``
    writes it; ``None`` unless every geometry is a non-empty 2D point."""
    import shapely

    n = len(geoms)
    if not 0 < n < 2**31 // _POINT_WKB.itemsize or not (
        (shapely.get_type_id(geoms) == 0).all()
        and not shapely.has_z(geoms).any()
        and not shapely.is_empty(geoms).any()
    ):
        return None
    xy = shapely.get_coordinates(geoms)
    rec = np.empty(n, dtype=_POINT_WKB)
    rec["order"] = 1
    rec["type"] = 1
    rec["x"] = xy[:, 0]
    rec["y"] = xy[:, 1]
    offsets = np.arange(n + 1, dtype=np.int32) * _POINT_WKB.itemsize
    return pa.Array.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(rec.tobytes())]
    )


def layer_batches(gdf: gpd.GeoDataFrame, geometry_type: str) -> Iterator[pa.Table]:
    """:func:`layer_table` of ``gdf`` in slices of :data:`IPC_BATCH_ROWS` rows, all with the
    first slice's schema: the WKB and Arrow copies of one slice exist at a time, not of the
    whole layer (1.4 M excluded parcels on the province)."""
    schema = None
    for start in range(0, max(len(gdf), 1), IPC_BATCH_ROWS):
        table = layer_table(gdf.iloc[start : start + IPC_BATCH_ROWS], geometry_type)
        if schema is None:
            schema = table.schema
        yield table if table.schema == schema else table.cast(schema)


class _CleanupGuard:
    """A tiny process (:mod:`pipeline._cleanup_guard`) that removes the temporary files and stops
    the background writer if this process dies before it can (even of SIGKILL)."""

    def __init__(self) -> None:
        import subprocess
        import sys

        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(Path(__file__).with_name("_cleanup_guard.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # Ctrl+C in the terminal is for the scan, not the guard
        )

    def tell(self, command: str) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def release(self) -> None:
        """The scan cleaned up (or finished) itself: let the guard go without doing anything."""
        self.tell("done")
        with contextlib.suppress(BrokenPipeError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        self.proc.wait()


def _remove_stale_temporaries(out_path: Path) -> None:
    """Temporary files next to ``out_path`` left by scans that no longer run (the guard of a
    killed scan died too, e.g. the whole process group was killed)."""
    import re

    pattern = re.compile(rf"^\.{re.escape(out_path.stem)}\.tmp-(\d+)-[0-9a-f]+\.gpkg")
    for path in out_path.parent.glob(f".{out_path.stem}.tmp-*"):
        match = pattern.match(path.name)
        if match is None or int(match.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except PermissionError:
            pass  # another user's scan that still runs


class _Background:
    """A child process (``python -m pipeline._gpkg_writer``) that writes layers in order.

    Layers are passed as Arrow IPC files in a private temporary folder; GDAL's GeoPackage
    writer holds the GIL, so a separate process is what lets the scan go on computing while
    the big layers are written.
    """

    def __init__(self, gpkg: Path) -> None:
        import subprocess
        import sys
        import tempfile

        self.folder = Path(tempfile.mkdtemp(prefix="kansenkaart-layers-"))
        # stderr to a file: GDAL may warn a lot, and a full pipe would block the writer.
        self.stderr = open(self.folder / "writer.log", "w+", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline._gpkg_writer", str(gpkg)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.sent = 0
        self.peak_rss_gb = 0.0
        #: Seconds the writer process waited for the rest of each layer's stream.
        self.waited: dict[str, float] = {}

    def send(self, tables: Iterator[pa.Table], name: str, geometry_type: str) -> None:
        """Write a layer's slices (:func:`layer_batches`) to a file, handing it over as soon
        as the first slice is in it: the writer process writes the slices as they come (the
        search index's 3 M rows are made part by part while the first are written)."""
        import pyarrow.ipc as ipc

        path = self.folder / f"{self.sent:02d}-{name}.arrows"
        self.sent += 1
        first = next(tables)
        # An IPC stream in batches: the writer reads and writes one batch at a time.
        schema = first.schema  # a layer's parts may differ where a part's column is all missing
        with pa.OSFile(str(path), "wb") as sink:
            w = ipc.new_stream(sink, schema)
            try:
                for k, table in enumerate(itertools.chain([first], tables)):
                    w.write_table(
                        table if table.schema == schema else table.cast(schema),
                        max_chunksize=IPC_BATCH_ROWS,
                    )
                    if k == 0:
                        self._command(path, name, geometry_type)
            except BaseException:
                # No end marker: the writer process, waiting for the rest of the stream,
                # stops with an error (the scan fails with this one, and the temporary
                # GeoPackage goes).
                path.with_name(path.name + ".failed").touch()
                raise
            w.close()  # the stream's end marker: the writer process finishes the layer

    def _command(self, path: Path, name: str, geometry_type: str) -> None:
        line = json.dumps(
            {
                "ipc": str(path),
                "layer": name,
                "geometry_type": geometry_type,
                "indexes": layer_indexes(name),
            }
        )
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.wait()  # raises the child's error

    def wait(self) -> dict[str, float]:
        """Wait until every layer is written; the seconds per layer (raises on a failure)."""
        out, _ = self.proc.communicate()
        self.stderr.seek(0)
        err = self.stderr.read()[-2000:]
        done: dict[str, float] = {}
        problem = None
        for line in out.splitlines():
            msg = json.loads(line)
            if "error" in msg:
                problem = msg["error"]
            else:
                done[msg["layer"]] = msg["seconds"]
                self.waited[msg["layer"]] = float(msg.get("waited", 0.0))
                self.peak_rss_gb = max(self.peak_rss_gb, float(msg.get("peak_rss_gb", 0.0)))
        if self.proc.returncode != 0 or problem:
            raise RuntimeError(
                f"writing the GeoPackage failed: {problem or err.strip() or self.proc.returncode}"
            )
        return done

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self) -> None:
        import shutil

        self.stderr.close()
        shutil.rmtree(self.folder, ignore_errors=True)


#: What :meth:`ResultWriter.add` takes: a layer, a function that returns it, or its parts.
LayerSource: TypeAlias = (
    gpd.GeoDataFrame | Callable[[], gpd.GeoDataFrame] | Iterator[gpd.GeoDataFrame] | None
)


class ResultWriter:
    """Writes the result GeoPackage layer by layer, then moves it into place atomically.

    ``add`` a result layer as soon as it is ready (the scan hands over the parcels' layers
    while it still computes the buildings); large layers go to a background writer process
    so writing overlaps with computing. ``finish`` adds ``gemeenten``, ``run_metadata`` and
    ``layer_styles``, waits for the writer, syncs the file and renames it over ``out_path``.
    On any error (or ``abort``) the temporary file is removed and a previous result at
    ``out_path`` stays as it was. If the process dies before it can clean up (SIGKILL, the
    out-of-memory killer) a small guard process (:mod:`pipeline._cleanup_guard`) stops the
    background writer and removes the temporary files; temporary files of scans that no longer
    run are removed when the next scan starts. Two scans writing the same ``out_path`` at once
    each write their own temporary file and rename it: the later rename wins, and it is whole.

    Use as a context manager::

        with ResultWriter(out) as writer:
            writer.add("tijdelijke_locaties", candidates)
            ...
            writer.finish(result, report=report, config_text=text)
    """

    def __init__(
        self,
        out_path: Path,
        *,
        background: bool | None = None,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.names = dict(names or {})
        self.out_path = Path(out_path)
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.out_path.with_name(
            f".{self.out_path.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}.gpkg"
        )
        _remove_stale_temporaries(self.out_path)
        self._guard = _CleanupGuard()
        self._guard.tell(f"remove {self.tmp}")
        self.background = background
        self._bg: _Background | None = None
        self._pool: Any = None
        self._futures: list[Any] = []
        self.counts: dict[str, int] = {}
        #: The layers handed to ``add`` (the helper thread counts them only once it has them).
        self.added: set[str] = set()
        self.seconds: dict[str, float] = {}
        #: Seconds the background writer waited for a layer still being made (not in seconds).
        self.waited: dict[str, float] = {}
        #: Peak memory of the background writer process (GB; 0 if none ran).
        self.writer_peak_rss_gb = 0.0
        self._done = False

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if not self._done:
            self.abort()

    def add(self, name: str, gdf: LayerSource) -> None:
        """Prepare a result layer (documented columns, contracts §C) and write it.

        A large layer (or any layer after one) is prepared on a helper thread (most of the
        conversion to Arrow/WKB releases the GIL) and written by the background process;
        ``add`` returns at once. Do not change ``gdf`` afterwards. ``gdf`` may be a function
        that returns the layer (one still being made on another thread): the helper thread
        waits for it, so the layers are written in the order they were added. It may also be
        an iterator of the layer's parts in order (each with the layer's columns): the helper
        thread takes one part at a time, so a part is made, converted and handed over before
        the next is made and the whole layer never is in memory.
        """
        self.added.add(name)
        pending = not (gdf is None or isinstance(gdf, pd.DataFrame))
        use_bg = self.background
        if use_bg is None:
            n = len(gdf) if isinstance(gdf, pd.DataFrame) else 0
            use_bg = self._pool is not None or pending or n >= BACKGROUND_MIN_ROWS
        if use_bg:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(1, thread_name_prefix="kansenkaart-writer")
            # in a box the helper thread empties: once sent, nothing here keeps the layer
            self._futures.append(self._pool.submit(self._send, name, [gdf]))
            return
        self._flush_background()
        prepared, gtype = self._prepared(name, gdf)
        table = layer_table(prepared, gtype)
        import time

        t0 = time.perf_counter()
        write_layer_table(table, self.tmp, name, gtype, indexes=layer_indexes(name))
        self.seconds[name] = round(time.perf_counter() - t0, 3)

    def _prepared(self, name: str, gdf: LayerSource) -> tuple[gpd.GeoDataFrame, str]:
        if isinstance(gdf, Iterator):  # written here, at once: the parts joined
            gdf = pd.concat(list(gdf), ignore_index=True)
        elif not (gdf is None or isinstance(gdf, pd.DataFrame)):
            gdf = gdf()  # a layer still being made: wait for it
        prepared = prepare_layer(name, gdf, self.names)
        self.counts[name] = len(prepared)
        return prepared, GEOMETRY_TYPES[name]

    def _background(self) -> _Background:
        if self._bg is None:
            self._bg = _Background(self.tmp)
            self._guard.tell(f"kill {self._bg.proc.pid}")
            self._guard.tell(f"remove {self._bg.folder}")
        return self._bg

    def _send_parts(self, name: str, parts: Iterator[gpd.GeoDataFrame]) -> None:
        gtype = GEOMETRY_TYPES[name]
        self.counts[name] = 0

        def tables() -> Iterator[pa.Table]:
            for part in parts:
                prepared = prepare_layer(name, part, self.names)
                del part
                self.counts[name] += len(prepared)
                yield from layer_batches(prepared, gtype)
                del prepared  # before the next part is made

        self._background().send(tables(), name, gtype)
        release_free_memory()

    def _send(self, name: str, box: list[LayerSource]) -> None:
        source = box.pop()
        if isinstance(source, Iterator):
            self._send_parts(name, source)
            return
        prepared, gtype = self._prepared(name, source)
        self._background().send(layer_batches(prepared, gtype), name, gtype)
        if len(prepared) >= BACKGROUND_MIN_ROWS:
            # the layer (millions of rows) and its copies are freed now: give the memory
            # back while the scan goes on, not only at the next stage's end
            del prepared
            release_free_memory()

    def _wait_sent(self) -> None:
        """Wait until every layer handed to the helper thread is with the writer process."""
        if self._pool is None:
            return
        try:
            for future in self._futures:
                future.result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._futures = []

    def _flush_background(self) -> None:
        failed = False
        try:
            self._wait_sent()
        except BaseException:
            failed = True
            raise
        finally:
            if self._bg is not None:
                try:
                    try:
                        self.seconds.update(self._bg.wait())
                    except Exception:
                        # A layer could not be made: the writer process stopped (the layer it
                        # was waiting for ends with an error of its own); that first error is
                        # the one to report.
                        if not failed:
                            raise
                    self.waited.update(self._bg.waited)
                    self.writer_peak_rss_gb = max(self.writer_peak_rss_gb, self._bg.peak_rss_gb)
                finally:
                    self._bg.cleanup()
                    self._guard.tell(f"forget {self._bg.proc.pid}")  # ended; its pid may be reused
                    self._bg = None

    def finish(self, result: Any, *, report: Any, config_text: str) -> Path:
        """Add gemeenten, run metadata and styles; wait; sync; rename. Returns ``out_path``."""
        try:
            gemeenten = _gemeenten_layer(result)
            for name in LAYER_ORDER:
                if name not in self.added and name != "gemeenten":
                    self.add(name, _layer(result, name))
            self._flush_background()
            self.background = False  # the small rest is written here, after the child
            self.add("gemeenten", gemeenten)
            sizes = {name: _Sized(n) for name, n in self.counts.items()}
            sizes["gemeenten"] = gemeenten
            meta = run_metadata(result, sizes, report=report, config_text=config_text)
            tiers_value = json.loads(str(meta.set_index("key").loc["tiers", "value"]))
            styles = layer_styles(
                {"gemeenten": gemeenten},
                tiers=tiers_value if isinstance(tiers_value, dict) else None,
            )
            with unsynced_sqlite():
                pyogrio.write_dataframe(
                    meta,
                    self.tmp,
                    layer="run_metadata",
                    driver="GPKG",
                    use_arrow=True,
                    dataset_options=GPKG_DATASET_OPTIONS,
                )
                pyogrio.write_dataframe(
                    styles,
                    self.tmp,
                    layer="layer_styles",
                    driver="GPKG",
                    use_arrow=True,
                    dataset_options=GPKG_DATASET_OPTIONS,
                    layer_options={"FID": "id"},
                )
            describe_layers(self.tmp, _attr(result, "disclaimer") or DEFAULT_DISCLAIMER)
            with open(self.tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(self.tmp, self.out_path)
            self._done = True
            self._guard.release()
        except BaseException:
            self.abort()
            raise
        return self.out_path

    def abort(self) -> None:
        """Stop the writer and remove the temporary file (the previous result stays)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._futures = []
        if self._bg is not None:
            self._bg.kill()
            self._bg.cleanup()
            self._bg = None
        _remove_quietly(self.tmp)
        self._done = True
        self._guard.release()


def describe_layers(path: Path, disclaimer: str) -> None:
    """Set every layer's ``gpkg_contents.description``: what it is, then the disclaimer.

    Exports copy ``gpkg_contents``, so a municipality's export says it too.
    """
    import sqlite3

    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")]
        for table in tables:
            what = LAYER_DESCRIPTIONS.get(table, f"Kansenkaart flexwonen: {table}")
            con.execute(
                "UPDATE gpkg_contents SET description = ? WHERE table_name = ?",
                (f"{what}. {disclaimer}", table),
            )
        con.commit()
    finally:
        con.close()


def add_search_indexes(gpkg: Path) -> None:
    """Create the SQLite indexes of :data:`SEARCH_INDEXES` in a GeoPackage whose index layers
    were written by other means (a scan's result has them already)."""
    import sqlite3

    con = sqlite3.connect(gpkg)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        con.close()
    for table in sorted(tables & {t for t, _ in SEARCH_INDEXES.values()}):
        create_indexes(gpkg, table, layer_indexes(table))


class _Sized:
    """Stands in for a written layer where only its length is needed (run metadata)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


def write_result(
    result: Any, out_path: Path, *, report: Any, config_text: str, background: bool | None = None
) -> Path:
    """Write the scan result GeoPackage atomically (temp file in the same folder, then rename).

    Parameters
    ----------
    result
        The scan's ``ScanResult`` (see the module docstring for the attributes read).
    out_path
        The GeoPackage to (re)place, e.g. ``data/processed/kansenkaart.gpkg``.
    report
        The ``LoadReport`` of the inputs (``inputs``, ``counts``, ``repaired``, ``synthetic``,
        ``warnings``), recorded in ``run_metadata``.
    config_text
        The scan config YAML text, stored with its sha256.
    background
        Write large layers in a background process (default: layers of at least
        :data:`BACKGROUND_MIN_ROWS` rows); see :class:`ResultWriter`.

    Returns
    -------
    Path
        ``out_path``. On any error the temporary file is removed and a previous file at
        ``out_path`` is untouched.
    """
    gemeenten = _gemeenten_layer(result)
    names = dict(zip(gemeenten["gemeentecode"], gemeenten["gemeentenaam"], strict=False))
    with ResultWriter(out_path, background=background, names=names) as writer:
        for name in LAYER_ORDER:
            if name != "gemeenten":
                writer.add(name, _layer(result, name))
        return writer.finish(result, report=report, config_text=config_text)
