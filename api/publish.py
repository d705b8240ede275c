"""``kansenkaart publish RESULT.gpkg --to postgresql://…``: a scan result into PostGIS.

Every table of the GeoPackage (docs/contracts.md §C) becomes a table of a new schema
``kk_result_<version>``: the original columns with their types, the GeoPackage feature id as
``fid`` and the geometry in EPSG:28992 under its own name, indexed with GiST. The candidate layers
and ``gemeenten`` also get ``geom_3857`` (the tile geometry, GiST-indexed) and ``feature_json``
(the GeoJSON feature the api serves), computed by the same code the GeoPackage store uses
(:func:`api.store.gpkg.load_candidates`, :func:`api.store.gpkg.load_gemeenten`), so both
backends answer alike; ``gemeenten`` also keeps each municipality's WGS84 bounds. The table
``kk_layers`` describes every table (kind, geometry column and type, CRS, Arrow schema of the
columns) so exports can write the same GeoPackage back.

The whole load is one transaction that ends by making the new schema the current result in
``kansenkaart_results.published``: readers see the previous result until the commit and the new
one after it, never a part. Publishes are serialised by an advisory lock. Older schemas are dropped
afterwards, keeping the previous one for requests that started on it.
"""

from __future__ import annotations

import io
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyogrio
import shapely

from api.postgres import libpq_url, redact
from api.store.common import run_info
from api.store.data import CANDIDATE_LAYERS, CRS84, EXCLUDED_LAYERS, RD_NEW
from pipeline.export import SEARCH_INDEXES

log = logging.getLogger("kansenkaart.publish")

CATALOG_SCHEMA = "kansenkaart_results"
LAYERS_TABLE = "kk_layers"
SCHEMA_PREFIX = "kk_result_"
RD_SRID = 28992
#: Columns the publish adds; a GeoPackage column with one of these names is refused.
INTERNAL_COLUMNS = ("fid", "geom_3857", "feature_json", "feature_rd_json", "bounds_wgs")
BATCH_ROWS = 100_000
_LOCK_KEY = 815_001  # pg_advisory_xact_lock key that serialises publishes

CATALOG_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {CATALOG_SCHEMA};
CREATE TABLE IF NOT EXISTS {CATALOG_SCHEMA}.published (
    version text PRIMARY KEY,
    schema_name text NOT NULL UNIQUE,
    run_id text,
    source text NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    current boolean NOT NULL DEFAULT false,
    counts jsonb NOT NULL DEFAULT '{{}}'
);
CREATE UNIQUE INDEX IF NOT EXISTS published_one_current
    ON {CATALOG_SCHEMA}.published (current) WHERE current;
"""


class PublishError(ValueError):
    """A result that cannot be published, or a database that cannot take it (message says why)."""


@dataclass
class Published:
    version: str
    schema: str
    run_id: str | None
    counts: dict[str, int]
    seconds: float
    dropped: list[str] = field(default_factory=list)


@dataclass
class _Table:
    name: str
    position: int
    data_type: str  # "features" or "attributes"
    geometry_column: str | None
    geometry_type: str | None
    srs_id: int | None
    kind: str = "table"  # candidate, gemeenten, excluded, features, table


# -- reading the GeoPackage -----------------------------------------------------------------------
def _gpkg_tables(path: Path) -> list[_Table]:
    if not path.is_file():
        raise PublishError(
            f"{path}: no such file (give the result GeoPackage of `kansenkaart scan`)"
        )
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            contents = con.execute(
                "SELECT table_name, data_type FROM gpkg_contents ORDER BY rowid"
            ).fetchall()
            geoms = {
                r[0]: (r[1], r[2], r[3])
                for r in con.execute(
                    "SELECT table_name, column_name, geometry_type_name, srs_id FROM gpkg_geometry_columns"
                )
            }
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise PublishError(f"{path}: not a readable GeoPackage ({exc})") from None
    tables = []
    for i, (name, data_type) in enumerate(contents):
        geom = geoms.get(name)
        t = _Table(
            name,
            i,
            str(data_type),
            geom[0] if geom else None,
            str(geom[1]).upper() if geom else None,
            int(geom[2]) if geom else None,
        )
        if name in CANDIDATE_LAYERS:
            t.kind = "candidate"
        elif name == "gemeenten":
            t.kind = "gemeenten"
        elif name in EXCLUDED_LAYERS:
            t.kind = "excluded"
        elif geom:
            t.kind = "features"
        tables.append(t)
    names = {t.name for t in tables}
    if "gemeenten" not in names:
        raise PublishError(f"{path}: layer 'gemeenten' is missing (is this a kansenkaart result?)")
    if LAYERS_TABLE in names:
        raise PublishError(f"{path}: a table may not be called '{LAYERS_TABLE}' (used by publish)")
    for t in tables:
        if t.geometry_column and t.srs_id != RD_SRID:
            raise PublishError(
                f"{path}: layer '{t.name}' is in SRS {t.srs_id}; a result is in EPSG:{RD_SRID} "
                "(docs/contracts.md §C)"
            )
    return tables


def _pg_type(field: pa.Field, *, where: str) -> str:
    t = field.type
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "smallint"
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "integer"
    if pa.types.is_integer(t):
        return "bigint"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "real"
    if pa.types.is_float64(t):
        return "double precision"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return 'text COLLATE "C"' if field.name == "site_id" else "text"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    if pa.types.is_time(t):
        return "time"
    raise PublishError(
        f"{where}: column '{field.name}' has type {t}, which publish does not carry over; "
        "use text, numbers, booleans, dates or times"
    )


def _ewkb_hex(wkb: Any, srid: int) -> pa.Array:
    """WKB values (Arrow binary or shapely geometries) as hex EWKB text with ``srid``."""
    geoms = wkb if isinstance(wkb, np.ndarray) else shapely.from_wkb(np.asarray(wkb, dtype=object))
    geoms = shapely.set_srid(geoms, srid)
    return pa.array(shapely.to_wkb(geoms, hex=True, include_srid=True), type=pa.string())


def _csv(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return buf.getvalue()


def _batches(path: Path, t: _Table) -> tuple[dict[str, Any], pa.Schema, Iterator[pa.RecordBatch]]:
    """The layer's Arrow metadata, field schema (without fid and geometry) and its batches."""
    ctx = pyogrio.open_arrow(
        path, layer=t.name, return_fids=True, use_pyarrow=True, batch_size=BATCH_ROWS
    )
    meta, reader = ctx.__enter__()
    skip = {meta["fid_column"], t.geometry_column}
    fields = pa.schema([f for f in reader.schema if f.name not in skip])

    def gen() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        finally:
            ctx.__exit__(None, None, None)

    return meta, fields, gen()


