"""The GeoPackage export of one municipality, written by GDAL (through pyogrio).

Each layer with a ``gemeentecode`` column is read with that municipality as attribute filter
(and its bounding box as spatial filter, so GDAL walks the source's R-tree instead of the whole
table) and written into a new GeoPackage by GDAL, which numbers the features 1, 2, 3 … and builds
the R-tree, extents and counts from what it wrote. So an export holds no trace of the other
municipalities: no original feature ids, no ``sqlite_sequence`` or extent of the whole layer, no
free pages of deleted rows, and run metadata that describes only the export (see
:func:`export_metadata`). Layers without ``gemeentecode`` are never exported.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyogrio

from api.store.common import EXCLUDED_LAYERS, INDEX_LAYERS, file_name
from pipeline._gpkg_writer import unsynced_sqlite
from pipeline.styles.qml import capacity_qml

#: Export order: the summary, the candidates, then (on request) the excluded objects and the
#: search index and orientation layers.
LAYER_ORDER = (
    "gemeenten",
    "tijdelijke_locaties",
    "kantoren",
    "plinten",
    *EXCLUDED_LAYERS,
    *INDEX_LAYERS,
)
#: ``run_metadata`` keys whose value describes the whole scan, not one municipality, and so
#: never leave the server; and keys rewritten for the export.
WHOLE_SCAN_KEYS = ("repaired_geometries", "warnings")


def export_layer_names(scoped: Iterable[str], *, include_excluded: bool) -> list[str]:
    """The layers of an export, in export order, from the result's layers that have a
    ``gemeentecode`` (``scoped``): the excluded objects and the search index and orientation
    layers only with ``include_excluded``. Both stores export the same layers in this order."""
    names = set(scoped)
    order = [t for t in LAYER_ORDER if t in names] + sorted(names - set(LAYER_ORDER))
    return [t for t in order if include_excluded or t not in (*EXCLUDED_LAYERS, *INDEX_LAYERS)]


def _connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def export_metadata(rows: dict[str, str], code: str, counts: dict[str, int]) -> dict[str, str]:
    """The ``run_metadata`` of an export: the run's identity, configuration and inputs (file
    names only, never a server path), with ``gemeenten`` = this one and ``feature_counts`` = the
    export's layers; the whole-scan keys (``repaired_geometries``, ``warnings``) empty."""
    out: dict[str, str] = {}
    for key, value in rows.items():
        if key == "gemeenten":
            out[key] = json.dumps([code])
        elif key == "feature_counts":
            out[key] = json.dumps({"output": counts}, sort_keys=True)
        elif key in WHOLE_SCAN_KEYS:
            out[key] = json.dumps({} if key == "repaired_geometries" else [])
        elif key == "inputs":
            try:
                inputs = json.loads(value)
            except ValueError:
                inputs = []
            if isinstance(inputs, list):
                for item in inputs:
                    if isinstance(item, dict) and "path" in item:
                        item["path"] = file_name(item["path"])
            out[key] = json.dumps(inputs, ensure_ascii=False, sort_keys=True)
        else:
            out[key] = value
    return out


def _gpkg_version(con: sqlite3.Connection) -> str:
    """The source's GeoPackage version (``user_version`` 10300 → ``1.3``), kept in the export."""
    number = int(con.execute("PRAGMA user_version").fetchone()[0])
    return f"{number // 10000}.{number // 100 % 100}" if number >= 10200 else "1.2"


def export_gemeente(
    src: Path,
    dest: Path,
    code: str,
    *,
    bbox_rd: tuple[float, float, float, float],
    include_excluded: bool = False,
) -> dict[str, int]:
    """Write a GeoPackage with only ``code``'s rows of every layer that has a ``gemeentecode``.

    The layers of excluded parcels and buildings (``uitgesloten_*``, most of the volume) only with
    ``include_excluded``. Every layer keeps its columns, types, geometry column, description
    and identifier; the QGIS styles of the exported layers come along (the ``gemeenten`` style
    refitted to this municipality), and ``run_metadata`` per :func:`export_metadata`. Returns
    the number of features per layer.
    """
    if not re.fullmatch(r"GM\d{4}", code):
        raise ValueError(f"not a municipality code: {code!r}")
    dest.unlink(missing_ok=True)
    con = _connect_ro(src)
    try:
        version = _gpkg_version(con)
        contents = {
            r[0]: (r[1], r[2], r[3])
            for r in con.execute(
                "SELECT table_name, data_type, identifier, description FROM gpkg_contents"
            )
        }
        columns = {t: {r[1] for r in con.execute(f'PRAGMA table_info("{t}")')} for t in contents}
        geom_columns = dict(
            con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall()
        )
        styled = "layer_styles" in contents
        metadata = "run_metadata" in contents
    finally:
        con.close()
    layers = export_layer_names(
        (t for t in contents if "gemeentecode" in columns[t]), include_excluded=include_excluded
    )
    counts: dict[str, int] = {}
    where = f"gemeentecode = '{code}'"
    with unsynced_sqlite():  # a temporary file, renamed into place when complete
        for table in layers:
            _, identifier, description = contents[table]
            options: dict[str, Any] = {
                "IDENTIFIER": identifier or table,
                "DESCRIPTION": description or "",
                "FID": "fid",
            }
            if table in geom_columns:
                # The R-tree finds the rows in the municipality's box; rows it does not index
                # (no or an empty geometry) need a scan of the whole table, so only when any.
                box = None if _unindexed_rows(src, table, geom_columns[table]) else bbox_rd
                meta, data = pyogrio.read_arrow(src, layer=table, where=where, bbox=box)
                options |= {"SPATIAL_INDEX": "YES", "GEOMETRY_NAME": geom_columns[table]}
                geometry = {
                    "geometry_name": meta["geometry_name"] or "wkb_geometry",
                    "geometry_type": meta["geometry_type"],
                    "crs": meta["crs"],
                }
            else:
                meta, data = pyogrio.read_arrow(src, layer=table, where=where, read_geometry=False)
                geometry = {"geometry_name": None, "geometry_type": None, "crs": None}
            _write(data, dest, table, version, options, **geometry)
            counts[table] = data.num_rows
        if metadata:
            _, rows = pyogrio.read_arrow(src, layer="run_metadata", read_geometry=False)
            table = export_metadata_table(rows, code, counts)
            _write(table, dest, "run_metadata", version, _options(contents, "run_metadata"))
        if styled:
            _copy_styles(src, dest, version, layers, _options(contents, "layer_styles"))
    return counts