# -- loading ----------------------------------------------------------------------------------------
def publish_result(
    gpkg: Path, url: str, *, progress: Callable[[str], None] | None = None
) -> Published:
    """Load ``gpkg`` into the PostGIS database at ``url`` and make it the current result."""
    import psycopg
    from psycopg import sql
    from psycopg.types.json import Jsonb

    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    gpkg = Path(gpkg)
    tables = _gpkg_tables(gpkg)
    version = secrets.token_hex(8)
    schema = SCHEMA_PREFIX + version
    counts: dict[str, int] = {}
    try:
        con = psycopg.connect(libpq_url(url), connect_timeout=10)
    except psycopg.Error as exc:
        raise PublishError(f"cannot connect to {redact(url)}: {str(exc).strip()}") from None
    try:
        with con.transaction():
            con.execute("SET LOCAL timezone = 'UTC'")
            con.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            _ensure_postgis(con)
            _fast_toast(con)
            con.execute(CATALOG_DDL)
            con.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            con.execute(
                sql.SQL(
                    "CREATE TABLE {}.{} (name text PRIMARY KEY, position integer NOT NULL, "
                    "kind text NOT NULL, data_type text NOT NULL, fid_column text NOT NULL, "
                    "geometry_column text, geometry_type text, crs text, "
                    "arrow_schema bytea NOT NULL, features bigint NOT NULL)"
                ).format(sql.Identifier(schema), sql.Identifier(LAYERS_TABLE))
            )
            metadata: dict[str, Any] = {}
            for t in tables:
                t0 = time.perf_counter()
                counts[t.name] = _load_table(con, schema, gpkg, t)
                if t.name == "run_metadata":
                    metadata = _read_metadata(con, schema)
                say(f"  {t.name}: {counts[t.name]:,} rows in {time.perf_counter() - t0:.1f} s")
            run = run_info(metadata)
            con.execute(
                sql.SQL(
                    "INSERT INTO {}.published (version, schema_name, run_id, source, counts) "
                    "VALUES (%s, %s, %s, %s, %s)"
                ).format(sql.Identifier(CATALOG_SCHEMA)),
                (
                    version,
                    schema,
                    run.run_id,
                    str(gpkg.resolve()),
                    Jsonb(counts),
                ),
            )
            con.execute(
                sql.SQL(
                    "UPDATE {}.published SET current = (version = %s) WHERE current OR version = %s"
                ).format(sql.Identifier(CATALOG_SCHEMA)),
                (version, version),
            )
        dropped = _drop_old(con)
    except psycopg.Error as exc:
        raise PublishError(
            f"publishing to {redact(url)} failed, nothing was changed: {str(exc).strip()}"
        ) from None
    finally:
        con.close()
    return Published(version, schema, run.run_id, counts, time.perf_counter() - started, dropped)


def _ensure_postgis(con: Any) -> None:
    import psycopg

    if con.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone():
        return
    try:
        with con.transaction():
            con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except psycopg.Error as exc:
        raise PublishError(
            "the database has no PostGIS and this user may not add it: run "
            f"`CREATE EXTENSION postgis;` in it as a superuser ({str(exc).strip()})"
        ) from None


def _fast_toast(con: Any) -> None:
    """Compress long texts (explanations, GeoJSON) with lz4 where the server has it (PG 14+):
    several times faster to load than the default pglz."""
    import psycopg

    try:
        with con.transaction():
            con.execute("SET LOCAL default_toast_compression = 'lz4'")
    except psycopg.Error:
        log.info("lz4 TOAST compression not available; using the server default")


def _read_metadata(con: Any, schema: str) -> dict[str, Any]:
    from psycopg import sql

    from api.store.common import json_value

    rows = con.execute(
        sql.SQL("SELECT key, value FROM {}.run_metadata").format(sql.Identifier(schema))
    ).fetchall()
    return {str(k): json_value(v) for k, v in rows}


def _load_table(con: Any, schema: str, gpkg: Path, t: _Table) -> int:
    """Create and fill one table; returns its row count."""
    from psycopg import sql

    meta, fields, batches = _batches(gpkg, t)
    where = f"{gpkg}: layer '{t.name}'"
    clash = [f.name for f in fields if f.name in INTERNAL_COLUMNS]
    if clash:
        raise PublishError(f"{where}: column(s) {', '.join(clash)} are reserved for publish")
    if t.kind in ("candidate", "gemeenten") and "gemeentecode" not in fields.names:
        raise PublishError(f"{where}: column 'gemeentecode' is missing")
    if t.kind == "candidate" and "site_id" not in fields.names:
        raise PublishError(f"{where}: column 'site_id' is missing")
    columns: list[Any] = [sql.SQL("fid bigint PRIMARY KEY")]
    columns += [
        sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(_pg_type(f, where=where)))
        for f in fields
    ]
    names = ["fid", *fields.names]
    if t.geometry_column:
        columns.append(
            sql.SQL("{} geometry(Geometry, {})").format(
                sql.Identifier(t.geometry_column), sql.Literal(RD_SRID)
            )
        )
        names.append(t.geometry_column)
    extras = _Extras.for_table(gpkg, t)
    columns += [sql.SQL(c) for c in extras.ddl]
    names += extras.names
    table = sql.Identifier(schema, t.name)
    con.execute(sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(", ").join(columns)))
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        table, sql.SQL(", ").join(map(sql.Identifier, names))
    )
    n = 0
    with con.cursor().copy(copy_sql) as copy:
        for batch in batches:
            cols = [batch.column(meta["fid_column"])]
            cols += [batch.column(name) for name in fields.names]
            if t.geometry_column:
                cols.append(_ewkb_hex(batch.column(t.geometry_column), RD_SRID))
            fids = np.asarray(batch.column(meta["fid_column"]), dtype=np.int64)
            cols += extras.columns(fids)
            copy.write(_csv(pa.table(cols, names=names)))
            n += batch.num_rows
    _index(con, schema, t, fields)
    con.execute(
        sql.SQL(
            "INSERT INTO {} (name, position, kind, data_type, fid_column, geometry_column, "
            "geometry_type, crs, arrow_schema, features) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        ).format(sql.Identifier(schema, LAYERS_TABLE)),
        (
            t.name,
            t.position,
            t.kind,
            t.data_type,
            meta["fid_column"],
            t.geometry_column,
            meta.get("geometry_type"),
            meta.get("crs"),
            fields.serialize().to_pybytes(),
            n,
        ),
    )
    return n


class _Extras:
    """The columns publish adds to candidate layers and ``gemeenten``, keyed by feature id."""

    def __init__(
        self, ddl: list[str], names: list[str], by_fid: dict[str, np.ndarray], fids: np.ndarray
    ):
        self.ddl = ddl
        self.names = names
        self._by_fid = by_fid
        self._fids = fids  # sorted

    @classmethod
    def for_table(cls, gpkg: Path, t: _Table) -> _Extras:
        from api.store import gpkg as gp

        if t.kind == "candidate":
            lyr = gp.load_candidates(gp.read_layer(gpkg, t.name, skip=("explanation",)), t.name)
            order = np.argsort(lyr.fids)
            every = order  # positions in feature-id order
            return cls(
                [
                    "geom_3857 geometry(Geometry, 3857)",
                    "feature_json text NOT NULL",
                    "feature_rd_json text NOT NULL",
                ],
                ["geom_3857", "feature_json", "feature_rd_json"],
                {
                    "geom_3857": lyr.geom_merc[order],
                    "feature_json": np.asarray(lyr.geojson_features(every, CRS84), dtype=object),
                    "feature_rd_json": np.asarray(
                        lyr.geojson_features(every, RD_NEW), dtype=object
                    ),
                },
                lyr.fids[order],
            )
        if t.kind == "gemeenten":
            gem = gp.load_gemeenten(gp.read_layer(gpkg, t.name))
            order = np.argsort(gem.fids)
            bounds = np.asarray(
                [
                    "{" + ",".join(repr(float(v)) for v in gem.bounds_wgs[c]) + "}"
                    for c in gem.codes[order].tolist()
                ],
                dtype=object,
            )
            return cls(
                [
                    "geom_3857 geometry(Geometry, 3857)",
                    "feature_json text NOT NULL",
                    "feature_rd_json text NOT NULL",
                    "bounds_wgs double precision[] NOT NULL",
                ],
                ["geom_3857", "feature_json", "feature_rd_json", "bounds_wgs"],
                {
                    "geom_3857": gem.geom_merc[order],
                    "feature_json": np.asarray(gem.geojson_features(order, CRS84), dtype=object),
                    "feature_rd_json": np.asarray(
                        gem.geojson_features(order, RD_NEW), dtype=object
                    ),
                    "bounds_wgs": bounds,
                },
                gem.fids[order],
            )
        return cls([], [], {}, np.zeros(0, dtype=np.int64))

    def columns(self, fids: np.ndarray) -> list[pa.Array]:
        if not self.names:
            return []
        pos = np.searchsorted(self._fids, fids)
        if len(fids) and (
            pos.max() >= len(self._fids) or not np.array_equal(self._fids[pos], fids)
        ):
            raise PublishError("the layer changed while it was being read; publish again")
        out = []
        for name in self.names:
            values = self._by_fid[name][pos]
            if name == "geom_3857":
                out.append(_ewkb_hex(values, 3857))
            else:
                out.append(pa.array(values.tolist(), type=pa.string()))
        return out


def _index(con: Any, schema: str, t: _Table, fields: pa.Schema) -> None:
    from psycopg import sql

    table = sql.Identifier(schema, t.name)
    stmts = []
    if t.geometry_column:
        stmts.append(
            sql.SQL("CREATE INDEX ON {} USING gist ({})").format(
                table, sql.Identifier(t.geometry_column)
            )
        )
    if t.kind in ("candidate", "gemeenten"):
        stmts.append(sql.SQL("CREATE INDEX ON {} USING gist (geom_3857)").format(table))
    if t.kind == "candidate":
        stmts.append(sql.SQL("CREATE UNIQUE INDEX ON {} (site_id)").format(table))
    if "gemeentecode" in fields.names:
        stmts.append(sql.SQL("CREATE INDEX ON {} (gemeentecode, fid)").format(table))
    # The search index's look-ups (the GeoPackage has the same indexes); text in "C" order, as
    # the search compares it (``straat`` in "C" order: a prefix range).
    for table_name, columns in SEARCH_INDEXES.values():
        if table_name == t.name and all(c in fields.names for c in columns):
            cols = [
                sql.SQL('{} COLLATE "C"' if c == "straat" else "{}").format(sql.Identifier(c))
                for c in columns
            ]
            stmts.append(sql.SQL("CREATE INDEX ON {} ({})").format(table, sql.SQL(", ").join(cols)))
    for stmt in stmts:
        con.execute(stmt)
    con.execute(sql.SQL("ANALYZE {}").format(table))


def _drop_old(con: Any, *, keep: int = 2) -> list[str]:
    """Drop result schemas older than the ``keep`` most recent (the current and the previous one).

    A schema still in use by a long request is left for the next publish (lock timeout).
    """
    import psycopg
    from psycopg import sql

    rows = con.execute(
        sql.SQL(
            "SELECT version, schema_name FROM {}.published ORDER BY current DESC, published_at DESC"
        ).format(sql.Identifier(CATALOG_SCHEMA))
    ).fetchall()
    con.commit()
    dropped = []
    for version, schema in rows[keep:]:
        try:
            with con.transaction():
                con.execute("SET LOCAL lock_timeout = '3s'")
                con.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )
                con.execute(
                    sql.SQL("DELETE FROM {}.published WHERE version = %s").format(
                        sql.Identifier(CATALOG_SCHEMA)
                    ),
                    (version,),
                )
            dropped.append(schema)
        except psycopg.errors.LockNotAvailable:
            log.warning(
                "result schema %s is still in use; it is dropped by a later publish", schema
            )
    return dropped