def _unindexed_rows(src: Path, table: str, geom: str) -> bool:
    """Whether the layer has rows its R-tree does not hold (or no R-tree, or no counts)."""
    con = _connect_ro(src)
    try:
        rtree = f"rtree_{table}_{geom}"
        exists = con.execute(
            "SELECT count(*) FROM sqlite_master WHERE name IN (?, 'gpkg_ogr_contents')", (rtree,)
        ).fetchone()[0]
        if exists < 2:
            return True
        row = con.execute(
            "SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = ?", (table,)
        ).fetchone()
        indexed = con.execute(f'SELECT count(*) FROM "{rtree}_rowid"').fetchone()[0]
        return row is None or row[0] is None or int(row[0]) != int(indexed)
    finally:
        con.close()


def _options(contents: dict[str, tuple[str, str | None, str | None]], table: str) -> dict[str, Any]:
    _, identifier, description = contents[table]
    return {"IDENTIFIER": identifier or table, "DESCRIPTION": description or ""}


def _write(
    data: pa.Table,
    dest: Path,
    layer: str,
    version: str,
    options: dict[str, Any],
    *,
    geometry_name: str | None = None,
    geometry_type: str | None = None,
    crs: str | None = None,
) -> None:
    pyogrio.write_arrow(
        data,
        dest,
        layer=layer,
        driver="GPKG",
        geometry_name=geometry_name,
        geometry_type=geometry_type,
        crs=crs,
        dataset_options={"VERSION": version},
        layer_options=options,
        append=dest.exists(),
    )


def _copy_styles(
    src: Path, dest: Path, version: str, layers: list[str], options: dict[str, Any]
) -> None:
    """The QGIS styles of the exported layers, the ``gemeenten`` style refitted."""
    names = ", ".join(f"'{t}'" for t in layers)
    _, styles = pyogrio.read_arrow(
        src, layer="layer_styles", where=f"f_table_name IN ({names})", read_geometry=False
    )
    capacities = None
    if "gemeenten" in layers:
        _, summary = pyogrio.read_arrow(
            dest, layer="gemeenten", columns=["capacity_ab"], read_geometry=False
        )
        capacities = summary.column("capacity_ab").to_pylist()
    _write(
        fit_overview_style(styles, capacities),
        dest,
        "layer_styles",
        version,
        {**options, "FID": "id"},
    )


def fit_overview_style(styles: pa.Table, capacities: list[Any] | None) -> pa.Table:
    """``layer_styles`` rows with the ``gemeenten`` style's classes refitted to the exported
    municipalities' capacities (the result's are fitted to all of them, and would tell theirs)."""
    if capacities is None or "styleQML" not in styles.column_names:
        return styles
    qml = capacity_qml(capacities)
    tables = styles.column("f_table_name").to_pylist()
    values = [
        qml if t == "gemeenten" else v
        for t, v in zip(tables, styles.column("styleQML").to_pylist(), strict=True)
    ]
    i = styles.schema.get_field_index("styleQML")
    return styles.set_column(i, "styleQML", pa.array(values, styles.schema.field(i).type))


def export_metadata_table(table: pa.Table, code: str, counts: dict[str, int]) -> pa.Table:
    """:func:`export_metadata` on a ``run_metadata`` table (``key``, ``value``)."""
    values = export_metadata(
        dict(zip(table.column("key").to_pylist(), table.column("value").to_pylist(), strict=True)),
        code,
        counts,
    )
    return pa.table({"key": list(values), "value": list(values.values())})
